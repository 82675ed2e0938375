'''The agent on LXQt's own programs (Debian 12: lxqt-panel 1.2 with its
statusnotifier plugin, lxqt-session 1.2, lxqt-notificationd 1.2): the
granted icon drawn within 2 s of the panel, a refusal at the seat, a seat
switch, a click and the menu as the panel delivers them, the tooltip, a
notification when there is no tray, and lxqt-session's autostart
(issue 13).'''

import os
import re
import signal
import subprocess
import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_mate import agents_started_by
from test_xfce import click, icon_centre, in_panel, left_click_runs_the_viewer

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'lxqt-panel', 'import')),
                                reason='needs lxqt-panel (tests/desktop/debian-packages.txt)')

SETTLE = 10.0


def xdotool(desktop, *args):
    subprocess.run(['xdotool', *args], env=dict(os.environ, DISPLAY=desktop.x.display), check=True)


def new_windows(desktop, before, min_width=1, min_height=1):
    '''Mapped windows (xwininfo rows) that were not there in `before`.'''
    return [w for w in desktop.windows()
            if w[0] not in before and w[2] >= min_width and w[3] >= min_height]


def ink(desktop, shot, box, darker_than):
    '''(count, width) of the pixels darker than `darker_than` inside box
    without its 2 px frame: how much text is drawn there, and how wide.'''
    x, y, w, h = box
    pixels = desktop.pixels(shot, (x + 2, y + 2, w - 4, h - 4))
    xs = [i % (w - 4) for i, p in enumerate(pixels) if max(p) < darker_than]
    return len(xs), (max(xs) - min(xs) + 1) if xs else 0


def test_lxqt_panel_draws_the_granted_icon_within_2_s(desk, helper, desktop):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state('seatgate-granted')
    panel = desktop.lxqt_panel()
    # From the panel's window on screen (xwininfo lists it) to the first
    # direct grab of its area, every 20 ms, that shows the icon; the
    # screenshot through `import` (as test_mate times it) follows.
    mapped = time.monotonic()
    desktop.bar_box = desktop.window_geometry(desktop.panel_name, min_width=100)
    grabbed = desktop.wait_drawn(GRANTED_RGB, 'the granted icon in lxqt-panel', timeout=5.0)
    drawn = grabbed - mapped
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in the screenshot', timeout=5.0)
    print(f'lxqt-panel start to panel mapped: {mapped - panel.started:.2f} s; '
          f'mapped to icon drawn: {drawn:.3f} s (grab), '
          f'{desktop.last_shot_started - mapped:.2f} s (screenshot)')
    assert in_panel(desk, agent)
    desktop.keep_screenshot('lxqt-granted-2s.png')
    assert drawn < 2.0


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


