#!/usr/bin/python3
"""vm/desktop-trixie: a real display manager session (issue 13).
  desktoptest.py [--desktop xfce|gnome|plasma] --build DIR --out DIR
A Debian 13 guest (the VM suite's machine, vmtest.py, plus the desktop's
package list, made an autologin machine by its desktop/setup-* script;
cached like the suite's images) boots with a display (QEMU -vga std); the
display manager logs alice in (xfce: LightDM into Xfce on Xorg; gnome: GDM
into GNOME 48 on Wayland with the AppIndicator extension, the meson test
vm/desktop-gnome-trixie; gnome-notify: the same without the extension, so
no tray: the agent tells by notifications, vm/desktop-gnome-notify-trixie;
plasma: SDDM into Plasma 6's X11 session, kwin_x11, the meson test
vm/desktop-plasma-trixie), the session starts
seatgate-agent from the package's XDG autostart
entry, and guest/desktop_driver.py checks her session, the agent and her
grant, then revokes it. What is on the real screen is this side's to see: on the
guest's word (a virtio serial port, sg.ctl) it takes QMP screendumps until
the tray shows the granted icon, and after the revoke the denied one in
its place (without a tray: GNOME Shell's notification banner with each
icon); the screenshots stay in --out as PNG. TAP on stdout, one subtest
per check; exit 77 (0 under meson) with "1..0 # SKIP <reason>" when the
machine cannot run it. SEATGATE_VM_KEEP_DISK=1 keeps the guest's disk (its
journal) after a run; SEATGATE_VM_DESKTOP_TIMEOUT (s) bounds QEMU's run."""
import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import screen  # noqa: E402
import vmtest  # noqa: E402
from vmtest import INFRA, Record, Tap, run, skip, tail  # noqa: E402

RELEASE = 'trixie'
UNITS = ('sg-vmtest-desktop.service',)
# name: the image's cache name; lists: build-image's packages; setup: what
# makes it log alice in; tcg_cpu: QEMU's -cpu under TCG (default max);
# guest: the desktop the guest driver checks (default the key); purge:
# packages taken out of the installed guest (a site without them); tray:
# False when no tray shows the agent, so it tells by notifications.
#
# GNOME runs on an x86-64-v2 CPU model (Nehalem: SSE4.2, no AVX). With
# -cpu max, whose AVX and AVX2 QEMU 7.2's TCG emulates, GNOME Shell 48 died
# of SIGSEGV in every try (in llvmpipe's 256-bit AVX2 code; with
# LP_NATIVE_VECTOR_WIDTH=128 in gnome-shell's own thread), and GDM gave up;
# on Nehalem it comes up every time. Debian 13 needs x86-64 (v1) only.
GNOME_CPU = 'Nehalem'
DESKTOPS = {
    'xfce': {'name': 'desktop-trixie', 'title': 'LightDM and Xfce',
             'lists': ('packages-trixie.txt', 'packages-desktop-trixie.txt'), 'setup': 'desktop/setup-lightdm'},
    'gnome': {'name': 'desktop-gnome-trixie', 'title': 'GDM and GNOME',
              'lists': ('packages-trixie.txt', 'packages-desktop-gnome-trixie.txt'), 'setup': 'desktop/setup-gdm',
              'tcg_cpu': GNOME_CPU},
    'gnome-notify': {'name': 'desktop-gnome-trixie', 'title': 'GDM and GNOME without a tray extension',
                     'lists': ('packages-trixie.txt', 'packages-desktop-gnome-trixie.txt'),
                     'setup': 'desktop/setup-gdm', 'tcg_cpu': GNOME_CPU, 'guest': 'gnome',
                     'purge': ('gnome-shell-extension-appindicator',), 'tray': False},
    'plasma': {'name': 'desktop-plasma-trixie', 'title': 'SDDM and KDE Plasma',
               'lists': ('packages-trixie.txt', 'packages-desktop-plasma-trixie.txt'), 'setup': 'desktop/setup-sddm'},
}
TIMEOUT = int(os.environ.get('SEATGATE_VM_DESKTOP_TIMEOUT', '600'))

