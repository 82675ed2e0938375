'''The agent on sway (1.7, headless backend) with waybar's tray (0.9):
the granted icon drawn within 2 s of the bar, a refusal at the seat kept
visible, the background session hidden (waybar hides Passive items) and
shown again on the way back, clicks and the menu as waybar delivers them,
the agent started by sway's config through dex, and without a bar the
notification drawn by mako and dunst, a click on it opening the console
(issue 13).'''

import json
import os
import re
import subprocess
import time

import pytest

from desktop_lab import DENIED_RGB, GRANTED_RGB, missing, notify_calls
from seatgate_lab import CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, wait_until
from test_xfce import in_panel

pytestmark = pytest.mark.skipif(bool(missing('sway', 'swaymsg', 'waybar', 'grim', 'convert')),
                                reason='needs sway, waybar and grim')

SETTLE = 10.0


def near(p, rgb, tolerance=24):
    return all(abs(a - b) <= tolerance for a, b in zip(p, rgb))


def icon_count(desktop, rgb):
    return sum(1 for p in desktop.grim_pixels(desktop.bar_box) if near(p, rgb))


# waybar's background (Debian's /etc/xdg/waybar/style.css: rgba(43, 48, 59,
# 0.5)) over sway's own (#3f3f3f, no wallpaper), as grim reads it.
WAYBAR_RGB = (52, 55, 60)


def bar_drawn(pixels):
    '''waybar's bar is on screen: most of its rows in its background.'''
    return sum(1 for p in pixels if near(p, WAYBAR_RGB, 4)) >= len(pixels) // 2


def icon_centre(desktop, rgb):
    '''The middle of the icon's pixels in the bar, in layout coordinates.'''
    x0, y0, w, _h = desktop.bar_box
    hits = [(i % w, i // w) for i, p in enumerate(desktop.grim_pixels(desktop.bar_box))
            if near(p, rgb)]
    assert hits, 'the icon is not in the bar'
    xs, ys = [h[0] for h in hits], [h[1] for h in hits]
    return x0 + (min(xs) + max(xs)) // 2, y0 + (min(ys) + max(ys)) // 2


def test_waybar_draws_the_granted_icon_within_2_s(desk, helper, desktop):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state('seatgate-granted')
    sway = desktop.sway_waybar()
    # Both timed on grim's own grabs of the bar's rows, one after another.
    bar_up = wait_until(lambda: (lambda t: bar_drawn(desktop.grim_pixels(desktop.bar_box)) and t)(
        time.monotonic()), 20, 0.02, 'waybar\'s bar drawn')

    def icon():
        started = time.monotonic()
        return icon_count(desktop, GRANTED_RGB) >= 20 and started
    drawn = wait_until(icon, 5.0, 0.02, 'the granted icon in waybar')
    print(f'sway start to bar drawn: {bar_up - sway.started:.2f} s; '
          f'bar drawn to icon drawn: {drawn - bar_up:.2f} s')
    assert in_panel(desk, agent)
    desktop.screenshot('granted')
    desktop.keep_screenshot('sway-waybar-granted.png')
    assert drawn - bar_up < 2.0


def test_waybar_follows_a_seat_switch_away_and_back(desk, helper, desktop, lab):
    desktop.sway_waybar()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in waybar\'s watcher')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in waybar')
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_item(lambda p: p['Status'] == 'Passive', 'Passive')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon gone', present=False)
    desktop.wait_icon(DENIED_RGB, 'no denied icon either', present=False)
    desktop.keep_screenshot('sway-waybar-background.png')
    lab.logind.activate(CONSOLE_SESSION)
    agent.wait_item(lambda p: p['Status'] != 'Passive', 'not Passive')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon back')
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def test_waybar_shows_a_polkit_refusal(desk, helper, desktop, lab):
    lab.polkit.set_allowed([])
    desktop.sway_waybar()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['IconName'] == 'seatgate-denied', 'the denied state')
    wait_until(lambda: in_panel(desk, agent), SETTLE, what='the item in waybar\'s watcher')
    desktop.wait_icon(DENIED_RGB, 'the denied icon in waybar')
    desktop.keep_screenshot('sway-waybar-refused.png')
    assert props['Status'] == 'NeedsAttention'


