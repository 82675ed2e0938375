'''The agent on GNOME Shell 43 (Debian 12), run as the X11 window manager
and compositor of the Xvfb display: with the AppIndicator extension
(gnome-shell-extension-appindicator, which brings the
StatusNotifierWatcher and host) the icon is drawn in the top bar; without
it there is no tray, and gnome-shell's own notification server shows the
agent's notification (issue 13).'''

import os
import signal
import time

import pytest
from gi.repository import GLib

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, LabError, wait_until
from test_mate import agents_started_by
from test_xfce import in_panel

# Debian's package installs the extension under Ubuntu's uuid.
APPINDICATOR = 'ubuntu-appindicators@ubuntu.com'

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'gnome-shell', 'import')),
                                reason='needs gnome-shell (tests/desktop/debian-packages.txt)')

SETTLE = 30.0
WHITE = (0xff, 0xff, 0xff)
needs_extension = pytest.mark.skipif(
    not os.path.exists(f'/usr/share/gnome-shell/extensions/{APPINDICATOR}/extension.js'),
    reason='needs gnome-shell-extension-appindicator')


@needs_extension
def test_gnome_shell_with_appindicator_draws_the_granted_icon(desk, helper, desktop):
    desktop.gnome_shell(extensions=(APPINDICATOR,))
    wait_until(lambda: desk.bus.client.name_owner('org.kde.StatusNotifierWatcher'), SETTLE,
               what='the extension\'s StatusNotifierWatcher')
    watcher_up = time.monotonic()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the extension\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in the top bar', timeout=10.0, minimum=10)
    print(f'watcher up to icon drawn: {desktop.last_shot_started - watcher_up:.2f} s '
          '(the agent started with the watcher)')
    desktop.keep_screenshot('gnome-granted.png')


@needs_extension
def test_gnome_shell_with_appindicator_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.gnome_shell(extensions=(APPINDICATOR,))
    wait_until(lambda: desk.bus.client.name_owner('org.kde.StatusNotifierWatcher'), SETTLE,
               what='the extension\'s StatusNotifierWatcher')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the extension\'s watcher')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in the top bar', timeout=10.0, minimum=10)
    desktop.keep_screenshot('gnome-refused.png')
    assert props['Status'] == 'NeedsAttention'


def test_gnome_shell_without_a_tray_shows_the_agents_notification(desk, helper, desktop, lab):
    shell = desktop.gnome_shell()
    # ui/notificationDaemon.js owns the name once the shell's UI is up; the
    # gjs service in front of it owns the name a moment before its object
    # answers (seen under load: "Object does not exist at path").

    def server_information():
        try:
            return desk.bus.client.call('org.freedesktop.Notifications',
                                        '/org/freedesktop/Notifications',
                                        'org.freedesktop.Notifications', 'GetServerInformation')
        except GLib.Error:
            return None
    info = wait_until(server_information, SETTLE, what='gnome-shell\'s notification server')
    assert info[0] == 'gnome-shell', info
    assert desk.bus.client.name_owner('org.kde.StatusNotifierWatcher') is None
    with notify_calls(desk) as seen:
        desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        # The banner, at the top middle below the bar, carries the agent's
        # icon as the shell draws it: the -symbolic variant, in white (the
        # shell's theme asks for symbolic icons).
        desktop.bar_box = (160, 45, 45, 45)
        desktop.icon_tolerance = 24
        desktop.wait_icon(WHITE, 'the notification banner with the symbolic icon', timeout=SETTLE,
                          minimum=40)
        desktop.keep_screenshot('gnome-notification.png')
    assert seen.actions, seen.text
    assert seen.actions[0] == ['default', 'Open VM console']
    assert shell.running()


# gnome-session's session file: the shell its one required component (as
# Debian's gnome.session names org.gnome.Shell), here a desktop file that
# starts it as the X11 compositor of Xvfb.
GNOME_SESSION = '''[GNOME Session]
Name=Lab
RequiredComponents=lab-gnome-shell;
'''
# What the AppIndicator extension 46 logs when it drops an item it was
# registering (seen about once in three runs on a loaded 2-core machine).
EXTENSION_RACE = 'Argument two may not be null'
GNOME_SHELL_DESKTOP = '''[Desktop Entry]
Type=Application
Name=GNOME Shell
Exec=gnome-shell --x11
X-GNOME-Autostart-Phase=DisplayServer
NoDisplay=true
'''


