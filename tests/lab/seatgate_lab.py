'''seatgate's test lab: a private system bus, logind and polkit stand-ins, the
helper under test, TCP listeners, "persons" (actor processes of real uids)
and a second host behind a veth pair, all inside the caller's own network
namespace (run under tests/lab/netns-run).

    with Lab() as lab:
        lab.start()                      # bus + logind + polkit (grant allowed)
        lab.standard_world()             # 1000 at seat0, 1001 remote, 1002 inactive
        lab.listen(5930)                 # 127.0.0.1 and ::1, echoing
        lab.start_helper()               # returns when the bus name is taken
        alice = lab.actor(CONSOLE_UID)   # connected to the bus
        assert alice.grant().ok
        assert alice.connect('::1', 5930) == 'ok'

See tests/lab/README.md for the whole API.
'''

import glob
import json
import os
import pwd
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import namedtuple

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('SEATGATE_SOURCE_DIR', os.path.dirname(os.path.dirname(LAB_DIR)))
PYTHON = '/usr/bin/python3'

GATE_NAME = 'io.github.seatgate.Gate1'
GATE_PATH = '/io/github/seatgate/Gate1'
GATE_IFACE = 'io.github.seatgate.Gate1'
ERR_NOT_SEAT_OWNER = 'io.github.seatgate.Error.NotSeatOwner'
ERR_NOT_AUTHORIZED = 'io.github.seatgate.Error.NotAuthorized'
ERR_FAILED = 'io.github.seatgate.Error.Failed'
ACTION_GRANT = 'io.github.seatgate.grant'
ACTION_MANAGE = 'io.github.seatgate.manage'

LOGIND_NAME = 'org.freedesktop.login1'
LOGIND_PATH = '/org/freedesktop/login1'
POLKIT_NAME = 'org.freedesktop.PolicyKit1'
POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority'
MOCK_IFACE = 'org.freedesktop.DBus.Mock'

# The standard world's people (standard_world()).
CONSOLE_UID = 1000      # session "2": seat0, local, active
REMOTE_UID = 1001       # session "3": remote (ssh), no seat
INACTIVE_UID = 1002     # session "4": seat0, local, in the background
SEAT1_UID = 1003        # multiseat tests: the user at seat1
ADMIN_UID = 1004        # Revoke tests: no session, polkit decides
ALWAYS_UID = 1005       # AlwaysAllow tests: no session at all
NOBODY_UID = 1006       # no session, never granted
CONSOLE_SESSION = '2'
REMOTE_SESSION = '3'
INACTIVE_SESSION = '4'

DEFAULT_PORT = 5930
LOOPBACKS = ('127.0.0.1', '::1')


class LabError(Exception):
    pass


def unreadable_for_lab_uids(paths, uid=1000):
    """The first of @paths that the lab's uids cannot reach (read a file,
    enter a folder), or None. The lab runs actors, agents and seatgatectl as
    uids 1000-1009 straight from the checkout and the build folder: from a
    home folder with mode 0700, or a `mktemp -d` folder, they cannot."""
    for path in paths:
        test = '-x' if os.path.isdir(path) else '-r'
        r = subprocess.run(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
                            'test', test, path], stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            return path
    return None


def check_readable_for_lab_uids(paths):
    bad = unreadable_for_lab_uids(paths)
    if bad is not None:
        raise LabError(
            f'{bad} cannot be read by the test uids (1000-1009): the lab runs its persons, '
            'agents and seatgatectl as those uids from the checkout and its build folder, so '
            'every folder above them must let others in (mode o+x) and the files be readable. '
            'Clone the tree to a readable place (e.g. `git clone REPO /var/tmp/seatgate && sudo '
            '/var/tmp/seatgate/tests/run`) or open the folders (`chmod o+x` on each parent).')


class HelperDied(LabError):
    pass


def console_ticket(actor):
    '''The SPICE ticket OpenConsole gives actor (who holds the grant) for
    seat0's VM at 127.0.0.1:5930.'''
    reply = actor.call('OpenConsole')
    assert reply.ok, reply
    assert reply.value['uri'] == 'spice://127.0.0.1:5930'
    return reply.value['password']


def helper_logs(lab):
    '''Everything every helper of the lab has logged.'''
    text = ''
    for path in glob.glob(os.path.join(lab.dir, 'helper-*.log')):
        with open(path, encoding='utf-8', errors='replace') as f:
            text += f.read()
    return text


def wait_until(pred, timeout=3.0, interval=0.01, what='condition'):
    '''Polls pred() until it is true; returns its value or raises LabError.'''
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(interval)


def stop_process(proc, timeout=5.0):
    '''SIGTERM, then SIGKILL if it has not exited within @timeout.'''
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def smaps_rollup(pid):
    '''{field: kB} of /proc/PID/smaps_rollup (Rss, Private_Dirty, ...).'''
    out = {}
    with open(f'/proc/{pid}/smaps_rollup', encoding='ascii') as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == 'kB':
                out[parts[0].rstrip(':')] = int(parts[1])
    return out


def context_switches(pid):
    '''Voluntary + involuntary context switches of all the process's threads
    so far: each is a wake-up. A thread gone meanwhile counts no more.'''
    total = 0
    for task in glob.glob(f'/proc/{pid}/task/*'):
        try:
            with open(os.path.join(task, 'status'), encoding='ascii') as f:
                for line in f:
                    if 'ctxt_switches:' in line:
                        total += int(line.split()[-1])
        except OSError:
            pass
    return total