# --- clicks, through sway's own seat commands ----------------------------------------
# waybar 0.9 (src/modules/sni/item.cpp, Item::handleClick, on the event box's
# button-press signal): button 1 calls the item's Activate unless ItemIsMenu;
# button 3 builds a dbusmenu GtkMenu from the item's Menu (Item::makeMenu,
# dbusmenu_gtkmenu_new) and pops it up at the pointer.

@pytest.mark.skipif(bool(missing('wayvnc')), reason='needs wayvnc (a pointer for sway\'s seat)')
def test_waybar_left_click_opens_the_vm_console(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.sway_waybar()
    # Without a pointer device the seat offers clients no wl_pointer
    # (sway/input/seat.c seat_update_capabilities), so waybar would get no
    # click: wayvnc adds a virtual one.
    before, after = desktop.sway_pointer()
    print(f'seat0 capabilities: {before} without input devices, {after} with wayvnc\'s')
    assert before == 0 and after & 1
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in waybar')
    x, y = icon_centre(desktop, GRANTED_RGB)
    desktop.sway_click(1, x, y)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert 'Tray: Activate from' in agent.log()


def menu_box(desktop, shot):
    '''(x, y, w, h) of the menu below the bar: the light rows and columns
    of the screen under it (sway's background is #3f3f3f).'''
    _x, bar_y, width, bar_h = desktop.bar_box
    box = (0, bar_y + bar_h, width, 200)
    pixels = desktop.pixels(shot, box)
    light = [(i % width, i // width) for i, p in enumerate(pixels) if min(p) >= 200]
    if len(light) < 2000:
        return None
    xs, ys = [p[0] for p in light], [p[1] for p in light]
    return min(xs), box[1] + min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def first_item_row(desktop, shot, box):
    '''The middle row of the menu's first label (its first run of rows
    with dark text pixels).'''
    x, y, w, h = box
    pixels = desktop.pixels(shot, box)
    rows = [r for r in range(h) if any(max(p) < 120 for p in pixels[r * w:(r + 1) * w])]
    assert rows, 'no text in the menu'
    end = rows[0]
    while end + 1 in rows:
        end += 1
    return y + (rows[0] + end) // 2


@pytest.mark.skipif(bool(missing('wayvnc')), reason='needs wayvnc (a pointer for sway\'s seat)')
def test_waybar_menu_open_vm_console_runs_the_viewer(desk, helper, desktop, lab):
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.sway_waybar()
    desktop.sway_pointer()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in waybar')
    x, y = icon_centre(desktop, GRANTED_RGB)
    desktop.sway_click(3, x, y)
    found = {}

    def menu():
        shot = desktop.screenshot('menu')
        found['box'], found['shot'] = menu_box(desktop, shot), shot
        return found['box']
    box = wait_until(menu, SETTLE, 0.1, 'waybar\'s menu drawn')
    desktop.keep_screenshot('sway-waybar-menu.png')
    # The first item is "Open VM console" (agent/menu.c); a click on it.
    desktop.sway_click(1, box[0] + box[2] // 2, first_item_row(desktop, found['shot'], box))
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    # Through the menu's Event, not the item's Activate.
    assert 'Tray: Activate from' not in agent.log()


# --- the agent started by the desktop: sway's config runs dex ------------------------

@pytest.mark.skipif(bool(missing('dex')), reason='needs dex')
def test_sway_config_starts_the_agent_through_dex(desk, helper, desktop, lab):
    '''sway has no XDG autostart of its own; its config's
    `exec dex --autostart --environment sway` runs every entry of
    $XDG_CONFIG_HOME/autostart and each XDG_CONFIG_DIRS' autostart (the
    private install's first) whose OnlyShowIn/NotShowIn allow "sway" and
    whose TryExec is there (dex get_autostart_files, execute). sway 1.7
    runs exec's command through a double fork (commands/exec_always.c
    cmd_exec_process: "Second fork() failed" in its binary), so the agent
    is no descendant of sway in the process tree (its parent is the PID
    namespace's init): what marks it as this sway's is the environment
    sway gives its children (SWAYSOCK and I3SOCK naming its IPC socket,
    ipc-server.c ipc_init).'''
    bindir = os.path.join(desktop.prefix, 'bin')
    desktop.env.update({'PATH': f'{bindir}:/usr/bin:/bin',
                        'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address})
    sway = desktop.sway_waybar(config='exec dex --autostart --environment sway --verbose\n')
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], 30,
               what='the autostarted agent to obtain the grant')
    print(f'sway start to grant: {time.monotonic() - sway.started:.2f} s')
    desktop.wait_icon(GRANTED_RGB, 'the granted icon in waybar')
    desktop.keep_screenshot('sway-dex-autostart.png')
    assert f'Autostart file: {desktop.autostart_file()}' in sway.log()
    agents = pids_named('seatgate-agent')
    assert len(agents) == 1, agents
    env = environ(agents[0])
    assert env.get('SWAYSOCK') == desktop.env['SWAYSOCK'], env
    assert env.get('I3SOCK') == desktop.env['SWAYSOCK'], env
    print(f'agent {agents[0]}: parent {parent(agents[0])}, DISPLAY {env.get("DISPLAY")!r}')
    assert sway.running()


def pids_named(name):
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/comm', encoding='utf-8') as f:
                if f.read().strip() == name:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def parent(pid):
    with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def environ(pid):
    with open(f'/proc/{pid}/environ', 'rb') as f:
        return dict(e.decode(errors='replace').split('=', 1) for e in f.read().split(b'\0')
                    if b'=' in e)


# --- no tray: the notification server draws the notification --------------------------

def notification_on_screen(desktop, label, rgb, minimum=3000):
    '''A screenshot with at least `minimum` pixels of the server's
    notification background.'''
    shot = desktop.screenshot(label)
    n = desktop.count_colour(desktop.pixels(shot, (0, 0, 800, 600)), rgb, 4)
    return n >= minimum and shot


def calls_in_order(text, members):
    '''(member, sender) of each method call to org.freedesktop.Notifications
    in dbus-monitor's output, in order.'''
    found = []
    for m in re.finditer(r'^method call .*? sender=(\S+) -> destination=\S+ .*?'
                         r'interface=org\.freedesktop\.Notifications; member=(\w+)', text, re.M):
        if m.group(2) in members:
            found.append((m.group(2), m.group(1)))
    return found


def without_a_tray_the_server_shows_the_notification(desk, desktop, lab, name, cmd, rgb, button,
                                                     record):
    '''The notification drawn by the server (cmd) on sway without a bar, as
    the server's own record(caps) sees it, and a click with `button` on
    it, which runs the default action: the viewer.'''
    from test_agent import VIEWER_STUB, assert_default_viewer_run, viewer_runs
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desktop.sway_waybar(bar=False)
    desktop.sway_pointer()
    server = desktop.run(name, cmd)
    wait_until(lambda: desk.bus.client.name_owner('org.freedesktop.Notifications') or
               (not server.running() and f'{name} exited: {server.log()}'), SETTLE,
               what=f'{name} on the session bus')
    assert server.running(), server.log()
    caps = desk.bus.client.call('org.freedesktop.Notifications', '/org/freedesktop/Notifications',
                                'org.freedesktop.Notifications', 'GetCapabilities')[0]
    monitor = subprocess.Popen(['dbus-monitor', '--address', desk.bus.address,
                                "type='method_call',interface='org.freedesktop.Notifications'"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        with notify_calls(desk) as seen:
            agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
            shot = wait_until(lambda: notification_on_screen(desktop, name, rgb), SETTLE, 0.1,
                              f'{name}\'s notification on the screen')
            desktop.keep_screenshot(f'sway-{name}.png')
    finally:
        monitor.terminate()
        text = monitor.communicate(timeout=5)[0]
    assert seen.actions, seen.text
    # Each action once: "default" alone where the server shows actions
    # (both do), read from GetCapabilities before the first Notify.
    assert 'actions' in caps
    assert seen.actions[0] == ['default', 'Open VM console']
    calls = calls_in_order(text, ('GetCapabilities', 'Notify'))
    assert calls and calls[0][0] == 'GetCapabilities', calls
    assert ('Notify', calls[0][1]) in calls, calls
    # The granted icon drawn in the popup.
    icon = desktop.count_colour(desktop.pixels(shot, (0, 0, 800, 600)), GRANTED_RGB)
    print(f'{name}: calls {[c[0] for c in calls]}, {icon} pixels of the granted icon')
    assert icon >= 20
    record(caps)
    popup = [(i % 800, i // 800) for i, p in enumerate(desktop.pixels(shot, (0, 0, 800, 600)))
             if near(p, rgb, 4)]
    xs, ys = [p[0] for p in popup], [p[1] for p in popup]
    desktop.sway_click(button, (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2)
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    assert server.running()


def as_person(*cmd):
    return ['setpriv', f'--reuid={CONSOLE_UID}', f'--regid={CONSOLE_UID}', '--clear-groups'] + \
        list(cmd)


@pytest.mark.skipif(bool(missing('mako', 'makoctl')), reason='needs mako-notifier')
def test_mako_shows_the_notification_without_a_tray(desk, helper, desktop, lab):
    # mako's default background-color is #285577. It resolves an icon name
    # only in its icon-path and /usr/share/icons/hicolor, taking the icon's
    # size from the folder's name (icon.c resolve_icon: strtol of
    # "<size>x<size>", 0 skipped): icons under hicolor/scalable alone were
    # never found, hence seatgate's copies in hicolor/48x48. Its left click
    # runs the default action (mako(5) on-button-left=invoke-default-action).
    def record(caps):
        out = subprocess.run(as_person('makoctl', 'list'), env=desktop.env,
                             capture_output=True, text=True, cwd='/')
        assert out.returncode == 0, out.stderr
        shown = json.loads(out.stdout)['data'][0]
        assert len(shown) == 1, shown
        print(f'mako {caps}: {shown[0]["summary"]["data"]!r}, '
              f'actions {shown[0]["actions"]["data"]}')
        assert shown[0]['actions']['data'] == {'default': 'Open VM console'}
    without_a_tray_the_server_shows_the_notification(
        desk, desktop, lab, 'mako', ['mako', f'--icon-path={desktop.datadir}/icons/hicolor'],
        (0x28, 0x55, 0x77), 1, record)


@pytest.mark.skipif(bool(missing('dunst', 'dunstctl')), reason='needs dunst')
def test_dunst_shows_the_notification_without_a_tray(desk, helper, desktop, lab):
    # Debian's /etc/xdg/dunst/dunstrc: normal urgency on #285577; a left
    # click closes the popup, a middle click runs its action
    # (mouse_middle_click = do_action, close_current).
    def record(caps):
        out = subprocess.run(as_person('dunstctl', 'count', 'displayed'), env=desktop.env,
                             capture_output=True, text=True, cwd='/')
        print(f'dunst {caps}: displayed {out.stdout.strip()}')
        assert out.returncode == 0 and out.stdout.strip() == '1', out.stdout + out.stderr
    without_a_tray_the_server_shows_the_notification(
        desk, desktop, lab, 'dunst', ['dunst'], (0x28, 0x55, 0x77), 2, record)