def test_lxqt_panel_follows_a_seat_switch(desk, helper, desktop, lab):
    '''lxqt-panel 1.2 does not hide a Passive item: its
    StatusNotifierButton::newStatus (plugin-statusnotifier/
    statusnotifierbutton.cpp) only records the status and calls
    resetIcon, which draws IconName for Passive (OverlayIconName for
    Active, AttentionIconName for NeedsAttention, when set); a button is
    hidden only if its title is in the person's hideList or autoHideList
    (StatusNotifierWidget::itemAdded). So in the background the item
    stays, drawn with the agent's IconName there: the denied icon.'''
    desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in lxqt-panel')
    lab.logind.activate(INACTIVE_SESSION)
    props = agent.wait_item(lambda p: p['Status'] == 'Passive', 'Passive')
    assert props['IconName'] == 'seatgate-denied'
    desktop.wait_icon(GRANTED_RGB, 'the granted icon gone', present=False, timeout=SETTLE)
    desktop.wait_icon(DENIED_RGB, 'the denied icon in its place', timeout=SETTLE)
    desktop.keep_screenshot('lxqt-background.png')
    assert in_panel(desk, agent)
    lab.logind.activate(CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon back', timeout=SETTLE)
    desktop.wait_icon(DENIED_RGB, 'the denied icon gone', present=False, timeout=SETTLE)


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_lxqt_panel_left_click_opens_the_vm_console(desk, helper, desktop, lab):
    # StatusNotifierButton::mouseReleaseEvent: the left button calls Activate.
    agent = left_click_runs_the_viewer(desk, desktop, desktop.lxqt_panel,
                                       'the granted icon in lxqt-panel')
    assert 'Tray: Activate from' in agent.log()


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_lxqt_panel_menu_open_vm_console_runs_the_viewer(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in lxqt-panel')
    x, y = icon_centre(desktop, GRANTED_RGB)
    # The panel reads the menu over dbusmenu: the StatusNotifierButton
    # constructor builds a DBusMenuImporter (libdbusmenu-qt5) on the item's
    # Menu path, and mouseReleaseEvent pops its QMenu up on the right
    # button (plugin-statusnotifier/statusnotifierbutton.cpp).
    before = {w[0] for w in desktop.windows()}
    click(desktop, 3, x, y)
    menu = wait_until(lambda: new_windows(desktop, before, 60, 20), SETTLE, what='the menu to open')
    time.sleep(0.3)
    desktop.screenshot('menu')
    desktop.keep_screenshot('lxqt-menu.png')
    xdotool(desktop, 'key', 'Down', 'Return')
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert 'Tray: Activate from' not in agent.log()
    print(f'menu window: {menu}')


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_lxqt_panel_tooltip_on_a_refusal(desk, helper, desktop, lab):
    '''lxqt-panel 1.2 shows the item's ToolTip title as the button's Qt
    tooltip, and only the title (StatusNotifierButton::newToolTip: setToolTip
    (tooltip.title), the Title property if that is empty): the ToolTip's
    description, which carries the reason, is not shown.'''
    lab.polkit.set_allowed([])
    desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in lxqt-panel')
    _icon, _pixmaps, title, body = props['ToolTip']
    assert title == 'VM console: not yours'
    assert 'polkit' in body or 'not authorized' in body.lower(), body
    x, y = icon_centre(desktop, DENIED_RGB)
    before = {w[0] for w in desktop.windows()}
    xdotool(desktop, 'mousemove', str(x), str(y))
    panel = desktop.window_geometry(desktop.panel_name, min_width=100)

    def tooltip():
        # A window of its own (Qt's QTipLabel), just below the panel and
        # within a few icon widths of the pointer.
        return [w for w in new_windows(desktop, before, 40, 10)
                if panel[3] - 8 <= w[5] <= panel[3] + 40 and w[4] - 60 <= x <= w[4] + w[2] + 60]
    tip = wait_until(tooltip, SETTLE, what='lxqt-panel\'s tooltip')[0]
    time.sleep(0.3)
    shot = desktop.screenshot('tooltip')
    desktop.keep_screenshot('lxqt-tooltip.png')
    _id, _name, w, h, tx, ty = tip
    print(f'tooltip window: {w}x{h}+{tx}+{ty}')
    # One line of text: the title, not the several lines of the reason.
    assert h < 40, tip
    # Text is drawn on it: dark pixels on its light yellow background, as
    # wide as the title (about 6 px a character in Qt's default font here).
    count, width = ink(desktop, shot, (tx, ty, w, h), 100)
    print(f'tooltip text: {count} dark pixels, {width} px wide')
    assert count > 50 and 4 * len(title) <= width <= 9 * len(title), (count, width)



@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_lxqt_panel_menu_tells_why_on_a_refusal(desk, helper, desktop, lab):
    '''Where lxqt-panel shows the reason: its tooltip has the title only
    (above), its right-click menu (the dbusmenu the panel imports) the
    agent's status line, "Not yours: <reason>".'''
    lab.polkit.set_allowed([])
    desktop.lxqt_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in lxqt-panel')
    reason = props['ToolTip'][3]
    _revision, _root, items = agent.menu_layout()
    labels = [p.get('label', '') for _id, p in items]
    assert any(label.startswith('Not yours: ') and label.endswith(reason)
               for label in labels), labels
    x, y = icon_centre(desktop, DENIED_RGB)
    before = {w[0] for w in desktop.windows()}
    click(desktop, 3, x, y)
    line = len(reason) + len('Not yours: ')
    menu = wait_until(lambda: new_windows(desktop, before, 60, 20), SETTLE,
                      what='the menu to open')[0]
    # Qt sizes the menu to its widest label (about 6 px a character in its
    # default font here); it grows if the importer's layout comes late.
    menu = wait_until(lambda: [w for w in desktop.windows()
                               if w[0] == menu[0] and w[2] >= 5 * line], SETTLE,
                      what=f'the menu as wide as its {line}-character status line')[0]
    time.sleep(0.3)
    shot = desktop.screenshot('menu-refused')
    desktop.keep_screenshot('lxqt-menu-refused.png')
    _id, _name, w, h, mx, my = menu
    print(f'menu window: {w}x{h}+{mx}+{my}; its status line: {line} characters')
    # The status line is drawn whole (greyed: a disabled item).
    count, width = ink(desktop, shot, (mx, my, w, h), 230)
    print(f'menu text: {count} pixels, {width} px wide')
    assert count > 300 and width >= 5 * line, (count, width)


@pytest.mark.skipif(bool(missing('lxqt-notificationd', 'xdotool')),
                    reason='needs lxqt-notificationd (tests/desktop/debian-packages.txt)')
def test_lxqt_notificationd_shows_the_notification_without_a_tray(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    daemon = desktop.lxqt_notificationd()
    caps = desk.bus.client.call('org.freedesktop.Notifications', '/org/freedesktop/Notifications',
                                'org.freedesktop.Notifications', 'GetCapabilities')[0]
    assert 'actions' in caps, caps
    before = {w[0] for w in desktop.windows()}
    capabilities_asked = subprocess.Popen(
        ['dbus-monitor', '--address', desk.bus.address,
         "type='method_call',member='GetCapabilities'"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        with notify_calls(desk) as seen:
            agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
            # No panel, so no watcher: the agent notifies, and
            # lxqt-notificationd maps its notification area (300 px wide).
            popup = wait_until(lambda: new_windows(desktop, before, 200, 40), SETTLE,
                               what='lxqt-notificationd to show a notification')[0]
            time.sleep(0.5)
            shot = desktop.screenshot('notification')
            desktop.keep_screenshot('lxqt-notification.png')
    finally:
        capabilities_asked.terminate()
        asked = capabilities_asked.communicate(timeout=5)[0]
    print(f'notification window: {popup}')
    assert seen.actions, seen.text
    # The agent asked the server what it can show before it sent.
    sender = re.search(r'sender=(\S+) .*member=Notify', seen.text).group(1)
    assert re.search(rf'sender={re.escape(sender)} .*member=GetCapabilities', asked), asked
    # Each action once: "default" with its label, drawn by
    # lxqt-notificationd as one button (NotificationActionsButtonsWidget).
    assert seen.actions[0] == ['default', 'Open VM console']
    assert 'VM console: yours' in seen.text
    _id, _name, w, h, x, y = popup
    assert x + w >= 700 and y + h >= 500, popup  # bottom-right, its default placement
    pixels = desktop.pixels(shot, (x, y, w, h))
    assert desktop.count_colour(pixels, GRANTED_RGB) >= 20, 'no granted icon in the notification'
    # A click on the popup's text is its "default" action
    # (Notification::mouseReleaseEvent, src/notification.cpp): the agent
    # runs the viewer.
    click(desktop, 1, x + w // 2, y + 30)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert daemon.running()
