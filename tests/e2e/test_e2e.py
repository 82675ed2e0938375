'''seatgate end to end: the real helper and agents in front of a real QEMU
SPICE server, reached by a headless SPICE client (spice_link.py) and by the
real remote-viewer under Xvfb, each run as a real uid.

Each test is one promise of the README, named for it.'''

import os
import shutil
import subprocess
import time

from e2e_lab import (TCP_ESTABLISHED, VM_NAME, HeldLink, Viewer, Xvfb, established, image_stats,
                     server_side_open, spice_link, tcp_sockets)
from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, DEFAULT_PORT, INACTIVE_SESSION, INACTIVE_UID,
                          REMOTE_UID, wait_until)

PORT = DEFAULT_PORT
URI = f'spice://127.0.0.1:{PORT}'
# Generous bounds: the gate acts in milliseconds; these only keep a broken
# build from hanging the suite.
GRANT_BOUND = 10.0
CUT_BOUND = 5.0
VIEWER_BOUND = 12.0

OUT_DIR = os.environ.get('SEATGATE_E2E_OUT') or os.getcwd()
# The README's picture: tests/e2e writes it, a person commits it.
README_SCREENSHOT = 'remote-viewer-through-seatgate.png'


def start_agent(desk, lab, uid, session):
    '''The user's real seatgate-agent (no tray here: notifications only).'''
    return desk.agent(uid, session, args=('--no-tray', '--verbose'))


def wait_granted(lab, uid, since):
    '''The helper's Granted signal for uid, sent after the mark since.'''
    assert lab.gate.wait_signal('Granted', ('seat0', uid), since=since, timeout=GRANT_BOUND), \
        f'the helper did not grant uid {uid} within {GRANT_BOUND} s'


def console_agent_granted(desk, lab):
    mark = lab.gate.mark()
    agent = start_agent(desk, lab, CONSOLE_UID, CONSOLE_SESSION)
    wait_granted(lab, CONSOLE_UID, mark)
    return agent


def report(text):
    # pytest -rP shows it, and meson's test log keeps it
    print(text)


def check_console_linked_remote_refused(lab, desk, host):
    assert spice_link(lab, CONSOLE_UID, host)['result'] == 'refused', \
        'the port must be closed until the console agent asks'
    console_agent_granted(desk, lab)

    console = spice_link(lab, CONSOLE_UID, host)
    remote = spice_link(lab, REMOTE_UID, host)
    report(f'{host}: console uid {CONSOLE_UID}: {console}; remote uid {REMOTE_UID}: {remote}')
    assert console['result'] == 'linked'
    assert console['session_id'] != 0
    assert remote['result'] == 'refused'


# --- (a) the SPICE link handshake --------------------------------------------

def test_spice_handshake_console_user_linked_remote_user_refused_on_127_0_0_1(lab, helper, desk, vm):
    check_console_linked_remote_refused(lab, desk, '127.0.0.1')


def test_spice_handshake_console_user_linked_remote_user_refused_on_ipv6_loopback(lab, helper, desk, vm):
    check_console_linked_remote_refused(lab, desk, '::1')


# --- (b) a seat switch ---------------------------------------------------------

def test_seat_switch_cuts_the_old_users_spice_session_and_the_new_user_links(lab, helper, desk, vm):
    console_agent_granted(desk, lab)
    start_agent(desk, lab, INACTIVE_UID, INACTIVE_SESSION)
    held = HeldLink(lab, CONSOLE_UID, '127.0.0.1')
    assert held.linked, held.first
    assert held.wait_ended(0.3) is None, 'the granted SPICE session must stay up'
    assert server_side_open(PORT, held.local_port)

    mark = lab.gate.mark()
    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    ended = held.wait_ended(CUT_BOUND)
    cut_after = time.monotonic() - switched
    assert ended is not None, f'uid {CONSOLE_UID}\'s SPICE connection still open {CUT_BOUND} s after the switch'
    assert ended['result'] == 'ended'
    # QEMU's end goes too (the gate destroys the socket, which resets the peer)
    wait_until(lambda: not server_side_open(PORT, held.local_port), CUT_BOUND,
               what='QEMU to drop its end of the cut connection')

    wait_granted(lab, INACTIVE_UID, mark)
    new_user = spice_link(lab, INACTIVE_UID, '127.0.0.1')
    old_user = spice_link(lab, CONSOLE_UID, '127.0.0.1')
    report(f'connection cut ({ended["how"]}) {cut_after * 1000:.0f} ms after the seat switch; '
           f'new user: {new_user}; old user: {old_user}')
    assert new_user['result'] == 'linked'
    assert old_user['result'] == 'refused'


# --- (c) remote-viewer under Xvfb ------------------------------------------------