def hold_netns(what):
    '''A process holding a network namespace of its own (`unshare -n sleep`),
    returned once the namespace exists; kill it to let the namespace go.'''
    proc = subprocess.Popen(['unshare', '-n', 'sleep', 'infinity'])
    own = os.stat('/proc/self/ns/net').st_ino

    def unshared():
        try:
            return os.stat(f'/proc/{proc.pid}/ns/net').st_ino != own
        except OSError:
            return False
    wait_until(unshared, 5, what=what)
    return proc


def project_version():
    '''seatgate's version: SEATGATE_VERSION (meson sets it), else meson.build's.'''
    if os.environ.get('SEATGATE_VERSION'):
        return os.environ['SEATGATE_VERSION']
    with open(os.path.join(SOURCE_DIR, 'meson.build'), encoding='utf-8') as f:
        return re.search(r"version:\s*'([^']+)'", f.read()).group(1)


def in_private_netns():
    '''True inside the namespace tests/lab/netns-run made (it exports its
    inode), or in any namespace other than pid 1's where that can be read.'''
    own = os.stat('/proc/self/ns/net').st_ino
    if os.environ.get('SEATGATE_LAB_NETNS') == str(own):
        return True
    try:
        return own != os.stat('/proc/1/ns/net').st_ino
    except OSError:
        return False


def _variant(value):
    if isinstance(value, GLib.Variant):
        return value
    if isinstance(value, bool):
        return GLib.Variant('b', value)
    if isinstance(value, int):
        return GLib.Variant('u', value)
    if isinstance(value, str):
        return GLib.Variant('s', value)
    if isinstance(value, (list, tuple)):
        return GLib.Variant('au', [int(v) for v in value])
    raise TypeError(f'no variant type for {value!r}')


def logind_escape(label):
    '''sd-bus bus_label_escape(), as real logind builds its object paths.'''
    if not label:
        return '_'
    out = []
    for i, ch in enumerate(label):
        if ch.isascii() and (ch.isalpha() or (ch.isdigit() and i > 0)):
            out.append(ch)
        else:
            out.extend('_%02x' % b for b in ch.encode())
    return ''.join(out)


def session_path(session_id):
    return '/org/freedesktop/login1/session/' + logind_escape(session_id)


def seat_path(seat_id):
    return '/org/freedesktop/login1/seat/' + logind_escape(seat_id)


# ---------------------------------------------------------------------------
# The lab's own (root) bus client

Signal = namedtuple('Signal', 'sender path interface member args')


class BusClient:
    '''A root connection to the lab bus that records every signal it sees.

    Signals are dispatched to a private main context that only this object
    iterates (pump()), so nothing runs behind the test's back.'''

    def __init__(self, address):
        self.ctx = GLib.MainContext.new()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.conn.set_exit_on_close(False)
        self.signals = []
        self.ctx.push_thread_default()
        try:
            self._sub = self.conn.signal_subscribe(None, None, None, None, None,
                                                   Gio.DBusSignalFlags.NONE, self._on_signal)
        finally:
            self.ctx.pop_thread_default()

    def _on_signal(self, _conn, sender, path, iface, member, params):
        self.signals.append(Signal(sender, path, iface, member, params.unpack()))

    def pump(self):
        while self.ctx.iteration(False):
            pass

    def mark(self):
        '''Index to pass as since= to wait_signal()/find_signals().'''
        self.pump()
        return len(self.signals)

    def find_signals(self, member=None, interface=None, path=None, since=0, match=None):
        self.pump()
        out = []
        for s in self.signals[since:]:
            if member is not None and s.member != member:
                continue
            if interface is not None and s.interface != interface:
                continue
            if path is not None and s.path != path:
                continue
            if match is not None and not match(s):
                continue
            out.append(s)
        return out

    def wait_signal(self, member, interface=None, path=None, since=0, match=None, timeout=3.0):
        found = []

        def look():
            found[:] = self.find_signals(member, interface, path, since, match)
            return bool(found)
        deadline = time.monotonic() + timeout
        while not look():
            if time.monotonic() >= deadline:
                return None
            self.ctx.iteration(False) or time.sleep(0.005)
        return found[0]

    def call(self, dest, path, iface, method, signature='', args=(), reply=None, timeout=5.0):
        params = GLib.Variant('(' + signature + ')', tuple(args)) if signature else None
        ret = self.conn.call_sync(dest, path, iface, method, params,
                                  GLib.VariantType(reply) if reply else None,
                                  Gio.DBusCallFlags.NONE, int(timeout * 1000), None)
        return ret.unpack() if ret is not None else None

    def get_property(self, dest, path, iface, name):
        return self.call(dest, path, 'org.freedesktop.DBus.Properties', 'Get', 'ss', (iface, name))[0]

    def get_all(self, dest, path, iface):
        return self.call(dest, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', (iface,))[0]

    def name_owner(self, name):
        try:
            return self.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                             'GetNameOwner', 's', (name,))[0]
        except GLib.Error:
            return None

    def close(self):
        try:
            self.conn.signal_unsubscribe(self._sub)
            self.conn.close_sync(None)
        except GLib.Error:
            pass


# ---------------------------------------------------------------------------
# Stand-ins

LOGIND_RUNDIR = '/run/systemd'


def _read_env_file(path):
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    return dict(line.split('=', 1) for line in lines if '=' in line and not line.startswith('#'))


