"""What the VM suite's driver (driver.py) stands on inside the guest: the
results port, waiting on files without polling (inotify), the helper's bus
signals (busctl monitor), one TCP client per uid (netprobe.py run as that
uid) and real console logins on VTs whose login shells run what the driver
sends them (build-image writes their ~/.bash_profile)."""
import ctypes
import itertools
import json
import os
import pwd
import queue
import select
import subprocess
import threading
import time

RUN = '/run/sg-vmtest'
LIB = '/usr/lib/sg-vmtest'
now = time.monotonic
_seq = itertools.count(1)  # shell command numbers, unique across sessions


def sh(cmd, timeout=30, check=False, env=None):
    '''Runs a shell command; returns (status, stdout+stderr).'''
    try:
        p = subprocess.run(['/bin/sh', '-c', cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
        raise TimeoutError(f'{cmd!r} did not finish within {timeout} s: {out[-500:]}')
    if check and p.returncode != 0:
        raise RuntimeError(f'{cmd!r} failed ({p.returncode}): {p.stdout.strip()[-800:]}')
    return p.returncode, p.stdout


def out(cmd, timeout=30):
    return sh(cmd, timeout=timeout, check=True)[1].strip()


class Results:
    '''JSON lines on the second serial port (the host's results file), and
    the same on stdout for the console log.'''

    def __init__(self, path='/dev/ttyS1'):
        self.port = open(path, 'w', buffering=1)

    def send(self, **obj):
        obj.setdefault('t', round(now(), 3))
        line = json.dumps(obj)
        self.port.write(line + '\n')
        self.port.flush()
        print('sg-vmtest: ' + line, flush=True)


class Inotify:
    '''Wakes on any change in one directory, so waits for files are events,
    not sleeps.'''
    IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        mask = self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_MOVED_TO | self.IN_CREATE
        if libc.inotify_add_watch(self.fd, directory.encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), 'inotify_add_watch ' + directory)

    def wait(self, predicate, timeout):
        '''Returns predicate()'s first true value, or None after timeout s.'''
        deadline = now() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - now()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    os.read(self.fd, 65536)
                except BlockingIOError:
                    pass


def read_text(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


class BusMonitor:
    '''Every seatgate signal on the system bus, and the helper's coming and
    going (NameOwnerChanged), each stamped with the time it was read.'''

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ['busctl', 'monitor', '--system', '--json=short',
             "--match=type='signal',interface='io.github.seatgate.Gate1'",
             "--match=type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',"
             "arg0='io.github.seatgate.Gate1'"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get('type') != 'signal':
                continue
            data = (msg.get('payload') or {}).get('data') or []
            event = {'t': now(), 'member': msg.get('member'), 'args': data}
            with self.cond:
                self.events.append(event)
                self.cond.notify_all()

    def wait(self, member, since, timeout, match=None):
        '''The first signal named member read after since (and for which
        match(args) holds), or None.'''
        deadline = now() + timeout

        def find():
            for e in self.events:
                if e['t'] >= since and e['member'] == member and (match is None or match(e['args'])):
                    return e
            return None
        with self.cond:
            while True:
                e = find()
                if e or now() >= deadline:
                    return e
                self.cond.wait(deadline - now())

    def since(self, since):
        with self.cond:
            return [e for e in self.events if e['t'] >= since]


class Prober:
    '''netprobe.py as one uid.'''

    def __init__(self, user):
        self.user = user
        pw = pwd.getpwnam(user)
        self.uid = pw.pw_uid
        self.connected_ok = False  # has this uid ever reached the listener on 5930?
        self.msgs = queue.Queue()
        self.ended = {}
        self.throughs = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ['setpriv', f'--reuid={pw.pw_uid}', f'--regid={pw.pw_gid}', '--init-groups',
             '/usr/bin/python3', f'{LIB}/netprobe.py'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={'PATH': '/usr/bin:/bin', 'HOME': pw.pw_dir})
        threading.Thread(target=self._read, daemon=True).start()
        first = self.msgs.get(timeout=30)
        if not first.get('ready'):
            raise RuntimeError(f'netprobe for {user} did not start: {first}')

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if 'ended' in msg:
                with self.cond:
                    self.ended[msg['ended']] = msg
                    self.cond.notify_all()
            elif 'through' in msg:
                with self.cond:
                    self.throughs.append(msg)
            else:
                self.msgs.put(msg)

    def _ask(self, line, timeout=10):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()
        return self.msgs.get(timeout=timeout)

    def connect(self, host, port=5930, keep=None):
        '''"ok", "refused", "timeout", ... for one connection; with keep=ID
        the connection stays open under that id.'''
        conn_id = keep or f'c{now():.6f}'
        msg = self._ask(f'connect {conn_id} {host} {port}' + (' keep' if keep else ''))
        if msg['result'] == 'ok' and port == 5930:
            self.connected_ok = True
        return msg['result']

    def refused_by_gate(self, host):
        '''(True, evidence) when 5930 is refused while the ungated 18930 of the
        same listener answers this uid at the same moment.'''
        gated = self.connect(host, 5930)
        control = self.connect(host, 18930)
        return gated == 'refused' and control == 'ok', f'{self.user} {host}:5930 {gated}, :18930 {control}'

    def wait_ok(self, hosts, timeout, every=0.02):
        '''Connects until each host answers "ok"; returns the time each first
        did (or None).'''
        deadline = now() + timeout
        got = {}
        while len(got) < len(hosts) and now() < deadline:
            for host in hosts:
                if host not in got and self.connect(host) == 'ok':
                    got[host] = now()
            if len(got) < len(hosts):
                time.sleep(every)
        return {h: got.get(h) for h in hosts}

    def wait_refused(self, host, timeout, every=0.02):
        deadline = now() + timeout
        while now() < deadline:
            if self.connect(host) == 'refused':
                return now()
            time.sleep(every)
        return None

    def wait_ended(self, conn_id, timeout):
        deadline = now() + timeout
        with self.cond:
            while conn_id not in self.ended and now() < deadline:
                self.cond.wait(deadline - now())
            return self.ended.get(conn_id)

    def close(self, conn_id):
        self._ask(f'close {conn_id}')

    def hammer_start(self, ms=5):
        with self.cond:
            self.throughs = []
        self._ask(f'hammer start {ms}')

    def hammer_stop(self):
        counts = self._ask('hammer stop', timeout=20)['hammer']
        with self.cond:
            counts['through_times'] = [round(m['t'], 3) for m in self.throughs]
        return counts


class Session:
    '''A login shell on a VT, logged in by agetty --autologin.'''

    def __init__(self, console, user, vt, sid, shell_pid):
        self.console, self.user, self.vt, self.id, self.shell_pid = console, user, vt, sid, shell_pid
        self.fifo = f'{RUN}/shell-{user}-tty{vt}'
        self.ack = f'{RUN}/ack-{user}-tty{vt}'

    def prop(self, name):
        return out(f'loginctl show-session {self.id} -p {name} --value')

    def _write(self, line, timeout=10):
        done = threading.Event()
        error = []

        def writer():
            # No O_CREAT: fs.protected_fifos refuses it on a FIFO of another
            # uid in a sticky directory, even to root.
            try:
                fd = os.open(self.fifo, os.O_WRONLY)
                try:
                    os.write(fd, (line + '\n').encode())
                finally:
                    os.close(fd)
            except OSError as e:
                error.append(e)
            done.set()
        threading.Thread(target=writer, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError(f"{self.user}'s shell on tty{self.vt} did not read its next command")
        if error:
            raise error[0]

    def run(self, cmd, timeout=10):
        '''Runs cmd in the login shell and waits until the shell did.'''
        seq = str(next(_seq))
        self._write(f'{cmd}; echo {seq} > {self.ack}')
        if not self.console.inotify.wait(lambda: read_text(self.ack).strip() == seq, timeout):
            raise TimeoutError(f"{self.user}'s shell on tty{self.vt} did not run {cmd!r}")

    def exit(self):
        '''Logs out from the shell: the login shell itself exits.'''
        self._write('exit')


class Console:
    def __init__(self):
        os.makedirs(RUN, exist_ok=True)
        os.chmod(RUN, 0o1777)
        self.inotify = Inotify(RUN)

    def prepare(self, user, vt):
        fifo = f'{RUN}/shell-{user}-tty{vt}'
        if not os.path.exists(fifo):
            os.mkfifo(fifo, 0o600)
            pw = pwd.getpwnam(user)
            os.chown(fifo, pw.pw_uid, pw.pw_gid)

    def ready(self, user, vt, not_sid=None, timeout=30):
        '''The login shell's session once it is ready for commands.'''
        path = f'{RUN}/ready-{user}-tty{vt}'

        def check():
            words = read_text(path).split()
            return words if len(words) == 2 and words[0] != not_sid else None
        words = self.inotify.wait(check, timeout)
        if not words:
            raise TimeoutError(f'no login shell of {user} came up on tty{vt} within {timeout} s '
                               f'(getty@tty{vt}: {sh(f"systemctl status --no-pager getty@tty{vt}")[1][-600:]})')
        return Session(self, user, vt, words[0], int(words[1]))

    def start_login(self, user, vt):
        """Switches to VT vt and starts its autologin getty (agetty
        --autologin, then login and pam_systemd: a real seat0 session);
        returns what ready() needs to tell the new session from the last."""
        self.prepare(user, vt)
        old = read_text(f'{RUN}/ready-{user}-tty{vt}').split()
        sh(f'chvt {vt}', check=True)
        sh(f'systemctl start getty@tty{vt}.service', check=True)
        return old[0] if old else None

    def login(self, user, vt, timeout=30):
        old = self.start_login(user, vt)
        return self.ready(user, vt, not_sid=old, timeout=timeout)


def session_created(sid):
    '''The session's creation time on CLOCK_MONOTONIC (logind's
    TimestampMonotonic), the clock of now().'''
    usec = out(f'loginctl show-session {sid} -p TimestampMonotonic --value')
    return int(usec) / 1e6


def seat_active_session():
    return out('loginctl show-seat seat0 -p ActiveSession --value')


def journal(unit, lines=40):
    return sh(f'journalctl -b -u {unit} -o short-monotonic --no-pager -n {lines}')[1]


def nft_table():
    return sh('nft list table inet seatgate')[1]
