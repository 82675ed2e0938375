'''The agent on sway (1.7, headless backend) with waybar's tray (0.9):
the granted icon is drawn, a refusal at the seat stays visible, and the
background session is hidden (waybar hides Passive items).'''

import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_xfce import in_panel

pytestmark = pytest.mark.skipif(bool(missing('sway', 'waybar', 'grim', 'convert')),
                                reason='needs sway, waybar and grim')

SETTLE = 10.0


def test_waybar_draws_the_icon_and_hides_it_in_the_background(desk, helper, desktop, lab):
    sway = desktop.sway_waybar()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in waybar\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in waybar')
    print(f'sway start to icon drawn: {time.monotonic() - sway.started:.2f} s')
    desktop.keep_screenshot('sway-waybar-granted.png')
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_item(lambda p: p['Status'] == 'Passive', 'Passive')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon gone', present=False)
    desktop.wait_icon(DENIED_RGB, 'no denied icon either', present=False)


def test_waybar_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.sway_waybar()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in waybar\'s watcher')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in waybar')
    desktop.keep_screenshot('sway-waybar-refused.png')
    assert props['Status'] == 'NeedsAttention'
