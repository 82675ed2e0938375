'''The agent on GNOME Shell 43 (Debian 12), run as the X11 window manager
and compositor of the Xvfb display: with the AppIndicator extension
(gnome-shell-extension-appindicator, which brings the
StatusNotifierWatcher and host) the icon is drawn in the top bar; without
it there is no tray, and gnome-shell's own notification server shows the
agent's notification (issue 13).'''

import os
import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, wait_until
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
    # ui/notificationDaemon.js owns the name once the shell's UI is up.
    wait_until(lambda: desk.bus.client.name_owner('org.freedesktop.Notifications'), SETTLE,
               what='gnome-shell\'s notification server')
    info = desk.bus.client.call('org.freedesktop.Notifications', '/org/freedesktop/Notifications',
                                'org.freedesktop.Notifications', 'GetServerInformation')
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
