'''The agent on KDE Plasma 5.27's own programs (Debian 12: plasmashell with
its system tray, kded5's StatusNotifierWatcher, plasmashell's notification
server): the granted icon drawn in the panel, a refusal at the seat shown,
a notification when there is no tray, and the menu's "Open VM console"
chosen through the panel (issue 13).'''

import os
import re
import subprocess
import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, KACTIVITYMANAGERD, Desktop, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_xfce import click, in_panel, left_click_runs_the_viewer

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'plasmashell', 'kded5', KACTIVITYMANAGERD,
                                             'import', 'xwininfo')),
                                reason='needs plasma-desktop (tests/desktop/debian-packages.txt)')

SETTLE = 10.0
# plasmashell maps its panel's window before it has loaded the tray in it:
# 1.5-5 s later on a loaded 2-core machine.
ICON_TIMEOUT = 20.0


def icon_centre(desktop, rgb):
    '''The middle of the icon's pixels in the panel.'''
    x0, y0, w, _h = desktop.bar_box
    pixels = desktop.pixels(desktop.screenshot('find-icon'), desktop.bar_box)
    hits = [(i % w, i // w) for i, p in enumerate(pixels)
            if all(abs(a - b) <= 24 for a, b in zip(p, rgb))]
    assert hits, 'the icon is not in the panel'
    xs, ys = [h[0] for h in hits], [h[1] for h in hits]
    return x0 + (min(xs) + max(xs)) // 2, y0 + (min(ys) + max(ys)) // 2


def test_plasma_panel_draws_the_granted_icon(desk, helper, desktop, lab):
    shell = desktop.plasma_shell()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in kded5\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in plasmashell\'s tray', timeout=ICON_TIMEOUT)
    # The agent starts once the panel's window is mapped, before its tray.
    print(f'plasmashell start to panel mapped: {desktop.panel_mapped - shell.started:.2f} s; '
          f'to icon drawn: {desktop.last_shot_started - shell.started:.2f} s')
    desktop.keep_screenshot('plasma-granted.png')
    assert shell.running()


def first_grab(desktop, pred, what, timeout=ICON_TIMEOUT):
    '''The monotonic time of the first grab of the panel's area (every
    20 ms) whose pixels satisfy pred.'''
    def look():
        started = time.monotonic()
        return pred(desktop.grab_pixels(desktop.bar_box)) and started
    return wait_until(look, timeout, 0.02, what)


def painted(pixels):
    '''The panel's background drawn (Breeze's light grey, #eff0f1): before
    plasmashell paints it, its window is black.'''
    return sum(1 for p in pixels if sum(p) > 600) > 0.8 * len(pixels)


def drawn_with(pixels, rgb):
    '''A popup painted with the icon of colour rgb in it: Breeze's light
    background over at least 40% of its window (the rest may be unpainted
    while plasmashell shrinks the window to its text; the sky of the
    wallpaper behind is darker).'''
    return (sum(1 for p in pixels if sum(p) > 600) > 0.4 * len(pixels) and
            Desktop.count_colour(pixels, rgb) >= 20)


def viewable(desktop, window):
    '''The window is mapped, and so are its parents (xwininfo lists
    unmapped windows too).'''
    out = subprocess.run(['xwininfo', '-id', window, '-display', desktop.x.display],
                         capture_output=True, text=True).stdout
    return 'Map State: IsViewable' in out


def notification_popup(desktop, before, rgb):
    '''plasmashell's notification popup, once painted with the icon of
    colour rgb: a window of its own (336 wide, 90-190 high here) below the
    panel, shown for about 5 s. The shell's other windows are 160x160 or
    smaller, or the whole screen, or 640x480 and unmapped; a loaded machine
    may make some of them after the panel's. The popup is mapped before it
    is painted, and then shrunk to its text: each look reads the windows
    again. Returns its (x, y, w, h).'''
    def look():
        for wid, _name, w, h, x, y in desktop.windows():
            if (wid not in before and 200 < w < 600 and 60 < h < 400 and
                    viewable(desktop, wid) and
                    drawn_with(desktop.grab_pixels((x, y, w, h)), rgb)):
                return (x, y, w, h)
        return None
    return wait_until(look, SETTLE, 0.02, what='plasmashell to show the notification, painted')


