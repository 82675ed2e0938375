'''The agent on LXQt's panel (lxqt-panel 1.2, statusnotifier plugin):
the granted icon is drawn, a refusal at the seat is shown.'''

import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, wait_until
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