def wait_vm_screen(x, viewer):
    '''The viewer's window once it is named after the VM (the SPICE session
    told it the guest's name) and shows text on the VM's screen.'''
    state = {}

    def shown():
        if not viewer.running():
            raise AssertionError(f'remote-viewer exited ({viewer.proc.returncode}):\n{viewer.log()}')
        wins = [w for w in x.windows() if w[1] and w[1].startswith(VM_NAME)]
        if not wins:
            return None
        wid, _name, width, height = wins[0]
        path = x.screenshot(os.path.join(x.lab.dir, 'viewer-window.png'), wid)
        # inside the frame, below the header bar, is the VM's display:
        # SeaBIOS's text on black (a blank one measures 0 and 0)
        mean, sd = image_stats(path, f'{width - 30}x{height - 70}+15+60')
        state.update(window=wins[0], path=path, mean=mean, sd=sd)
        return mean > 0.002 and sd > 0.02
    try:
        wait_until(shown, VIEWER_BOUND, 0.25, 'the VM screen in remote-viewer')
    except Exception:
        raise AssertionError(f'last seen {state}; windows {x.windows()}; viewer log:\n{viewer.log()}') from None
    return state


def test_remote_viewer_as_console_user_shows_the_vm_screen(lab, helper, desk, vm):
    console_agent_granted(desk, lab)
    x = Xvfb(lab)
    viewer = Viewer(lab, x, CONSOLE_UID, URI, desk.home(CONSOLE_UID), desk.bus.address)

    state = wait_vm_screen(x, viewer)
    channels = established(PORT, CONSOLE_UID)
    report(f'window {state["window"]}, display grey mean {state["mean"]:.3f} sd {state["sd"]:.3f}, '
           f'{len(channels)} SPICE channel connections of uid {CONSOLE_UID}')
    assert len(channels) >= 2, 'main and display channels at least'

    os.makedirs(OUT_DIR, exist_ok=True)
    shutil.copy(state['path'], os.path.join(OUT_DIR, 'remote-viewer-console.png'))
    # small enough to commit: 16 colours, no metadata
    subprocess.run(['/usr/bin/convert', state['path'], '-strip', '-colors', '16',
                    'PNG8:' + os.path.join(OUT_DIR, README_SCREENSHOT)], check=True, timeout=20)
    viewer.stop()


def test_remote_viewer_as_remote_user_cannot_connect(lab, helper, desk, vm):
    # the console user holds the grant: the port is open, but not to this uid
    console_agent_granted(desk, lab)
    assert spice_link(lab, CONSOLE_UID, '127.0.0.1')['result'] == 'linked'
    x = Xvfb(lab)
    viewer = Viewer(lab, x, REMOTE_UID, URI, desk.home(REMOTE_UID), desk.bus.address)

    def error_dialog():
        for wid, _name, _w, _h in x.windows():
            if '_NET_WM_WINDOW_TYPE_DIALOG' in x.window_property(wid, '_NET_WM_WINDOW_TYPE'):
                return wid
        return None
    dialog = wait_until(error_dialog, VIEWER_BOUND, 0.1, 'remote-viewer\'s error dialog')
    log = viewer.log()
    assert 'main channel: failed to connect' in log and 'Connection refused' in log, log
    assert not any(name and name.startswith(VM_NAME) for _w, name, _a, _b in x.windows())
    assert established(PORT, REMOTE_UID) == []
    # for a person to see "Unable to connect to the graphic server"
    os.makedirs(OUT_DIR, exist_ok=True)
    x.screenshot(os.path.join(OUT_DIR, 'remote-viewer-remote-user.png'))
    report(f'remote-viewer as uid {REMOTE_UID}: error dialog {dialog}, '
           f'log: {[line for line in log.splitlines() if "failed to connect" in line]}')
    viewer.stop()


def test_seat_switch_disconnects_the_old_users_remote_viewer(lab, helper, desk, vm):
    console_agent_granted(desk, lab)
    x = Xvfb(lab)
    viewer = Viewer(lab, x, CONSOLE_UID, URI, desk.home(CONSOLE_UID), desk.bus.address)
    wait_vm_screen(x, viewer)
    assert len(established(PORT, CONSOLE_UID)) >= 2

    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    # every channel is cut at once, so the viewer sees its guest go away
    try:
        status = viewer.proc.wait(CUT_BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f'remote-viewer still running {CUT_BOUND} s after the seat switch; '
                             f'channels of uid {CONSOLE_UID}: {established(PORT, CONSOLE_UID)}\n'
                             f'{viewer.log()}') from None
    exited_after = time.monotonic() - switched
    assert 'display has disconnected' in viewer.log()
    assert established(PORT, CONSOLE_UID) == []
    wait_until(lambda: not any(lport == PORT and state == TCP_ESTABLISHED
                               for state, lport, _r, _u in tcp_sockets(PORT)),
               CUT_BOUND, what='QEMU to drop its ends of the viewer\'s channels')
    report(f'remote-viewer of uid {CONSOLE_UID} exited ({status}) {exited_after * 1000:.0f} ms '
           f'after the seat switch: "{viewer.log().strip().splitlines()[-1]}"')
