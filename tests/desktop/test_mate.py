'''The agent on MATE's own programs (Debian 12: mate-panel 1.26 with its
notification area applet, mate-notification-daemon 1.26): the icon drawn
in the panel's tray, a refusal at the seat, a seat switch, the menu and a
click as the panel delivers them, and a notification when there is no
tray (issue 13).'''

import os
import subprocess
import time

import pytest

from desktop_lab import (DENIED_RGB, GRANTED_RGB, MATE_NOTIFICATION_DAEMON, MATE_TRAY_APPLET,
                         missing, notify_calls)
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_xfce import click, icon_centre, in_panel, left_click_runs_the_viewer

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'mate-panel', MATE_TRAY_APPLET, 'import',
                                             'xwininfo')),
                                reason='needs mate-panel (tests/desktop/debian-packages.txt)')

SETTLE = 10.0


def test_mate_panel_draws_the_granted_icon_within_2_s(desk, helper, desktop):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state('seatgate-granted')
    panel = desktop.mate_panel()
    # From the panel's window on screen (mate-panel maps it 0.5-0.8 s after
    # it starts) to the grab of the first screenshot that shows the icon.
    mapped = time.monotonic()
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in mate-panel', timeout=5.0)
    drawn = desktop.last_shot_started - mapped
    print(f'mate-panel start to panel mapped: {mapped - panel.started:.2f} s; '
          f'mapped to icon drawn: {drawn:.2f} s')
    assert in_panel(desk, agent)
    desktop.keep_screenshot('mate-granted.png')
    assert drawn < 2.0


def test_mate_panel_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.mate_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the applet\'s watcher')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in mate-panel')
    desktop.keep_screenshot('mate-refused.png')
    assert props['Status'] == 'NeedsAttention'
    assert 'polkit' in props['ToolTip'][3] or 'not authorized' in props['ToolTip'][3].lower()


def test_mate_panel_follows_a_seat_switch(desk, helper, desktop, lab):
    desktop.mate_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in mate-panel')
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_item(lambda p: p['Status'] == 'Passive', 'Passive')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon gone', present=False)
    lab.logind.activate(CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon back')


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_mate_panel_left_click_opens_the_vm_console(desk, helper, desktop, lab):
    left_click_runs_the_viewer(desk, desktop, desktop.mate_panel, 'the granted icon in mate-panel')


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_mate_panel_menu_open_vm_console_runs_the_viewer(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.mate_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in mate-panel')
    x, y = icon_centre(desktop, GRANTED_RGB)
    # The applet reads the menu over dbusmenu (AboutToShow, GetLayout):
    # applets/notification_area/status-notifier/sn-dbus-menu.c.
    click(desktop, 3, x, y)
    wait_until(lambda: any(w[2] > 60 and w[3] > 40 and w[5] > 20 for w in desktop.windows()
                           if w[1] != desktop.panel_name), SETTLE, what='the menu to open')
    time.sleep(0.3)
    desktop.screenshot('menu')
    desktop.keep_screenshot('mate-menu.png')
    subprocess.run(['xdotool', 'key', 'Down', 'Return'],
                   env=dict(os.environ, DISPLAY=desktop.x.display), check=True)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert 'Tray: Activate from' not in agent.log()


@pytest.mark.skipif(bool(missing(MATE_NOTIFICATION_DAEMON)), reason='needs mate-notification-daemon')
def test_mate_notification_daemon_shows_the_notification_without_a_tray(desk, helper, desktop, lab):
    daemon = desktop.mate_notification_daemon()
    with notify_calls(desk) as seen:
        desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        # No panel, so no watcher: the agent falls back to notifications,
        # and mate-notification-daemon maps its popup window.
        wait_until(lambda: any(w[2] > 50 and w[3] > 20 for w in desktop.windows()
                               if w[1] == 'Notification' or 'notification' in w[1].lower()),
                   SETTLE, what='mate-notification-daemon to show a notification')
        time.sleep(0.5)
        desktop.screenshot('notification')
        desktop.keep_screenshot('mate-notification.png')
    assert seen.actions, seen.text
    assert seen.actions[0] == ['default', 'Open VM console']
    assert daemon.running()


@pytest.mark.skipif(bool(missing('mate-session')), reason='needs mate-session-manager')
def test_mate_session_starts_the_agent_from_xdg_autostart(desk, helper, desktop, lab):
    '''mate-session starts its required panel and the installed
    /etc/xdg/autostart/seatgate-agent.desktop (found through
    XDG_CONFIG_DIRS, pointed at the private install); that agent obtains
    the grant and its icon is drawn in the session's panel.'''
    bindir = os.path.join(desktop.prefix, 'bin')
    desktop.mate_session_settings()
    desktop.mate_panel(start=False)
    session = desktop.run('mate-session', ['mate-session', '--disable-acceleration-check'], env={
        'PATH': f'{bindir}:/usr/bin:/bin',
        'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address,
    })
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], 30,
               what='the autostarted agent to obtain the grant')
    panel_up = wait_until(lambda: desktop.window_geometry(desktop.panel_name, min_width=100) and
                          time.monotonic(), 30, what='the session\'s panel')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon', timeout=5.0)
    print(f'session start to panel: {panel_up - session.started:.2f} s; '
          f'panel mapped to icon drawn: {desktop.last_shot_started - panel_up:.2f} s')
    desktop.keep_screenshot('mate-session.png')
    assert session.running()
    assert agents_started_by(session.proc.pid), 'no seatgate-agent is a child of mate-session'


def agents_started_by(pid):
    '''The seatgate-agent processes whose parent is pid.'''
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/status', encoding='utf-8') as f:
                status = dict(line.split(':\t', 1) for line in f if ':\t' in line)
        except OSError:
            continue
        if status.get('Name', '').strip() == 'seatgate-agent' and \
                int(status.get('PPid', '0')) == pid:
            found.append(int(entry))
    return found