def test_plasma_panel_draws_the_icon_of_an_agent_already_running_within_2_s(desk, helper,
                                                                              desktop, lab):
    '''The agent first (it registers once kded5's watcher appears), then the
    shell: the icon is drawn within 2 s of the panel. plasmashell maps the
    panel's window 1.5-3.6 s after it starts, takes the tray's host name
    about 1 s later and paints the panel, with the tray's own items,
    0.4-1.9 s after that (load average ~10 on 2 cores); the window is
    black until then.'''
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state('seatgate-granted')
    shell = desktop.plasma_shell()
    # StatusNotifierItemHost::init (applets/systemtray/statusnotifieritemhost.cpp)
    # takes this name when the tray's model is made, then reads the items.
    host = f'org.kde.StatusNotifierHost-{shell.proc.pid}'
    host_up = wait_until(lambda: desk.bus.client.name_owner(host) and time.monotonic(),
                         ICON_TIMEOUT, 0.02, what=f'{host} on the session bus')
    panel_drawn = first_grab(desktop, painted, 'the panel to be painted')
    icon_drawn = desktop.wait_drawn(GRANTED_RGB, 'the granted icon in plasmashell\'s tray',
                                    timeout=ICON_TIMEOUT)
    print(f'plasmashell start to panel window mapped: '
          f'{desktop.panel_mapped - shell.started:.2f} s; '
          f'to tray host: {host_up - shell.started:.2f} s; '
          f'to panel painted: {panel_drawn - shell.started:.2f} s; '
          f'panel painted to icon drawn: {icon_drawn - panel_drawn:.2f} s')
    assert in_panel(desk, agent)
    assert icon_drawn - panel_drawn < 2.0


def test_plasma_panel_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.plasma_shell()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in kded5\'s watcher')
    # plasmashell's tray moves Passive items into its hidden popup: the
    # icon is in the panel only because the item needs attention.
    desktop.wait_icon(DENIED_RGB, 'the denied icon in plasmashell\'s tray', timeout=ICON_TIMEOUT)
    desktop.keep_screenshot('plasma-refused.png')
    assert props['Status'] == 'NeedsAttention'
    assert 'polkit' in props['ToolTip'][3] or 'not authorized' in props['ToolTip'][3].lower()
    # plasmashell shows a body without tags as plain text, entities and all:
    # the apostrophe of "the lab's administrator" must come as itself.
    assert "lab's" in props['ToolTip'][3], props['ToolTip'][3]
    assert not any(e in props['ToolTip'][3] for e in ('&apos;', '&quot;', '&#39;')), props['ToolTip']
    if not missing('xdotool'):
        # Hovering: plasmashell's tooltip, a window of its own below the
        # panel (created 160x160, then sized to the text).
        x, y = icon_centre(desktop, DENIED_RGB)
        before = {w[0] for w in desktop.windows()}
        subprocess.run(['xdotool', 'mousemove', str(x), str(y)],
                       env=dict(os.environ, DISPLAY=desktop.x.display), check=True)
        wait_until(lambda: [w for w in desktop.windows() if w[0] not in before and
                            200 < w[2] < 600 and w[3] > 40 and w[5] >= desktop.bar_box[3] - 8],
                   SETTLE, what='plasmashell\'s tooltip')
        time.sleep(0.5)
        desktop.screenshot('tooltip')
        desktop.keep_screenshot('plasma-tooltip.png')


