'''The agent's icons as they are drawn (issue 13): crisp at 2x scale in
a real panel (xfce4-panel 4.18, GTK 3), readable on a dark and on a light
panel, and telling their states apart by shape, not by colour alone.'''

import os

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, SOURCE_DIR, wait_until
from test_xfce import in_panel

pytestmark = pytest.mark.skipif(bool(missing('Xvfb', 'xfce4-panel', 'xfconf-query', 'import')),
                                reason='needs the desktop suite\'s packages '
                                       '(tests/desktop/debian-packages.txt)')

SETTLE = 10.0
STATES = ('granted', 'denied', 'unavailable')
# The icons' other colours (data/icons/seatgate-granted.svg): its frame and
# its tick.
FRAME_RGB = (0x2f, 0x3b, 0x47)
WHITE = (0xff, 0xff, 0xff)


def near(p, rgb, tolerance=24):
    return all(abs(a - b) <= tolerance for a, b in zip(p, rgb))


def luminance(rgb):
    '''Relative luminance (WCAG 2.1, 1.4.11's definition).'''
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


class Drawn:
    '''The icon in a screenshot of the panel: its box (the pixels of its
    screen colour), and within it the pixels of none of its own colours
    nor the panel's: the blended edges a blurred, scaled-up bitmap widens.'''

    def __init__(self, desktop, rgb):
        box = desktop.window_geometry('xfce4-panel', min_width=100)
        shot = desktop.screenshot('icon')
        px = desktop.pixels(shot, box)
        width = box[2]
        at = [(i % width, i // width) for i, p in enumerate(px) if near(p, rgb)]
        assert at, f'no pixel of {rgb} in the panel ({shot})'
        xs, ys = [x for x, _ in at], [y for _, y in at]
        self.width = max(xs) - min(xs) + 1
        self.height = max(ys) - min(ys) + 1
        background = px[0]
        own = (rgb, FRAME_RGB, WHITE, background)
        self.px, self.box_width = px, width
        self.x0, self.y0, self.x1, self.y1 = min(xs), min(ys), max(xs), max(ys)
        self.edge = sum(1 for y in range(min(ys), max(ys) + 1) for x in range(min(xs), max(xs) + 1)
                        if not any(near(px[y * width + x], c) for c in own))
        self.shot = shot

    def around(self, margin):
        '''The pixels of the icon's screen and `margin` pixels around it.'''
        rows = len(self.px) // self.box_width
        return [self.px[y * self.box_width + x]
                for y in range(max(0, self.y0 - margin), min(rows, self.y1 + margin + 1))
                for x in range(max(0, self.x0 - margin), min(self.box_width, self.x1 + margin + 1))]


def test_icon_is_crisp_at_2x_scale(desk, helper, desktop, lab):
    '''GDK_SCALE=2, as a HiDPI screen sets it: the panel asks the theme for
    the icon at twice its pixels (the icons are scalable SVG), so it is
    twice as large and its edges no wider than at 1x.'''
    panel = desktop.xfce4_panel()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the panel\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon at 1x')
    one = Drawn(desktop, GRANTED_RGB)
    panel.close()

    desktop.run('xfce4-panel-2x', ['xfce4-panel', '--disable-wm-check'], env={'GDK_SCALE': '2'})
    wait_until(lambda: (desktop.window_geometry('xfce4-panel', min_width=100) or (0, 0, 0, 0))[3]
               >= 60, SETTLE, what='the panel at 2x (64 pixels high)')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the 2x panel\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon at 2x', minimum=4 * 20)
    two = Drawn(desktop, GRANTED_RGB)
    desktop.keep_screenshot('xfce-tray-granted-2x.png')
    print(f'icon screen at 1x: {one.width}x{one.height}, {one.edge} edge pixels; '
          f'at 2x: {two.width}x{two.height}, {two.edge} edge pixels')
    assert two.width >= 1.8 * one.width and two.height >= 1.8 * one.height, \
        f'the icon is not drawn larger at 2x ({one.shot}, {two.shot})'
    # Crisp: edges keep their one-pixel width, so twice the outline's length
    # gives about twice as many; a 1x bitmap blown up would give four times.
    assert two.edge <= 2.5 * one.edge + 8, f'the 2x icon has blurred edges ({two.shot})'


def panel_background(desktop, rgb):
    '''Paints xfce4-panel's background one solid colour (its background-style
    1 and background-rgba, set through xfconf as its preferences dialog does).'''
    base = ['xfconf-query', '-c', 'xfce4-panel', '-p']
    desktop.run('xfconf-style', base + ['/panels/panel-1/background-style', '-n', '-t', 'uint',
                                        '-s', '1']).proc.wait(10)
    rgba = []
    for c in rgb + (255,):
        rgba += ['-t', 'double', '-s', f'{c / 255:.4f}']
    desktop.run('xfconf-rgba', base + ['/panels/panel-1/background-rgba', '-n'] + rgba).proc.wait(10)


@pytest.mark.parametrize('background', [(0x20, 0x20, 0x20), (0xf2, 0xf2, 0xf2)],
                         ids=['dark-panel', 'light-panel'])
@pytest.mark.parametrize('state', ['granted', 'denied'])
def test_icon_is_readable_on_the_panel(desk, helper, desktop, lab, state, background):
    '''Most of the icon (its screen, at least) stands out from the panel by
    3:1 or more (WCAG 2.1 1.4.11, non-text contrast), on a dark and on a
    light panel.'''
    if state == 'denied':
        lab.polkit.set_allowed([])
    rgb = GRANTED_RGB if state == 'granted' else DENIED_RGB
    desktop.xfce4_panel()
    panel_background(desktop, background)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in the panel\'s watcher')

    def painted():
        box = desktop.window_geometry('xfce4-panel', min_width=100)
        return near(desktop.pixels(desktop.screenshot('background'), box)[0], background, 8)
    wait_until(painted, SETTLE, what=f'the panel painted {background}')
    desktop.wait_icon(rgb, f'the {state} icon')
    drawn = Drawn(desktop, rgb)
    # The icon: what differs from the panel around its screen (frame and
    # stand included), not the panel's own edges elsewhere.
    icon = [p for p in drawn.around(drawn.width // 4 + 1) if not near(p, background, 8)]
    standing_out = sum(1 for p in icon if contrast(p, background) >= 3.0) / len(icon)
    print(f'{state} icon on {background}: {len(icon)} pixels, {standing_out:.0%} of them '
          f'stand out by 3:1 or more')
    desktop.keep_screenshot(f'xfce-tray-{state}-on-{"dark" if background[0] < 128 else "light"}.png')
    assert standing_out >= 0.5, f'the {state} icon fades into the panel ({drawn.shot})'


def shape(name, size=32):
    '''The symbolic icon's shape: which pixels it covers, from the SVG as
    GTK's icon loader (GdkPixbuf with librsvg) renders it.'''
    import gi
    gi.require_version('GdkPixbuf', '2.0')
    from gi.repository import GdkPixbuf
    path = os.path.join(SOURCE_DIR, 'data', 'icons', f'seatgate-{name}-symbolic.svg')
    pb = GdkPixbuf.Pixbuf.new_from_file_at_size(path, size, size)
    assert pb.get_n_channels() == 4
    data, stride = pb.get_pixels(), pb.get_rowstride()
    return {(x, y) for y in range(size) for x in range(size) if data[y * stride + 4 * x + 3] >= 128}


def test_states_differ_by_shape_not_colour_alone():
    '''The symbolic icons are one colour (a panel recolours them), so the
    state must be in the shape: each pair differs in a good part of it.'''
    shapes = {s: shape(s) for s in STATES}
    for a in STATES:
        for b in STATES:
            if a < b:
                differ = len(shapes[a] ^ shapes[b])
                print(f'{a} and {b} differ in {differ} of 1024 pixels at 32x32')
                assert differ >= 40, f'{a} and {b} look alike without colour'