class Logind:
    '''Controls the logind stand-in (tests/lab/logind_mock.py).'''

    def __init__(self, client):
        self.client = client

    def _mock(self, method, signature='', args=()):
        return self.client.call(LOGIND_NAME, LOGIND_PATH, MOCK_IFACE, method, signature, args)

    def add_seat(self, seat_id):
        return self._mock('AddSeat', 's', (seat_id,))[0]

    def add_session(self, session_id, uid, seat='', remote=False, cls='user', type=None,
                    active=False, state=None, leader=0, pids=(), name=None, remote_host=None):
        '''A session as logind would have it. Without a seat a session is
        always Active (like logind); active=True on a seat makes it the
        seat's ActiveSession.'''
        opts = {'seat': seat, 'remote': remote, 'class': cls, 'active': active, 'leader': leader,
                'pids': list(pids)}
        if type is not None:
            opts['type'] = type
        if state is not None:
            opts['state'] = state
        if name is not None:
            opts['name'] = name
        if remote_host is not None:
            opts['remote_host'] = remote_host
        return self._mock('AddSession', 'sua{sv}',
                          (session_id, uid, {k: _variant(v) for k, v in opts.items()}))[0]

    def activate(self, session_id):
        '''Switches the session's seat to it (fast user switching).'''
        seat = self.session_props(session_id)['Seat'][0]
        self._mock('SetActiveSession', 'ss', (seat, session_id))

    def deactivate(self, seat_id):
        '''The seat shows no session (e.g. the greeter).'''
        self._mock('SetActiveSession', 'ss', (seat_id, ''))

    def remove_session(self, session_id):
        self._mock('RemoveSession', 's', (session_id,))

    def set_state(self, session_id, state):
        '''State changes without a signal, as in logind ("closing" is
        stop_session()).'''
        self._mock('SetSessionState', 'ss', (session_id, state))

    def stop_session(self, session_id):
        '''A logout that leaves a process running (KillUserProcesses=no):
        the session goes "closing" but stays Active and its seat's
        ActiveSession; no D-Bus signal, only its file under /run/systemd
        is rewritten (logind-session.c session_stop()).'''
        self._mock('StopSession', 's', (session_id,))

    def user_props(self, uid):
        return self.client.get_all(LOGIND_NAME, f'/org/freedesktop/login1/user/_{uid}',
                                   'org.freedesktop.login1.User')

    def session_file(self, session_id):
        '''The session's file as sd-login reads it: {KEY: value}, or None.'''
        return _read_env_file(os.path.join(LOGIND_RUNDIR, 'sessions', session_id))

    def add_pid(self, session_id, pid):
        self._mock('AddSessionPid', 'su', (session_id, pid))

    def set_property(self, session_id, name, value, emit=False):
        '''Any other session property; value a GLib.Variant.'''
        self._mock('SetSessionProperty', 'ssvb', (session_id, name, value, emit))

    def session_props(self, session_id):
        return self.client.get_all(LOGIND_NAME, session_path(session_id), 'org.freedesktop.login1.Session')

    def seat_props(self, seat_id):
        return self.client.get_all(LOGIND_NAME, seat_path(seat_id), 'org.freedesktop.login1.Seat')


class Polkit:
    '''Controls python-dbusmock's stock polkitd template. Its answers ignore
    the subject: set_allowed() holds for every caller.'''

    def __init__(self, client):
        self.client = client

    def set_allowed(self, actions):
        self.client.call(POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, 'SetAllowed', 'as', (list(actions),))

    def set_delay(self, seconds):
        self.client.call(POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, 'SetDelay', 'd', (float(seconds),))

    def clear_calls(self):
        self.client.call(POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, 'ClearCalls')

    def checks(self):
        '''[(subject_kind, subject_details, action_id, details, flags)] of
        every CheckAuthorization so far.'''
        calls = self.client.call(POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, 'GetMethodCalls', 's',
                                 ('CheckAuthorization',))[0]
        out = []
        for _ts, args in calls:
            (kind, details), action, det, flags = args[0], args[1], args[2], args[3]
            out.append((kind, details, action, det, flags))
        return out


class Gate:
    '''The helper's D-Bus face as root sees it.'''

    def __init__(self, client):
        self.client = client

    def prop(self, name):
        return self.client.get_property(GATE_NAME, GATE_PATH, GATE_IFACE, name)

    def grants(self):
        '''Sorted [(seat, uid, [ports])].'''
        return sorted((s, u, list(p)) for s, u, p in self.prop('Grants'))

    def seats(self):
        return sorted((s, list(p)) for s, p in self.prop('Seats'))

    def version(self):
        return self.prop('Version')

    def mark(self):
        return self.client.mark()

    def signals(self, member=None, since=0):
        '''Granted/Revoked signals from the helper: [(member, args)].'''
        return [(s.member, tuple(s.args)) for s in
                self.client.find_signals(member, GATE_IFACE, GATE_PATH, since)]

    def wait_signal(self, member, args=None, since=0, timeout=3.0):
        '''The first Granted/Revoked since `since` whose args equal `args`
        (or any, if None); None on timeout.'''
        match = None if args is None else (lambda s: tuple(s.args) == tuple(args))
        s = self.client.wait_signal(member, GATE_IFACE, GATE_PATH, since, match, timeout)
        return tuple(s.args) if s else None

    def wait_property_change(self, name, since=0, timeout=3.0):
        '''The new value of property `name` from the first PropertiesChanged
        since `since` that names it ('<invalidated>' if only invalidated);
        None on timeout.'''
        def names_it(s):
            return s.args[0] == GATE_IFACE and (name in s.args[1] or name in s.args[2])
        s = self.client.wait_signal('PropertiesChanged', 'org.freedesktop.DBus.Properties', GATE_PATH,
                                    since, names_it, timeout)
        if s is None:
            return None
        return s.args[1].get(name, '<invalidated>')

    def properties_changed(self, since=0):
        '''[(changed dict, invalidated list)] of the helper's PropertiesChanged.'''
        return [(s.args[1], s.args[2]) for s in
                self.client.find_signals('PropertiesChanged', 'org.freedesktop.DBus.Properties',
                                         GATE_PATH, since, lambda s: s.args[0] == GATE_IFACE)]