def test_plasma_panel_follows_a_seat_switch(desk, helper, desktop, lab):
    '''In the background the item is Passive, and plasmashell's tray moves
    Passive items into its hidden popup (behind the arrow); back at the
    seat the icon is in the panel again.'''
    desktop.plasma_shell()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in plasmashell\'s tray', timeout=ICON_TIMEOUT)
    lab.logind.activate(INACTIVE_SESSION)
    props = agent.wait_item(lambda p: p['Status'] == 'Passive', 'Passive')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon gone', present=False, timeout=SETTLE)
    # Hidden, not redrawn as the denied icon; still registered.
    assert props['IconName'] == 'seatgate-denied'
    desktop.wait_icon(DENIED_RGB, 'no denied icon in the panel', present=False, timeout=SETTLE)
    desktop.keep_screenshot('plasma-background.png')
    assert in_panel(desk, agent)
    lab.logind.activate(CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon back', timeout=SETTLE)


def test_plasma_notification_server_shows_the_notification_without_a_tray(desk, helper, desktop,
                                                                          lab):
    '''Without kded5 there is no StatusNotifierWatcher: the agent falls back
    to notifications, and plasmashell, which owns
    org.freedesktop.Notifications (its notifications plasmoid), shows it.'''
    shell = desktop.plasma_shell(tray=False)
    owner = wait_until(lambda: desk.bus.client.name_owner('org.freedesktop.Notifications'), SETTLE,
                       what='plasmashell\'s notification server')
    assert desk.bus.client.name_owner('org.kde.StatusNotifierWatcher') is None
    before = {w[0] for w in desktop.windows()}
    with notify_calls(desk) as seen:
        desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        popup = notification_popup(desktop, before, GRANTED_RGB)
        shot = desktop.screenshot('notification')
        desktop.keep_screenshot('plasma-notification.png')
    print(f'notification popup: {popup}')
    assert drawn_with(desktop.pixels(shot, popup), GRANTED_RGB)
    assert seen.actions, seen.text
    assert seen.actions[0] == ['default', 'Open VM console']
    assert owner == desk.bus.client.name_owner('org.kde.plasmashell')
    assert shell.running()


def test_plasma_notification_server_shows_a_refusal_without_a_tray(desk, helper, desktop, lab):
    '''Refused by polkit with no tray: plasmashell's popup carries the
    denied icon.'''
    lab.polkit.set_allowed([])
    desktop.plasma_shell(tray=False)
    wait_until(lambda: desk.bus.client.name_owner('org.freedesktop.Notifications'), SETTLE,
               what='plasmashell\'s notification server')
    before = {w[0] for w in desktop.windows()}
    with notify_calls(desk) as seen:
        desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        # The wallpaper has greys near the denied icon's: only a painted
        # popup counts.
        popup = notification_popup(desktop, before, DENIED_RGB)
        shot = desktop.screenshot('notification')
        desktop.keep_screenshot('plasma-notification-refused.png')
    assert drawn_with(desktop.pixels(shot, popup), DENIED_RGB)
    assert 'polkit' in seen.text


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_plasma_notification_click_opens_the_vm_console(desk, helper, desktop, lab):
    '''A click on the popup invokes its default action
    (NotificationPopup.qml: onClicked, defaultActionInvoked): plasmashell
    sends ActionInvoked "default" and the agent runs the viewer.'''
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.plasma_shell(tray=False)
    wait_until(lambda: desk.bus.client.name_owner('org.freedesktop.Notifications'), SETTLE,
               what='plasmashell\'s notification server')
    before = {w[0] for w in desktop.windows()}
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    x, y, w, _h = notification_popup(desktop, before, GRANTED_RGB)
    # On the body text, left of the icon and below the close button.
    click(desktop, 1, x + w // 3, y + 50)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_plasma_left_click_opens_the_vm_console(desk, helper, desktop, lab):
    '''A left click: the tray calls the item's Activate
    (items/StatusNotifierItem.qml, onActivated), and the agent starts the
    viewer.'''
    agent = left_click_runs_the_viewer(desk, desktop, desktop.plasma_shell,
                                       'the granted icon in plasmashell\'s tray',
                                       timeout=ICON_TIMEOUT, centre=icon_centre)
    assert 'Tray: Activate from' in agent.log()


@pytest.mark.skipif(bool(missing('xdotool')), reason='needs xdotool')
def test_plasma_menu_open_vm_console_runs_the_viewer(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.plasma_shell()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in plasmashell\'s tray', timeout=ICON_TIMEOUT)
    x, y = icon_centre(desktop, GRANTED_RGB)
    before = {w[0] for w in desktop.windows()}
    click(desktop, 3, x, y)
    # Not the desktop's window (the whole screen), which a loaded machine
    # may make after the panel's.
    wait_until(lambda: [w for w in desktop.windows() if w[0] not in before and
                        60 < w[2] < 600 and 40 < w[3] < 400 and viewable(desktop, w[0])],
               SETTLE, what='the menu to open')
    time.sleep(0.5)
    desktop.screenshot('menu')
    desktop.keep_screenshot('plasma-menu.png')
    subprocess.run(['xdotool', 'key', 'Down', 'Return'],
                   env=dict(os.environ, DISPLAY=desktop.x.display), check=True)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert 'Tray: Activate from' not in agent.log()


def ancestors(pid):
    '''pid's parent, its parent's parent, … up to pid 1.'''
    found = []
    while pid > 1:
        with open(f'/proc/{pid}/status', encoding='utf-8') as f:
            status = dict(line.split(':\t', 1) for line in f if ':\t' in line)
        pid = int(status['PPid'])
        found.append(pid)
    return found


class SplashStages:
    '''The stages a Plasma session reports to org.kde.KSplash (setStage
    calls: startplasma.cpp "startPlasma", plasma_session's
    Startup::finishStartup "ready"), seen by dbus-monitor on the session
    bus whether or not a splash owns the name.'''

    def __init__(self, desktop):
        self.log_path = os.path.join(desktop.dir, 'ksplash-stages.monitor')
        self._out = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            ['dbus-monitor', '--address', desktop.desk.bus.address, '--monitor',
             "type='method_call',interface='org.kde.KSplash',member='setStage'"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)
        wait_until(lambda: 'NameLost' in self.text(), 10, what='dbus-monitor to start')

    def text(self):
        self._out.flush()
        with open(self.log_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def stages(self):
        return re.findall(r'member=setStage\n\s+string "([^"]*)"', self.text())

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._out.close()


def seatgate_agents():
    '''The pids of the running seatgate-agent processes.'''
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/comm', encoding='utf-8') as f:
                if entry.isdigit() and f.read().strip() == 'seatgate-agent':
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.skipif(bool(missing('startplasma-x11', 'plasma_session', 'ksmserver', 'kwin_x11')),
                    reason='needs plasma-workspace and kwin-x11')
def test_plasma_session_starts_the_agent_from_xdg_autostart(request, desk, helper, desktop, lab):
    '''Plasma 5.27's own session start: startplasma-x11 (startplasma-x11.cpp
    main) with systemdBoot=false runs plasma_session (startplasma.cpp,
    startPlasmaSession: useSystemdBoot() false). plasma_session's Startup
    (plasma-session/startup.cpp) starts kcminit_startup, kded5, kwin_x11
    (waiting for org.kde.KWin), ksmserver (org.kde.ksmserver), then each
    phase's AutoStartAppsJob, which launches every entry AutoStart
    (plasma-session/autostart.cpp, loadAutoStartList: the XDG autostart
    dirs, PlasmaAutostart::autostarts("KDE")) holds for that phase
    (X-KDE-autostart-phase): plasmashell in phase 0, the installed
    seatgate-agent.desktop (found through XDG_CONFIG_DIRS, pointed at the
    private install) in phase 1, through KIO::ApplicationLauncherJob, so
    the agent is plasma_session's child. The agent obtains the grant and
    its icon is drawn in plasmashell's tray (kded5's watcher); at logout the
    grant ends. kactivitymanagerd, which the session bus would start on
    demand for plasmashell, is started first (the lab's bus has no service
    files), as is plasma-shutdown for the logout.'''
    bindir = os.path.join(desktop.prefix, 'bin')
    splash = SplashStages(desktop)
    request.addfinalizer(splash.close)
    session = desktop.startplasma_x11(env={
        'PATH': f'{bindir}:/usr/bin:/bin',
        'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address,
    })
    granted = wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])] and
                         time.monotonic(), 90, what='the autostarted agent to obtain the grant')
    agents = seatgate_agents()
    assert len(agents) == 1, agents
    parents = ancestors(agents[0])
    with open(f'/proc/{parents[0]}/comm', encoding='utf-8') as f:
        parent = f.read().strip()
    # KIO::ApplicationLauncherJob's KProcessRunner forks it: plasma_session's
    # child, under startplasma-x11.
    assert parent == 'plasma_session' and parents[1] == session.proc.pid, \
        f'the agent is not plasma_session\'s child under startplasma-x11: {parent} {parents}'
    desktop.wait_plasma_panel(session)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in plasmashell\'s tray', timeout=ICON_TIMEOUT)
    print(f'startplasma-x11 start to grant: {granted - session.started:.2f} s; '
          f'to panel mapped: {desktop.panel_mapped - session.started:.2f} s; '
          f'to icon drawn: {desktop.last_shot_started - session.started:.2f} s')
    desktop.keep_screenshot('plasma-session.png')
    assert session.running()
    # ksmserver ignores a logout until the session is restored
    # (ksmserver/logout.cpp, KSMServer::shutdown: state != Idle), which
    # plasma_session asks for after phase 1: wait for its last stage.
    ready = wait_until(lambda: 'ready' in splash.stages() and time.monotonic(), 60,
                       what='plasma_session to report its startup done')
    print(f'startplasma-x11 start to plasma_session ready: {ready - session.started:.2f} s '
          f'(stages {splash.stages()})')

    # Logging out as plasmashell's Leave does once confirmed
    # (ksmserver/logout.cpp, KSMServer::shutdown: confirm 0 is
    # ShutdownConfirmNo, so no prompt; type 0 ShutdownTypeNone, a logout):
    # ksmserver calls org.kde.Shutdown.logout, plasma-shutdown (which the
    # session bus would start on demand) asks ksmserver to closeSession,
    # which tells its XSMP clients to die and quits; startplasma-x11's
    # watcher of org.kde.ksmserver and org.kde.Shutdown ends its wait and it
    # terminates plasma_session (startPlasmaSession, KillBeforeDeleter),
    # whose SessionTrack stops only the programs it started as services.
    # The agent is none of these and outlives the session's programs; the
    # session's end reaches it from logind, as under gnome-session.
    desktop.run('plasma-shutdown', ['plasma-shutdown'])
    wait_until(lambda: desk.bus.client.name_owner('org.kde.Shutdown'), 20,
               what='plasma-shutdown on the session bus')
    asked = time.monotonic()
    subprocess.run(['qdbus', 'org.kde.ksmserver', '/KSMServer', 'logout', '0', '0', '0'],
                   env=dict(desktop.env), check=True, timeout=30)
    wait_until(lambda: not session.running(), 60, what='startplasma-x11 to end the session')
    print(f'logout asked to startplasma-x11 gone: {time.monotonic() - asked:.2f} s')
    assert session.proc.returncode == 0, session.log()[-2000:]
    assert all(os.path.exists(f'/proc/{pid}') for pid in agents), \
        'Plasma\'s logout now stops the agent itself: say so in tests/desktop/README.md'
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    lab.logind.stop_session(CONSOLE_SESSION)
    wait_until(lambda: lab.gate.grants() == [], 20, what='the grant to end with the session')
