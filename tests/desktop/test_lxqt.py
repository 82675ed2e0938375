'''The agent on LXQt's panel (lxqt-panel 1.2, statusnotifier plugin):
the granted icon is drawn, a refusal at the seat is shown.'''

import os
import signal
import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, wait_until
from test_mate import agents_started_by
from test_xfce import in_panel

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'lxqt-panel', 'import')),
                                reason='needs lxqt-panel (tests/desktop/debian-packages.txt)')

SETTLE = 10.0


def test_lxqt_panel_draws_the_granted_icon(desk, helper, desktop, lab):
    panel = desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in lxqt-panel\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in lxqt-panel')
    print(f'lxqt-panel start to icon drawn: {time.monotonic() - panel.started:.2f} s')
    desktop.keep_screenshot('lxqt-granted.png')


def test_lxqt_panel_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in lxqt-panel\'s watcher')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in lxqt-panel')
    desktop.keep_screenshot('lxqt-refused.png')
    assert props['Status'] == 'NeedsAttention'


@pytest.mark.skipif(bool(missing('lxqt-session', 'openbox')),
                    reason='needs lxqt-session and openbox')
def test_lxqt_session_starts_the_agent_from_xdg_autostart(desk, helper, desktop, lab):
    '''lxqt-session 1.2 (lxqtmodman.cpp, LXQtModuleManager::startup) starts
    its window manager (session.conf's window_manager) and waits until it
    is up, then every XDG autostart entry for XDG_CURRENT_DESKTOP=LXQt:
    lxqt-panel from /etc/xdg/autostart (a module it restarts) and the
    installed seatgate-agent.desktop (found through XDG_CONFIG_DIRS,
    pointed at the private install; started detached). Its ProcReaper is
    the child subreaper, so the detached agent is its child; at logout it
    sends its children SIGTERM, and the agent's grant ends with it.'''
    bindir = os.path.join(desktop.prefix, 'bin')
    desktop.lxqt_panel(start=False)
    desktop.lxqt_config('session.conf', '[General]\nwindow_manager=openbox\n')
    session = desktop.run('lxqt-session', ['lxqt-session'], env={
        'PATH': f'{bindir}:/usr/bin:/bin',
        'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address,
        'XDG_CURRENT_DESKTOP': 'LXQt',
        'QT_QPA_PLATFORM': 'xcb',
    })
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], 40,
               what='the autostarted agent to obtain the grant')
    panel_up = wait_until(lambda: desktop.window_geometry(desktop.panel_name, min_width=100) and
                          time.monotonic(), 30, what='the session\'s panel')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon', timeout=5.0)
    print(f'session start to panel: {panel_up - session.started:.2f} s; '
          f'panel mapped to icon drawn: {desktop.last_shot_started - panel_up:.2f} s')
    desktop.keep_screenshot('lxqt-session.png')
    assert session.running()
    agents = agents_started_by(session.proc.pid)
    assert len(agents) == 1, 'no seatgate-agent is a child of lxqt-session'

    # Logging out: lxqt-session's ProcReaper::stop sends its children SIGTERM.
    os.kill(session.proc.pid, signal.SIGTERM)
    wait_until(lambda: lab.gate.grants() == [], 15, what='the grant to end with the session')