# ---------------------------------------------------------------------------
# Network

class Listener:
    '''Root TCP listeners on one port and several addresses. Every accepted
    connection echoes what it reads; the listener records how each ended.'''

    def __init__(self, port, hosts=LOOPBACKS):
        self.port = port
        self.hosts = tuple(hosts)
        self.conns = {}        # (family, peer address, peer port) -> {'open': bool, 'how': str}
        self.cond = threading.Condition()
        self.sel = selectors.DefaultSelector()
        self._stop_r, self._stop_w = os.pipe()
        self._calls = []
        self.sel.register(self._stop_r, selectors.EVENT_READ, None)
        self.servers = []
        for host in self.hosts:
            family = socket.AF_INET6 if ':' in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
            s.listen(128)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, 'listen')
            self.servers.append(s)
        self.thread = threading.Thread(target=self._run, name=f'listener-{port}', daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    if os.read(self._stop_r, 1) == b'c':
                        while self._calls:
                            self._calls.pop(0)()
                        break  # the calls may have closed sockets of this batch
                    return
                if key.data == 'listen':
                    try:
                        c, peer = key.fileobj.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    rec = {'open': True, 'how': 'open'}
                    with self.cond:
                        self.conns[(peer[0], peer[1])] = rec
                        self.cond.notify_all()
                    self.sel.register(c, selectors.EVENT_READ, rec)
                else:
                    c, rec = key.fileobj, key.data
                    how = None
                    try:
                        data = c.recv(65536)
                        if data:
                            c.sendall(data)
                        else:
                            how = 'eof'
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        how = os.strerror(e.errno) if e.errno else str(e)
                    if how:
                        self.sel.unregister(c)
                        c.close()
                        with self.cond:
                            rec['open'] = False
                            rec['how'] = how
                            self.cond.notify_all()

    @property
    def accepted(self):
        with self.cond:
            return len(self.conns)

    def server_side(self, local_port):
        '''The record of the connection whose client port is local_port.'''
        with self.cond:
            for (_host, port), rec in self.conns.items():
                if port == local_port:
                    return dict(rec)
        return None

    def wait_server_closed(self, local_port, timeout=2.0):
        '''True once the server end of that connection has ended.'''
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                rec = next((r for (_h, p), r in self.conns.items() if p == local_port), None)
                if rec is not None and not rec['open']:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)

    def reset_all(self):
        '''Resets every open connection from the server side (SO_LINGER 0).'''
        done = threading.Event()

        def reset():
            for key in list(self.sel.get_map().values()):
                if isinstance(key.data, dict) and key.data['open']:
                    c = key.fileobj
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    self.sel.unregister(c)
                    c.close()
                    with self.cond:
                        key.data['open'] = False
                        key.data['how'] = 'reset by the lab'
            done.set()
        self._calls.append(reset)
        os.write(self._stop_w, b'c')
        done.wait(2)

    def close(self):
        os.write(self._stop_w, b'x')
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            if key.fileobj is not self._stop_r:
                key.fileobj.close()
        self.sel.close()
        os.close(self._stop_r)
        os.close(self._stop_w)


class OutsideHost:
    '''Another host on a veth link: its own network namespace (held by an
    `unshare -n sleep` child), made from inside the lab's namespace.
    The lab side is 10.77.0.1 / fd77::1, the outside 10.77.0.2 / fd77::2.'''

    HOST_V4, OUTSIDE_V4 = '10.77.0.1', '10.77.0.2'
    HOST_V6, OUTSIDE_V6 = 'fd77::1', 'fd77::2'

    def __init__(self, lab):
        self.lab = lab
        self.proc = hold_netns('the outside namespace')
        pid = str(self.proc.pid)
        ns = ['nsenter', '-t', pid, '-n']
        for cmd in (['ip', 'link', 'add', 'sg-lab', 'type', 'veth', 'peer', 'name', 'sg-out', 'netns', pid],
                    ['ip', 'addr', 'add', self.HOST_V4 + '/24', 'dev', 'sg-lab'],
                    ['ip', '-6', 'addr', 'add', self.HOST_V6 + '/64', 'dev', 'sg-lab', 'nodad'],
                    ['ip', 'link', 'set', 'sg-lab', 'up'],
                    ns + ['ip', 'link', 'set', 'lo', 'up'],
                    ns + ['ip', 'addr', 'add', self.OUTSIDE_V4 + '/24', 'dev', 'sg-out'],
                    ns + ['ip', '-6', 'addr', 'add', self.OUTSIDE_V6 + '/64', 'dev', 'sg-out', 'nodad'],
                    ns + ['ip', 'link', 'set', 'sg-out', 'up']):
            subprocess.run(cmd, check=True, capture_output=True)

    @property
    def pid(self):
        return self.proc.pid

    def actor(self, uid=0, bus=False):
        '''A person on the outside host (root there by default).'''
        return self.lab.actor(uid, bus=bus, netns_pid=self.proc.pid)

    def close(self):
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------------------
# Persons

