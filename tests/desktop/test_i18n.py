'''The agent's texts in the person's language (issue 13): the installed
German catalogue in the tray tooltip, read by the real xfce4-panel, and in
a notification to the real xfce4-notifyd; a language seatgate has no
catalogue for falls back to English.'''

import os
import subprocess
import time

import pytest

from desktop_lab import DENIED_RGB, XFCE4_NOTIFYD, make_locale, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_xfce import in_panel

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'xfce4-panel', 'localedef', XFCE4_NOTIFYD)),
                                reason='needs the desktop suite\'s packages '
                                       '(tests/desktop/debian-packages.txt)')

SETTLE = 10.0


def agent_in(desk, desktop, locale, **kw):
    locpath = make_locale(os.path.join(desktop.dir, 'locales'), locale)
    desktop.mount_installed_share()
    return desk.agent(CONSOLE_UID, CONSOLE_SESSION,
                      env={'LANG': locale, 'LOCPATH': locpath}, **kw)


def test_tray_tooltip_is_german_with_lang_de(desk, helper, desktop, lab):
    desktop.xfce4_panel()
    agent = agent_in(desk, desktop, 'de_DE.UTF-8')
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-granted', 'granted')
    assert props['Title'] == 'VM-Konsole: für Sie freigegeben (Port 5930)'
    assert props['ToolTip'][2] == 'VM-Konsole: für Sie freigegeben (Port 5930)'
    assert props['ToolTip'][3] == ('spice://127.0.0.1:5930 steht Ihnen offen, solange diese '
                                   'Sitzung aktiv ist')
    _rev, _root, items = agent.menu_layout()
    labels = [p.get('label') for _id, p in items]
    assert 'VM-Konsole ö_ffnen' in labels
    lab.logind.activate(INACTIVE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'denied')
    assert props['ToolTip'][2] == 'VM-Konsole: nicht für Sie freigegeben'
    assert props['ToolTip'][3] == 'nicht die aktive Sitzung an seat0'
    lab.logind.activate(CONSOLE_SESSION)
    agent.wait_item(lambda p: p['IconName'] == 'seatgate-granted', 'granted again')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the panel')
    # The panel's own tooltip, on a pointer over the icon.
    box = desktop.window_geometry('xfce4-panel', min_width=100)
    subprocess.run(['xdotool', 'mousemove', str(box[0] + 12), str(box[1] + 16)],
                   env=dict(os.environ, DISPLAY=desktop.x.display), check=False)
    time.sleep(1.5)
    desktop.screenshot('tooltip-de')
    desktop.keep_screenshot('xfce-tooltip-de.png')


def test_notification_is_german_with_lang_de(desk, helper, desktop, lab):
    desktop.xfce4_notifyd()
    with notify_calls(desk) as seen:
        agent_in(desk, desktop, 'de_DE.UTF-8', args=('--no-tray', '--verbose'))
        wait_until(lambda: desktop.window_geometry('xfce4-notifyd', min_width=50), SETTLE,
                   what='xfce4-notifyd to show a notification')
        time.sleep(0.5)
        desktop.screenshot('notification-de')
        desktop.keep_screenshot('xfce-notification-de.png')
    assert 'string "VM-Konsole: für Sie freigegeben (Port 5930)"' in seen.text
    assert 'steht Ihnen offen, solange diese Sitzung aktiv ist' in seen.text
    assert seen.actions[0] == ['default', 'VM-Konsole öffnen']


def test_language_without_a_catalogue_falls_back_to_english(desk, helper, desktop, lab):
    # Dutch: a real locale, but seatgate ships no nl catalogue.
    desktop.xfce4_panel()
    agent = agent_in(desk, desktop, 'nl_NL.UTF-8')
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-granted', 'granted')
    assert props['Title'] == 'VM console: yours (port 5930)'
    assert props['ToolTip'][3] == 'spice://127.0.0.1:5930 is open to you while this session is active'
    # The locale itself was in force (not a silent fall back to C): the C
    # library reads its character map from LOCPATH.
    out = subprocess.run(['locale', 'charmap'], capture_output=True, text=True,
                         env={'LANG': 'nl_NL.UTF-8', 'LOCPATH': os.path.join(desktop.dir, 'locales'),
                              'PATH': '/usr/bin:/bin'})
    assert out.stdout.strip() == 'UTF-8' and out.stderr == ''