@needs_extension
@pytest.mark.skipif(bool(missing('/usr/libexec/gnome-session-binary')),
                    reason='needs gnome-session-bin')
def test_gnome_session_starts_the_agent_from_xdg_autostart(desk, helper, desktop, lab):
    '''gnome-session 43 in its builtin mode (the one GDM sessions and
    desktops without a systemd user manager get: main.c falls back to it
    when gnome-session-x11@.target cannot start) starts the session's
    required shell, then, in the Applications phase, the installed
    seatgate-agent.desktop from the autostart folders
    (gsm-session-fill.c load_standard_apps; found through XDG_CONFIG_DIRS):
    gsm-autostart-app.c autostart_app_start_activate spawns it with
    g_desktop_app_info_launch_uris_as_manager, so it is the session's child
    (the systemd scope it then asks for needs a user manager the lab has
    not). That agent obtains the grant and its icon is drawn in the top bar
    by the AppIndicator extension; at logout the agent outlives
    gnome-session, and the grant ends with the logind session.'''
    bindir = os.path.join(desktop.prefix, 'bin')
    desktop.gnome_settings(extensions=(APPINDICATOR,))
    home = desktop.home
    for folder, name, text in (('.config/gnome-session/sessions', 'lab.session', GNOME_SESSION),
                               ('.local/share/applications', 'lab-gnome-shell.desktop',
                                GNOME_SHELL_DESKTOP)):
        path = os.path.join(home, folder)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, name), 'w', encoding='utf-8') as f:
            f.write(text)
    for dirpath, _d, filenames in os.walk(home):
        os.chown(dirpath, desktop.uid, desktop.uid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), desktop.uid, desktop.uid)
    session = desktop.run('gnome-session', [
        '/usr/libexec/gnome-session-binary', '--builtin', '--session=lab',
        '--disable-acceleration-check'], env={
        'PATH': f'{bindir}:/usr/bin:/bin',
        'XDG_CURRENT_DESKTOP': 'GNOME',
        'XDG_SESSION_TYPE': 'x11',
    })
    desktop.wait_gnome_shell(session)
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], 40,
               what='the autostarted agent to obtain the grant')
    granted = time.monotonic()
    agents = agents_started_by(session.proc.pid)
    assert len(agents) == 1, 'no seatgate-agent is a child of gnome-session'
    try:
        desktop.wait_icon(GRANTED_RGB, 'the granted icon in the top bar', timeout=SETTLE,
                          minimum=10)
    except LabError:
        if EXTENSION_RACE in session.log():
            pytest.xfail('the AppIndicator extension 46 dropped the item (its proxy started with '
                         'no cached Id/Menu, and util.js queueProxyPropertyUpdate throws on '
                         'value.equal(null)): tests/desktop/README.md')
        raise
    print(f'session start to grant: {granted - session.started:.2f} s; '
          f'grant to icon drawn: {desktop.last_shot_started - granted:.2f} s')
    desktop.keep_screenshot('gnome-session.png')

    # Logging out (SIGTERM, as GDM ends a session): term_or_int_signal_cb
    # logs out, and do_phase_exit (gsm-manager.c) stops only the clients
    # that registered with it; the agent is not one, and outlives the
    # session manager. The session's end reaches it from logind: the
    # session's leader gone with processes left, it is "closing"
    # (KillUserProcesses=no), and that ends the grant.
    os.kill(session.proc.pid, signal.SIGTERM)
    wait_until(lambda: not session.running(), 20, what='gnome-session to log out')
    assert all(os.path.exists(f'/proc/{pid}') for pid in agents), \
        'gnome-session 43 now stops the agent itself: say so in tests/desktop/README.md'
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    lab.logind.stop_session(CONSOLE_SESSION)
    wait_until(lambda: lab.gate.grants() == [], 20, what='the grant to end with the session')