# data/icons: the monitor's screen in seatgate-granted.svg and -denied.svg.
# The grey has a blue cast (b - r = 21) that no neutral grey of the panel or
# the clock's anti-aliased text has, hence its narrow tolerance.
GRANTED_RGB, GRANTED_TOL = (0x2e, 0x9e, 0x4f), 24
DENIED_RGB, DENIED_TOL = (0x6b, 0x75, 0x80), 8
MIN_PIXELS = 20    # a 16 px icon's screen is 12x9 px, less its white mark
MAX_ICON = 64      # px: the colour must be one icon, not a stretch of screen
# Where the tray is: Xfce's default top panel (panel-1, 26 px high at
# 1280x800; the icon in rows 2-24). A notification with the granted icon
# comes first when the agent is granted before the panel's tray is up (seen
# under a loaded TCG: xfce4-notifyd's popup 16-43 px from the top, its icon
# from row 33 down): it must not count as the icon in the tray, so only an
# icon wholly within these rows does.
TOP_PANEL = (0, 0, 10 ** 6, 30)
# Plasma's default panel is at the bottom (44 px high, floating a few px
# above the edge since Plasma 6), its system tray at the right; a
# notification with the same icon pops up above it. The tray is in the
# bottom PLASMA_PANEL rows.
PLASMA_PANEL = 60


# GNOME Shell's notification banner: centred below its top bar (GNOME 48:
# 512 px wide at 1280x800, rows 36-133), its source's icon at the left of
# its header.
BANNER_HALF, BANNER_BOTTOM = 320, 240