class Reply:
    '''The result of a D-Bus call made by an actor.'''

    def __init__(self, d):
        self.ok = bool(d.get('ok'))
        self.value = d.get('value')
        self.error = d.get('error')
        self.message = d.get('message')

    def __repr__(self):
        if self.ok:
            return f'<Reply ok value={self.value!r}>'
        return f'<Reply {self.error}: {self.message!r}>'


class Actor:
    '''One process of one uid, driven line by line (tests/lab/actor.py).'''

    def __init__(self, lab, uid, bus=True, netns_pid=None, name=None):
        self.lab = lab
        self.uid = uid
        self.name = name or f'actor-{uid}-{len(lab.actors)}'
        cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
               PYTHON, os.path.join(LAB_DIR, 'actor.py')]
        if netns_pid is not None:
            cmd = ['nsenter', '-t', str(netns_pid), '-n'] + cmd
        env = {
            'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': lab.dir,
            'LANG': 'C.UTF-8',
            'PYTHONDONTWRITEBYTECODE': '1',
            'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address or '',
        }
        self.log_path = os.path.join(lab.dir, self.name + '.log')
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd='/')
        self.pid = self.proc.pid
        self.unique_name = None
        hello = self.request('hello', timeout=10)
        if hello.get('uid') != uid:
            raise LabError(f'{self.name} runs as uid {hello.get("uid")}, not {uid}')
        self.pid = hello['pid']
        if bus:
            self.bus_connect()

    def request(self, cmd, timeout=10.0, **kw):
        if self.proc.poll() is not None:
            raise LabError(f'{self.name} has exited ({self.proc.returncode}): {self.log()}')
        return self._send(cmd, kw, timeout)

    def _send(self, cmd, kw, timeout):
        kw = dict(kw, cmd=cmd)
        self.proc.stdin.write((json.dumps(kw) + '\n').encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise LabError(f'{self.name} did not answer {cmd} within {timeout} s')
        line = self.proc.stdout.readline()
        if not line:
            raise LabError(f'{self.name} died during {cmd}: {self.log()}')
        rep = json.loads(line)
        if 'exception' in rep:
            raise LabError(f'{self.name} failed {cmd}: {rep["exception"]}')
        return rep

    def _timed(self, cmd, timeout, **kw):
        # the actor's own timeout travels in the request; ours is longer
        line = dict(kw, timeout=timeout)
        if self.proc.poll() is not None:
            raise LabError(f'{self.name} has exited ({self.proc.returncode}): {self.log()}')
        return self._send(cmd, line, timeout + 10)

    # bus
    def bus_connect(self):
        rep = self.request('bus_connect')
        if not rep.get('ok'):
            raise LabError(f'{self.name} cannot connect to the bus: {rep}')
        self.unique_name = rep['unique_name']
        return self.unique_name

    def bus_disconnect(self):
        self.request('bus_disconnect')
        self.unique_name = None

    def call(self, method, signature='', args=(), dest=GATE_NAME, path=GATE_PATH, iface=GATE_IFACE,
             timeout=10.0, interactive=False):
        '''interactive: with ALLOW_INTERACTIVE_AUTHORIZATION, as a terminal's
        seatgatectl calls.'''
        return Reply(self._timed('call', timeout, method=method, signature=signature,
                                 args=list(args), dest=dest, path=path, iface=iface,
                                 interactive=interactive))

    def grant(self, interactive=False):
        return self.call('Grant', interactive=interactive)

    def release(self):
        return self.call('Release')

    def revoke(self, uid):
        return self.call('Revoke', 'u', (uid,))

    def get_property(self, name, dest=GATE_NAME, path=GATE_PATH, iface=GATE_IFACE):
        return Reply(self.request('get_property', name=name, dest=dest, path=path, iface=iface))

    # network
    def connect(self, host, port=DEFAULT_PORT, timeout=1.0):
        '''"ok" (after an echo round trip), "refused", "timeout", "unreachable", ...'''
        return self._timed('connect', timeout, host=host, port=port)['result']

    def open(self, host, port=DEFAULT_PORT, timeout=1.0):
        '''Opens and holds a connection; returns a Conn or raises LabError.'''
        rep = self._timed('open', timeout, host=host, port=port)
        if rep['result'] != 'ok':
            raise LabError(f'{self.name} could not open {host}:{port}: {rep["result"]}')
        return Conn(self, rep['conn'], rep['local_port'], host, port)

    def spawn_child(self):
        return self.request('spawn_child')['pid']

    # life
    def log(self):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.request('quit', timeout=3)
                self.proc.wait(3)
            except (LabError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self._log.close()


class Conn:
    '''A held connection of an actor.'''

    def __init__(self, actor, cid, local_port, host, port):
        self.actor, self.id, self.local_port, self.host, self.port = actor, cid, local_port, host, port

    def is_open(self):
        return self.actor.request('is_open', conn=self.id)['open']

    def echo(self, timeout=1.0):
        return self.actor._timed('echo', timeout, conn=self.id)['result']

    def wait_closed(self, timeout=2.0):
        '''True if the connection ends (reset, abort or EOF) within timeout.'''
        return self.actor._timed('wait_closed', timeout, conn=self.id)['closed']

    def close(self):
        self.actor.request('close', conn=self.id)


# ---------------------------------------------------------------------------
# The helper

class Helper:
    '''seatgate-helper as root on the lab bus. extra_env: more environment;
    wrapper: a command in front of it (e.g. valgrind).'''

    def __init__(self, lab, args, log_path, extra_env=None, wrapper=()):
        self.lab = lab
        self.args = args = list(wrapper) + list(args)
        self.log_path = log_path
        self._log = open(log_path, 'ab')
        env = {
            'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
            'LANG': 'C.UTF-8',
            'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address,
            'G_DEBUG': 'fatal-criticals',
        }
        env.update(lab.sanitizer_env())
        env.update(extra_env or {})
        try:
            # No core files from the helpers the fault suite kills with SIGABRT.
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                env=env, cwd='/',
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
        except OSError as e:
            raise HelperDied(f'cannot run {args[0]}: {e}') from e
        self.pid = self.proc.pid
        self.unique_name = None

    def wait_ready(self, timeout=5.0):
        '''Returns once the helper owns its bus name; HelperDied if it exits.'''
        deadline = time.monotonic() + timeout
        while True:
            owner = self.lab.client.name_owner(GATE_NAME)
            if owner:
                self.unique_name = owner
                return owner
            if self.proc.poll() is not None:
                raise HelperDied(f'seatgate-helper exited with status {self.proc.returncode} '
                                 f'before taking {GATE_NAME}; its log:\n{self.log()}')
            if time.monotonic() >= deadline:
                raise HelperDied(f'seatgate-helper did not take {GATE_NAME} within {timeout} s; '
                                 f'its log:\n{self.log()}')
            time.sleep(0.01)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        '''Sends sig and returns the exit status (negative: killed by a signal).'''
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise LabError(f'seatgate-helper ignored signal {sig} for {timeout} s')
        self._log.flush()
        return self.proc.returncode

    def log(self):
        self._log.flush()
        with open(self.log_path, encoding='utf-8', errors='replace') as f:
            return f.read()


# ---------------------------------------------------------------------------
# The lab

class Lab:
    def __init__(self, helper_path=None, helper_policy=True, keep=False):
        '''helper_policy: include data/io.github.seatgate.Gate1.conf in the
        bus config (True: required; 'auto': if it exists; False: no).'''
        if os.geteuid() != 0:
            raise LabError('the lab needs root')
        if not in_private_netns():
            raise LabError('refusing to run in the host network namespace: '
                           'run under tests/lab/netns-run')
        try:
            for uid in (CONSOLE_UID, REMOTE_UID, INACTIVE_UID, SEAT1_UID, ADMIN_UID, ALWAYS_UID, NOBODY_UID):
                pwd.getpwuid(uid)
        except KeyError as e:
            raise LabError(f'the lab\'s uids must resolve ({e}; dbus-daemon refuses unknown '
                           'uids): run under tests/lab/netns-run') from e
        self.helper_path = helper_path or os.environ.get('SEATGATE_HELPER') or \
            os.path.join(SOURCE_DIR, 'build-lab', 'helper', 'seatgate-helper')
        self.helper_policy = helper_policy
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix='seatgate-lab-')
        os.chmod(self.dir, 0o755)
        # Sanitizer reports of every process the lab runs, whatever its uid.
        self.sanitizer_dir = os.path.join(self.dir, 'sanitizer')
        os.mkdir(self.sanitizer_dir)
        os.chmod(self.sanitizer_dir, 0o1777)
        self.bus_address = None
        self.bus_proc = None
        self.client = None
        self.logind = None
        self.polkit = None
        self.gate = None
        self.mocks = {}
        self.helper = None
        self.helpers = []
        self.actors = []
        self.listeners = []
        self.outsides = []
        self.spawned = []
        self.config_path = None

    def __enter__(self):
        return self

    def sanitizer_env(self):
        '''The ASan/UBSan/LSan options of the test's environment (a sanitizer
        build's run), with reports written under the lab: close() fails the
        test on any report, whatever the process's exit status.'''
        env = {}
        for var in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'):
            if var in os.environ:
                tool = var.split('_')[0].lower()
                env[var] = f'{os.environ[var]}:log_path={self.sanitizer_dir}/{tool}'
        return env

    def sanitizer_reports(self):
        text = ''
        for name in sorted(os.listdir(self.sanitizer_dir)):
            with open(os.path.join(self.sanitizer_dir, name), errors='replace') as f:
                report = f.read()
            if report.strip():
                text += f'--- {name}\n{report}\n'
        return text

    def __exit__(self, *exc):
        self.close()

    # --- bus -----------------------------------------------------------------
    def bus_config(self):
        sock = os.path.join(self.dir, 'system_bus_socket')
        policy_file = os.path.join(SOURCE_DIR, 'data', 'io.github.seatgate.Gate1.conf')
        if self.helper_policy is True and not os.path.exists(policy_file):
            raise LabError(f'{policy_file} does not exist: the helper cannot own its name')
        include = ''
        if self.helper_policy is True or (self.helper_policy == 'auto' and os.path.exists(policy_file)):
            include = f'  <include>{policy_file}</include>\n'
        return f'''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <!-- the default policy of Debian's system.conf -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <!-- the stand-ins: root owns the names, anyone may ask them (like the
       real org.freedesktop.login1.conf and org.freedesktop.PolicyKit1.conf),
       only root may drive the mocks -->
  <policy user="root">
    <allow own="{LOGIND_NAME}"/>
    <allow own="{POLKIT_NAME}"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="{MOCK_IFACE}"/>
    <allow send_destination="{POLKIT_NAME}" send_interface="{MOCK_IFACE}"/>
  </policy>
  <policy context="default">
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.login1.Manager"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.login1.Seat"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.login1.Session"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.login1.User"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="{LOGIND_NAME}" send_interface="org.freedesktop.DBus.Peer"/>
    <allow send_destination="{POLKIT_NAME}" send_interface="org.freedesktop.PolicyKit1.Authority"/>
    <allow send_destination="{POLKIT_NAME}" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="{POLKIT_NAME}" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <!-- seatgate's own policy, the file that ships -->
{include}{self.extra_policy}</busconfig>
'''

    extra_policy = ''   # <policy> elements after seatgate's own (add_bus_policy)

    def add_bus_policy(self, xml):
        '''Appends <policy> elements after seatgate's own policy and has the
        running bus reload its config (ReloadConfig returns once it has).'''
        self.extra_policy += xml
        with open(os.path.join(self.dir, 'system-bus.conf'), 'w', encoding='utf-8') as f:
            f.write(self.bus_config())
        self.client.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                         'ReloadConfig')

    def start_bus(self):
        paths = [os.path.join(LAB_DIR, 'actor.py')]
        if os.environ.get('SEATGATE_BUILD_DIR'):
            paths.append(os.environ['SEATGATE_BUILD_DIR'])
        check_readable_for_lab_uids(paths)
        conf = os.path.join(self.dir, 'system-bus.conf')
        with open(conf, 'w', encoding='utf-8') as f:
            f.write(self.bus_config())
        r, w = os.pipe()
        self._bus_log = open(os.path.join(self.dir, 'dbus-daemon.log'), 'wb')
        self.bus_proc = subprocess.Popen(
            ['dbus-daemon', f'--config-file={conf}', '--nofork', f'--print-address={w}'],
            pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=self._bus_log, stderr=subprocess.STDOUT)
        os.close(w)
        ready, _, _ = select.select([r], [], [], 5)
        data = os.read(r, 4096) if ready else b''
        os.close(r)
        if not data.strip():
            self.bus_proc.kill()
            raise LabError('dbus-daemon did not start: ' + self.read(os.path.join(self.dir, 'dbus-daemon.log')))
        self.bus_address = data.decode().strip()
        self.client = BusClient(self.bus_address)
        self.gate = Gate(self.client)
        return self.bus_address

    def _spawn_mock(self, key, template, name):
        log = os.path.join(self.dir, f'{key}.log')
        out = open(os.path.join(self.dir, f'{key}.out'), 'wb')
        proc = subprocess.Popen([PYTHON, '-m', 'dbusmock', '--system', '-t', template, '-l', log],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address,
                                         PYTHONDONTWRITEBYTECODE='1'))
        self.mocks[key] = (proc, name, out)
        return proc

    def _wait_mock(self, key):
        proc, name, _out = self.mocks[key]

        def up():
            if proc.poll() is not None:
                raise LabError(f'{key} mock exited: ' + self.read(os.path.join(self.dir, f'{key}.out')))
            return self.client.name_owner(name)
        wait_until(up, 10, what=f'{name} on the lab bus')

    def start_mocks(self, logind=True, polkit=True):
        if logind:
            self._spawn_mock('logind', os.path.join(LAB_DIR, 'logind_mock.py'), LOGIND_NAME)
        if polkit:
            self._spawn_mock('polkitd', 'polkitd', POLKIT_NAME)
        if logind:
            self._wait_mock('logind')
            self.logind = Logind(self.client)
        if polkit:
            self._wait_mock('polkitd')
            self.polkit = Polkit(self.client)

    def start(self, allowed=(ACTION_GRANT,)):
        '''Bus, logind and polkit; polkit allows `allowed`.'''
        self.start_bus()
        self.start_mocks()
        self.polkit.set_allowed(allowed)
        return self

    def standard_world(self):
        '''seat0 with 1000's active local session "2" and 1002's background
        session "4"; 1001's remote session "3" (no seat, Active like logind).'''
        self.logind.add_seat('seat0')
        self.logind.add_session(INACTIVE_SESSION, INACTIVE_UID, seat='seat0', active=False)
        self.logind.add_session(CONSOLE_SESSION, CONSOLE_UID, seat='seat0', active=True)
        self.logind.add_session(REMOTE_SESSION, REMOTE_UID, remote=True, type='tty')

    # --- config and helper --------------------------------------------------
    def write_file(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def write_config(self, seats=None, always_allow=(), table_mode=None, extra='', name='seatgate.conf'):
        '''seats: {seat: "5930;5931-5935"} (default {"seat0": "5930"}).'''
        seats = {'seat0': str(DEFAULT_PORT)} if seats is None else seats
        lines = ['[Gate]', 'AlwaysAllow=' + ';'.join(str(u) for u in always_allow)]
        if table_mode:
            lines.append(f'TableMode={table_mode}')
        for seat, ports in seats.items():
            lines += ['', f'[Seat {seat}]', f'Ports={ports}']
        path = self.write_file(name, '\n'.join(lines) + '\n' + extra)
        self.config_path = path
        return path

    def helper_command(self, config=None, args=('--verbose',)):
        if config is None:
            config = self.config_path or self.write_config()
        cmd = [self.helper_path]
        if config:
            cmd += ['--config', config]
        return cmd + list(args)

    def start_helper(self, config=None, args=('--verbose',), wait=True, timeout=5.0, env=None,
                     wrapper=()):
        '''Starts seatgate-helper as root on the lab bus (env: more
        environment; wrapper: a command in front, e.g. valgrind); with wait,
        returns once it owns its name (so its table is in place).'''
        n = len(self.helpers)
        helper = Helper(self, self.helper_command(config, args),
                        os.path.join(self.dir, f'helper-{n}.log'), extra_env=env, wrapper=wrapper)
        self.helpers.append(helper)
        self.helper = helper
        if wait:
            helper.wait_ready(timeout)
        return helper

    def run_helper(self, config=None, args=(), timeout=10.0):
        '''Runs the helper to completion (--reset, a broken config, --version):
        a CompletedProcess with stdout and stderr as text.'''
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': self.bus_address or ''}
        r = subprocess.run(self.helper_command(config, args), capture_output=True, text=True,
                           timeout=timeout, env=env, stdin=subprocess.DEVNULL, cwd='/')
        with open(os.path.join(self.dir, f'helper-run-{len(self.helpers)}.log'), 'a', encoding='utf-8') as f:
            f.write(f'$ {" ".join(r.args)}\n[exit {r.returncode}]\n{r.stdout}{r.stderr}\n')
        return r

    # --- network -------------------------------------------------------------
    def listen(self, port=DEFAULT_PORT, hosts=LOOPBACKS):
        listener = Listener(port, hosts)
        self.listeners.append(listener)
        return listener

    def outside(self):
        host = OutsideHost(self)
        self.outsides.append(host)
        return host

    def nft_table(self):
        '''`nft list table inet seatgate`, or None if there is none.'''
        r = subprocess.run(['nft', 'list', 'table', 'inet', 'seatgate'], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None

    def nft_ruleset(self):
        return subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True).stdout

    # --- persons -------------------------------------------------------------
    def actor(self, uid, bus=True, netns_pid=None, name=None):
        a = Actor(self, uid, bus=bus, netns_pid=netns_pid, name=name)
        self.actors.append(a)
        return a

    def spawn_as(self, uid, argv, env=None, name=None, netns_pid=None, **popen_kw):
        '''Starts argv as uid (setpriv, no supplementary groups) with the lab
        bus as its system bus; stdout and stderr go to a log in the lab dir
        unless popen_kw says otherwise. The lab kills it at close().'''
        name = name or f'{os.path.basename(argv[0])}-{uid}-{len(self.spawned)}'
        cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + list(argv)
        if netns_pid is not None:
            cmd = ['nsenter', '-t', str(netns_pid), '-n'] + cmd
        full_env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': self.dir, 'LANG': 'C.UTF-8',
                    'DBUS_SYSTEM_BUS_ADDRESS': self.bus_address or ''}
        full_env.update(env or {})
        log_path = os.path.join(self.dir, name + '.log')
        log = open(log_path, 'ab')
        popen_kw.setdefault('stdout', log)
        popen_kw.setdefault('stderr', subprocess.STDOUT)
        popen_kw.setdefault('stdin', subprocess.DEVNULL)
        proc = subprocess.Popen(cmd, env=full_env, cwd='/', **popen_kw)
        log.close()
        proc.lab_log_path = log_path
        self.spawned.append((name, proc))
        return proc

    # --- logs and teardown ------------------------------------------------------
    @staticmethod
    def read(path):
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except OSError as e:
            return f'({e})'

    def logs(self):
        '''{title: text} of everything worth reading when a test fails.'''
        out = {}
        for i, h in enumerate(self.helpers):
            rc = h.proc.poll()
            out[f'seatgate-helper #{i} ({" ".join(h.args)}) '
                f'[{"running" if rc is None else "exit " + str(rc)}]'] = self.read(h.log_path)
        for name in sorted(os.listdir(self.dir)):
            if name.startswith('helper-run-'):
                out[name] = self.read(os.path.join(self.dir, name))
        for name, proc in self.spawned:
            out[f'{name} [{"running" if proc.poll() is None else "exit " + str(proc.returncode)}]'] = \
                self.read(proc.lab_log_path)
        for key in self.mocks:
            out[f'{key} mock'] = self.read(os.path.join(self.dir, f'{key}.log')) + \
                self.read(os.path.join(self.dir, f'{key}.out'))
        for a in self.actors:
            text = a.log()
            if text:
                out[a.name] = text
        out['nft list ruleset'] = self.nft_ruleset()
        return out

    def close(self):
        for a in self.actors:
            try:
                a.quit()
            except Exception:
                a.kill()
        for _name, proc in self.spawned:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for h in self.helpers:
            stop_process(h.proc)
            h._log.close()
        for o in self.outsides:
            o.close()
        # Leave the namespace as found, for a next lab in the same process
        # (meson gives each test a namespace of its own; plain pytest does not).
        for table in ('inet seatgate', 'inet labcheck'):
            subprocess.run(['nft', 'delete', 'table'] + table.split(), capture_output=True)
        for listener in self.listeners:
            listener.close()
        if self.client:
            self.client.close()
        for proc, _name, out in self.mocks.values():
            stop_process(proc)
            out.close()
        if self.bus_proc:
            stop_process(self.bus_proc)
            self._bus_log.close()
        reports = self.sanitizer_reports()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            raise LabError(f'sanitizer reports from the lab\'s processes:\n{reports}')


# --- what a person's connect shows -------------------------------------------------
# One place for the checks every suite makes: a person (an Actor) connects
# from their own uid to each loopback address, so a rule that covers only v4
# or only v6 fails here.

def assert_connects(person, port=DEFAULT_PORT, hosts=LOOPBACKS, why=''):
    for host in hosts:
        result = person.connect(host, port)
        assert result == 'ok', \
            f'uid {person.uid} to {host}:{port}: {result}, expected ok' + (f' ({why})' if why else '')


def assert_refused(person, port=DEFAULT_PORT, hosts=LOOPBACKS, why=''):
    for host in hosts:
        result = person.connect(host, port)
        assert result == 'refused', \
            f'uid {person.uid} to {host}:{port}: {result}, expected refused' + (f' ({why})' if why else '')