def banner_area(image):
    return (image.width // 2 - BANNER_HALF, TOP_PANEL[3], image.width // 2 + BANNER_HALF, BANNER_BOTTOM)


def tray_area(desktop, image):
    """The rows of the screen the desktop's tray is in (a box)."""
    if desktop == 'plasma':
        return (0, image.height - PLASMA_PANEL, 10 ** 6, image.height)
    return TOP_PANEL


def in_tray_area(box, area):
    return box is not None and box[1] >= area[1] and box[3] < area[3] - 1


# Plasma's tray draws the agent's -symbolic icons, recoloured by
# KIconLoader to the panel's text colour (the SVGs' current-color-scheme
# style: Breeze's #232629 here; the SVGs' own #2e3436 before they had it),
# so colour tells the states apart no more: their shapes do. The symbolic icons' screens hold a sign cut
# out of the ink: the tick (granted) is lopsided, the no-entry bar (denied)
# symmetric about the icon's middle. Mirrored holes over holes, rendered from
# data/icons at 16-32 px: granted 0.50-0.65, unavailable 0.73-0.80, denied
# 1.0; on the real screen (Plasma 6.3, 18x17 px) granted 0.57.
SYMBOLIC_RGB, SYMBOLIC_TOL = (0x23, 0x26, 0x29), 12
SYMBOLIC_MIN = 80        # ink px: the solid screen and stand of a 16 px icon hold 130
GRANTED_SYMMETRY = 0.68  # at most, for the tick
DENIED_SYMMETRY = 0.9    # at least, for the no-entry sign


# GNOME Shell 48 draws a notification's icon (app_icon) -symbolic in its
# banner's header, light grey on the banner's dark grey (measured:
# #9b9b9b on #54545a).
LIGHT_INK = ((0x9b, 0x9b, 0x9b), 20)


def ink_clusters(image, area, ink=(SYMBOLIC_RGB, SYMBOLIC_TOL)):
    """Boxes (x0, y0, x1, y1, ink px) of runs of columns of area that hold
    the symbolic icons' ink, a gap of 2 columns or more between runs."""
    x0, y0, x1, y1 = area
    found, cur = [], None
    for x in range(max(0, x0), min(x1, image.width)):
        n, box = screen.find_colour(image, *ink, (x, y0, x + 1, y1))
        if not n:
            continue
        if cur and x - cur[2] <= 2:
            cur = [cur[0], min(cur[1], box[1]), x + 1, max(cur[3], box[3]), cur[4] + n]
        else:
            if cur:
                found.append(tuple(cur))
            cur = [x, box[1], x + 1, box[3], n]
    if cur:
        found.append(tuple(cur))
    return found


def light_ink_clusters(image, area, band=24, step=6):
    """Clusters as ink_clusters makes them, of LIGHT_INK, in bands of rows
    of area, each whole within its band: the banner's icon apart from the
    lines of text under it."""
    cols = screen.colour_columns(image, *LIGHT_INK, area)
    found = set()
    for top in range(area[1], area[3] - band + 1, step):
        cur = None
        for x in sorted(cols):
            ys = [y for y in cols[x] if top <= y < top + band]
            if not ys:
                continue
            if cur and x - cur[2] <= 2:
                cur = [cur[0], min(cur[1], ys[0]), x + 1, max(cur[3], ys[-1] + 1), cur[4] + len(ys)]
                continue
            if cur and cur[1] > top and cur[3] < top + band:
                found.add(tuple(cur))
            cur = [x, ys[0], x + 1, ys[-1] + 1, len(ys)]
        if cur and cur[1] > top and cur[3] < top + band:
            found.add(tuple(cur))
    return sorted(found)


def symbolic_sign(image, cluster, light_ink=False):
    """(holes, symmetry) of a symbolic icon: the pixels that are not ink in
    its screen (the top 11 of its 14 rows, within its frame), and the share
    of them whose mirror image about the icon's middle is a hole too."""
    x0, y0, x1, y1, _ = cluster
    body = y0 + (y1 - y0) * 11 // 14
    # A hole: the background shows through, on the far side of mid-grey.
    holes = {(x, y) for x in range(x0 + 1, x1 - 1) for y in range(y0 + 1, body - 1)
             if (sum(image.pixel(x, y)) < 400) == light_ink}
    mirrored = sum(1 for (x, y) in holes if (x0 + x1 - 1 - x, y) in holes)
    return len(holes), (mirrored / len(holes) if holes else 0.0)


def symbolic_icons(image, area, light_ink=False):
    """The symbolic icons of the agent in area: [(state, box, holes, symmetry)],
    state 'granted', 'denied' or None (an icon-sized cluster of its ink with
    neither sign). light_ink: light icons on a dark ground (GNOME's
    banner), beside text of that colour: only a square cluster taller than
    a line of it counts."""
    icons = []
    for c in (light_ink_clusters(image, area) if light_ink else ink_clusters(image, area)):
        w, h = c[2] - c[0], c[3] - c[1]
        if c[4] < SYMBOLIC_MIN or not (10 <= w <= MAX_ICON and 10 <= h <= MAX_ICON):
            continue
        if light_ink and (h < 14 or abs(w - h) > 4):
            continue
        holes, symmetry = symbolic_sign(image, c, light_ink)
        state = None
        if holes >= 10 and symmetry <= GRANTED_SYMMETRY:
            state = 'granted'
        elif holes >= 10 and symmetry >= DENIED_SYMMETRY:
            state = 'denied'
        icons.append((state, c[:4], holes, round(symmetry, 2)))
    return icons


EVERY = 0.5        # s between screendumps: nothing signals "drawn"


def desktop_image(desktop, mirror, log):
    '''CACHE/NAME-KEY/root (NAME: the desktop's name), built when one of the desktop's lists, its setup
    script, build-image or the mirror changed: build-image with both package
    lists, then the setup script; only a finished image gets the name root.'''
    d = DESKTOPS[desktop]
    image = d['name']
    h = hashlib.sha256()
    for name in d['lists'] + ('build-image', d['setup']):
        with open(os.path.join(HERE, name), 'rb') as f:
            h.update(f.read())
    h.update(mirror.encode())
    key = h.hexdigest()[:16]
    os.makedirs(vmtest.CACHE, mode=0o700, exist_ok=True)
    out = os.path.join(vmtest.CACHE, f'{image}-{key}')
    with vmtest.locked(os.path.join(vmtest.CACHE, f'{image}.lock')):
        if os.path.isdir(os.path.join(out, 'root')):
            return out, False
        for old in os.listdir(vmtest.CACHE):
            if old.startswith(image + '-') and old != os.path.basename(out):
                shutil.rmtree(os.path.join(vmtest.CACHE, old), ignore_errors=True)
        stage = os.path.join(out, 'stage')
        os.makedirs(stage, exist_ok=True)
        packages = os.path.join(out, 'packages.txt')
        with open(packages, 'w') as f:
            for name in d['lists']:
                with open(os.path.join(HERE, name)) as part:
                    f.write(part.read())
        run([os.path.join(HERE, 'build-image'), RELEASE, mirror, packages, stage], 900, log)
        run([os.path.join(HERE, d['setup']), os.path.join(stage, 'root')], 120, log)
        os.replace(os.path.join(stage, 'root'), os.path.join(out, 'root'))
        shutil.rmtree(stage, ignore_errors=True)
    return out, True


class Qmp:
    def __init__(self, conn):
        self.f = conn.makefile('rw', encoding='utf-8', newline='\n')
        self._reply()  # the greeting
        self.execute('qmp_capabilities')

    def _reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError('QEMU closed the QMP socket')
            msg = json.loads(line)
            if 'event' not in msg:
                return msg

    def execute(self, command, **arguments):
        self.f.write(json.dumps({'execute': command, 'arguments': arguments}) + '\n')
        self.f.flush()
        msg = self._reply()
        if 'error' in msg and 'QMP' not in msg:
            raise RuntimeError(f'QMP {command}: {msg["error"]}')
        return msg.get('return')


class Screen(threading.Thread):
    '''The host's side of the guest's control port: it answers each
    {"screen": STATE} with what the screendumps showed. QEMU connects to
    both sockets as a client when it starts, so the accepts are the wait.'''

    def __init__(self, run_dir, desktop, tray=True):
        super().__init__(daemon=True)
        self.dir = run_dir
        self.desktop = desktop
        self.tray = tray
        self.listeners = {}
        for name in ('qmp', 'ctl'):
            path = os.path.join(run_dir, f'{name}.sock')
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(1)
            s.settimeout(60)
            self.listeners[name] = (s, path)
        self.t0 = None
        self.icon_box = None
        self.shots = 0
        self.error = None
        self.log = []

    def qemu_args(self):
        qmp, ctl = self.listeners['qmp'][1], self.listeners['ctl'][1]
        return ['-chardev', f'socket,id=qmp,path={qmp}', '-mon', 'chardev=qmp,mode=control',
                '-device', 'virtio-serial-pci,id=vser',
                '-chardev', f'socket,id=sgctl,path={ctl}',
                '-device', 'virtserialport,bus=vser.0,chardev=sgctl,name=sg.ctl']

    def run(self):
        try:
            self.t0 = time.monotonic()
            qmp_conn, _ = self.listeners['qmp'][0].accept()
            ctl_conn, _ = self.listeners['ctl'][0].accept()
            self.qmp = Qmp(qmp_conn)
            ctl = ctl_conn.makefile('rw', encoding='utf-8', newline='\n')
            for line in ctl:
                try:
                    reply = self.answer(json.loads(line))
                except (OSError, RuntimeError, ValueError) as e:  # the guest's check fails, and says why
                    reply = {'ok': False, 'detail': f'the host could not look at the screen: {type(e).__name__}: {e}'}
                ctl.write(json.dumps(reply) + '\n')
                ctl.flush()
        except (OSError, RuntimeError, ValueError) as e:
            self.error = f'{type(e).__name__}: {e}'

    def dump(self):
        path = os.path.join(self.dir, 'screen.ppm')
        self.qmp.execute('screendump', filename=path)
        self.shots += 1
        return screen.read_ppm(path)

    def keep(self, image, name):
        path = os.path.join(self.dir, name)
        screen.write_png(image, path)
        return path

    def watch(self, timeout, seen, first=None):
        '''Screendumps until seen(image) gives (True, detail), or timeout s;
        the first one is kept as the PNG first, to show where the screen was
        when the guest asked.'''
        start = time.monotonic()
        deadline = start + timeout
        wake = threading.Event()
        while True:
            image = self.dump()
            if first:
                self.keep(image, first)
                first = None
            ok, detail = seen(image)
            now = time.monotonic()
            if ok or now >= deadline:
                return ok, detail, image, now - start, now
            wake.wait(EVERY)

    def answer(self, request):
        state = request.get('screen')
        timeout = float(request.get('timeout', 120))
        if self.desktop == 'plasma':
            return self.answer_symbolic(state, timeout)
        if not self.tray:
            return self.answer_banner(state, timeout)
        if state == 'granted':
            drawn = []

            def seen(image):
                # The desktop is up when something covers 1 % of the screen
                # (Xfce here has no wallpaper: its panel is the first thing
                # drawn); until then the screen is black but for the pointer.
                if not drawn:
                    dark, _ = screen.find_colour(image, (0, 0, 0), 16)
                    if image.width * image.height - dark >= image.width * image.height // 100:
                        drawn.append(time.monotonic())
                area = tray_area(self.desktop, image)
                n, box = screen.find_colour(image, GRANTED_RGB, GRANTED_TOL, area)
                icon = in_tray_area(box, area) and box[2] - box[0] <= MAX_ICON
                return n >= MIN_PIXELS and icon, f'{n} green px in {box} of {image.width}x{image.height}'
            ok, detail, image, took, at = self.watch(timeout, seen, 'screen-granted-first.png')
            if ok:
                self.icon_box = screen.find_colour(image, GRANTED_RGB, GRANTED_TOL,
                                                   tray_area(self.desktop, image))[1]
            path = self.keep(image, 'screen-granted.png' if ok else 'screen-granted-missing.png')
            measured = {'host_grant_asked_to_icon_on_screen_s': round(took, 2)}
            if drawn:  # at the first screendump already, if it was up before the guest asked
                measured['host_qemu_start_to_desktop_drawn_s'] = round(drawn[0] - self.t0, 1)
                measured['host_desktop_drawn_to_icon_on_screen_s'] = round(at - drawn[0], 2)
            if ok:
                measured['host_qemu_start_to_icon_on_screen_s'] = round(at - self.t0, 1)
            return {'ok': ok, 'measured': measured,
                    'detail': f'{"seen" if ok else "not seen"} after {took:.1f} s ({self.shots} screendumps so far): '
                              f'{detail}; screenshot {path}'}
        if state == 'denied':
            if self.icon_box is None:
                return {'ok': False, 'detail': 'the granted icon was never seen, so there is no place to look'}
            x0, y0, x1, y1 = self.icon_box
            # The granted icon's rows of the panel, its whole width: the
            # panel lays its plugins out again as they come up (the actions
            # plugin's user name, seen late under TCG, moved the tray left).
            box = (0, y0 - 8, 10 ** 6, y1 + 8)

            def seen(image):
                green, _ = screen.find_colour(image, GRANTED_RGB, GRANTED_TOL, box)
                grey, gbox = screen.find_colour(image, DENIED_RGB, DENIED_TOL, box)
                icon = gbox is not None and gbox[2] - gbox[0] <= MAX_ICON and gbox[3] - gbox[1] <= MAX_ICON
                where = f' ({gbox[0] - x0:+d} px from the granted icon)' if gbox else ''
                return green == 0 and grey >= MIN_PIXELS and icon, \
                    f'in rows {box[1]}-{box[3]}: {green} green px, {grey} denied-grey px in {gbox}{where}'
            ok, detail, image, took, _ = self.watch(timeout, seen)
            path = self.keep(image, 'screen-denied.png' if ok else 'screen-denied-missing.png')
            return {'ok': ok, 'measured': {'host_revoke_asked_to_denied_on_screen_s': round(took, 2)},
                    'detail': f'{"seen" if ok else "not seen"} after {took:.1f} s: {detail}; screenshot {path}'}
        return {'ok': False, 'detail': f'the host does not know the screen state {state!r}'}

    def answer_banner(self, state, timeout):
        """No tray: the agent's notification in GNOME Shell's banner, with
        the state's -symbolic icon in its header, told apart by its sign.
        The first screendumps that show one are kept (a banner goes in
        seconds)."""
        if state not in ('granted', 'denied'):
            return {'ok': False, 'detail': f'the host does not know the screen state {state!r}'}
        kept = []

        def seen(image):
            area = banner_area(image)
            icons = symbolic_icons(image, area, light_ink=True)
            if icons and len(kept) < 5:
                kept.append(self.keep(image, f'screen-{state}-banner-{len(kept)}.png'))
            mine = [i for i in icons if i[0] == state]
            other = [i for i in icons if i[0] not in (state, None)]
            return len(mine) == 1 and not other, \
                (f'icons of light ink in the banner\'s place {area} (state, box, holes, mirrored share): {icons}')
        first = 'screen-granted-first.png' if state == 'granted' else None
        ok, detail, image, took, at = self.watch(timeout, seen, first)
        path = self.keep(image, f'screen-{state}.png' if ok else f'screen-{state}-missing.png')
        key = 'host_grant_asked_to_banner_on_screen_s' if state == 'granted' else \
            'host_revoke_asked_to_banner_on_screen_s'
        return {'ok': ok, 'measured': {key: round(took, 2)},
                'detail': f'{"seen" if ok else "not seen"} after {took:.1f} s ({self.shots} screendumps so far): '
                          f'{detail}; screenshot {path}; banners kept: {kept}'}

    def answer_symbolic(self, state, timeout):
        """Plasma: the tray's symbolic icon, told apart by its sign (the
        tick, then after the revoke the no-entry bar in the panel)."""
        if state not in ('granted', 'denied'):
            return {'ok': False, 'detail': f'the host does not know the screen state {state!r}'}
        if state == 'denied' and self.icon_box is None:
            return {'ok': False, 'detail': 'the granted icon was never seen, so there is no place to look'}
        drawn = []

        def seen(image):
            # The whole panel for both: it is drawn full width at the
            # bottom edge first, then floats 8 px higher (measured: the
            # granted icon at rows 771-788, the denied one later at 763-780).
            area = tray_area(self.desktop, image)
            if not drawn:
                dark, _ = screen.find_colour(image, (0, 0, 0), 16)
                if image.width * image.height - dark >= image.width * image.height // 100:
                    drawn.append(time.monotonic())
            icons = symbolic_icons(image, area)
            mine = [i for i in icons if i[0] == state]
            other = [i for i in icons if i[0] not in (state, None)]
            ok = len(mine) == 1 and not other and in_tray_area(mine[0][1], area)
            if ok and state == 'granted':
                self.icon_box = mine[0][1]
            return ok, (f'icons of the symbolic ink in rows {area[1]}-{area[3]} '
                        f'(state, box, holes, mirrored share): {icons}')
        first = 'screen-granted-first.png' if state == 'granted' else None
        ok, detail, image, took, at = self.watch(timeout, seen, first)
        path = self.keep(image, f'screen-{state}.png' if ok else f'screen-{state}-missing.png')
        if state == 'granted':
            measured = {'host_grant_asked_to_icon_on_screen_s': round(took, 2)}
            if drawn:
                measured['host_qemu_start_to_desktop_drawn_s'] = round(drawn[0] - self.t0, 1)
                measured['host_desktop_drawn_to_icon_on_screen_s'] = round(at - drawn[0], 2)
            if ok:
                measured['host_qemu_start_to_icon_on_screen_s'] = round(at - self.t0, 1)
        else:
            measured = {'host_revoke_asked_to_denied_on_screen_s': round(took, 2)}
        return {'ok': ok, 'measured': measured,
                'detail': f'{"seen" if ok else "not seen"} after {took:.1f} s ({self.shots} screendumps so far): '
                          f'{detail}; screenshot {path}'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--desktop', choices=sorted(DESKTOPS), default='xfce')
    ap.add_argument('--build', required=True, help='the meson build directory')
    ap.add_argument('--out', required=True, help='where this run keeps its logs and screenshots')
    args = ap.parse_args()
    desk = DESKTOPS[args.desktop]

    if os.geteuid() != 0:
        skip('the VM suite needs root (debootstrap, chroot, mke2fs -d of a root file system): run it with sudo')
    missing = [t for t in ('qemu-system-x86_64', 'debootstrap', 'mke2fs', 'chroot', 'dpkg-deb', 'git')
               if shutil.which(t) is None]
    if missing:
        skip(f'{", ".join(missing)} not installed (Debian: qemu-system-x86 debootstrap e2fsprogs dpkg git; '
             'tests/run installs them)')
    head, dirty = vmtest.git_facts()
    if head is None:
        skip(f'{vmtest.SOURCE} is not a git checkout: the guest installs the packages build-debs builds from HEAD')
    mirror = vmtest.apt_mirror(RELEASE)
    if mirror is None:
        skip("no Debian mirror for main in this machine's apt sources (apt-cache policy), so no image can be built")

    t_all = time.monotonic()
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    log = os.path.join(out_dir, 'host.log')
    open(log, 'w').close()
    for old in os.listdir(out_dir):  # a last run's screenshots would mislead
        if old.startswith('screen-') and old.endswith('.png'):
            os.unlink(os.path.join(out_dir, old))
    tap = Tap()
    rec = Record(tap)
    accel = 'kvm' if vmtest.kvm_works() else 'tcg'
    cpu = f' (-cpu {desk.get("tcg_cpu", "max")})' if accel == 'tcg' else ''
    tap.comment(f'Debian 13 ({RELEASE}) with {desk["title"]} from {mirror}, accelerator {accel}{cpu}; logs in {out_dir}')
    if dirty:
        tap.comment('uncommitted changes are NOT in the packages the guest installs (built from HEAD):\n' + dirty)

    t = time.monotonic()
    try:
        debs = vmtest.build_packages(args.build, log)
    except vmtest.Skip as e:
        skip(f'the Debian packages cannot be built here: {e}')
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        rec.result(INFRA, False, 'seatgate\'s Debian packages build from the committed tree (build-debs)', str(e))
        tap.end()
        return 1
    rec.result(INFRA, True, 'seatgate\'s Debian packages build from the committed tree (build-debs)',
               f'{", ".join(vmtest.package_debs(debs["current"]))} in {debs["current"]}')
    tap.measured('debs_build_s' if debs['built'] else 'debs_cached_s', round(time.monotonic() - t, 1), 's')

    t = time.monotonic()
    image_check = f'the Debian 13 {args.desktop} image is built (debootstrap, {DESKTOPS[args.desktop]["setup"]})'
    try:
        base, built = desktop_image(args.desktop, mirror, log)
    except RuntimeError as e:
        rec.result(INFRA, False, image_check, str(e))
        tap.end()
        return 1
    rec.result(INFRA, True, image_check,
               f'{"built" if built else "cached"}: {base}')
    tap.measured('image_build_s' if built else 'image_cached_s', round(time.monotonic() - t, 1), 's')

    t = time.monotonic()
    img = os.path.join(out_dir, 'disk.img')
    installed = 'seatgate is installed into the guest from its packages (apt install ./seatgate_*.deb ' \
                './seatgate-agent_*.deb)'
    try:
        root, kernel, initrd = vmtest.stage(base, out_dir, debs, log, units=UNITS, driver='desktop_driver')
        if desk.get('purge'):
            run(['chroot', root, '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
                 'dpkg', '--purge', *desk['purge']], 120, log)
        with open(os.path.join(root, 'usr', 'lib', 'sg-vmtest', 'desktop.json'), 'w') as f:
            json.dump({'desktop': desk.get('guest', args.desktop), 'tray': desk.get('tray', True)}, f)
        if os.path.exists(img):
            os.unlink(img)
        run(['mke2fs', '-q', '-t', 'ext4', '-L', 'sg-root', '-d', root, img, '4G'], 300, log)
        shutil.rmtree(root, ignore_errors=True)
    except (RuntimeError, OSError, IndexError) as e:
        rec.result(INFRA, False, installed, str(e))
        tap.end()
        return 1
    rec.result(INFRA, True, installed, f'disk {img}, kernel {os.path.basename(kernel)}')
    tap.measured('install_and_disk_s', round(time.monotonic() - t, 1), 's')

    vmtest.QEMU_TIMEOUT = TIMEOUT
    watcher = Screen(out_dir, desk.get('guest', args.desktop), desk.get('tray', True))
    watcher.start()
    wall, killed, rc, qemu_out, console, results = vmtest.boot(out_dir, kernel, initrd, img, accel,
                                                               extra=watcher.qemu_args(),
                                                               tcg_cpu=desk.get('tcg_cpu', 'max'))
    watcher.join(10)
    for left in ('screen.ppm', 'qmp.sock', 'ctl.sock'):  # the last raw screendump, the sockets; the PNGs stay
        if os.path.exists(os.path.join(out_dir, left)):
            os.unlink(os.path.join(out_dir, left))
    events = vmtest.read_results(results)
    if not killed and not os.environ.get('SEATGATE_VM_KEEP_DISK'):
        os.unlink(img)  # 4 GB sparse; kept after an overrun (or with SEATGATE_VM_KEEP_DISK=1) for a look
    plan = next((e['plan'] for e in events if 'plan' in e), None)
    info = {}
    for e in events:
        info.update(e.get('info') or {})
    rec.result(INFRA, plan is not None, 'Debian 13 boots and the desktop driver starts (systemd as PID 1)',
               f'driver started {next((e["t"] for e in events if "plan" in e), None)} s after the kernel'
               if plan is not None else f'no plan from the guest driver; QEMU rc {rc}'
               f'{"; " + killed if killed else ""}\n{qemu_out[-1000:]}')
    if info:
        tap.comment('guest: ' + ', '.join(f'{k} {v}' for k, v in sorted(info.items())))
    if watcher.error:
        tap.comment(f'host screen watcher: {watcher.error}')
    for e in events:
        if 'measured' in e:
            tap.measured(e['measured'], e['value'], e.get('unit', ''))
        if 'error' in e:
            tap.comment('guest driver: ' + e['error'])
    by_name = {e['check']: e for e in events if 'check' in e}
    for name in plan or []:
        e = by_name.get(name)
        if e is None:
            rec.result('not run', False, name, 'no result: the guest stopped before this check ran')
            continue
        detail = e.get('detail', '') + (f'\n(took {e["s"]} s)' if e.get('s') is not None else '')
        if not e['ok'] and e.get('evidence'):
            detail += '\nevidence:\n' + e['evidence']
        rec.result(e.get('group', 'desktop'), e['ok'], name, detail.strip())
    trouble = vmtest.kernel_trouble(console)
    rec.result(INFRA, not trouble, 'the guest kernel reports no BUG, oops, soft lockup, hung task or panic',
               '\n'.join(trouble[:12]))
    done = any(e.get('done') for e in events)
    rec.result(INFRA, done and not killed, 'the guest powers off by itself when the driver is done',
               f'QEMU ran {wall:.1f} s' + (f'; {killed}' if killed else ''))
    tap.measured('qemu_wall_s', round(wall, 1), 's')
    tap.measured('whole_test_s', round(time.monotonic() - t_all, 1), 's')
    if tap.failed:
        tap.comment(f'--- serial console ({console}), last 150 lines ---')
        tap.comment(tail(console, 150))
    tap.end()
    return 0


if __name__ == '__main__':
    sys.exit(main())
