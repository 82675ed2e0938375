'''The fault suite's additions to the seatgate lab (tests/lab/seatgate_lab.py):

  FaultLab        a Lab that can stop and restart the logind stand-in (its
                  start_helper takes extra environment, e.g. NOTIFY_SOCKET,
                  and a wrapper, e.g. valgrind, as every Lab's does)
  Prober          a real uid process connecting to the port in a loop
                  (tests/faults/prober.py): who got in, when, for how long
  FakeNotifySocket  the service manager's end of sd_notify: a datagram socket
  granted_set()   the kernel's set inet seatgate granted, as {(uid, port)}
  start_agent()   the real seatgate-agent as a uid, without a session bus

Timing bounds here are generous: only bounds that are part of the security
promise are asserted, and those with room for a loaded 2-core machine.
'''

import json
import os
import select
import signal
import socket
import subprocess
import time

import seatgate_lab
from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID,
                          LOGIND_NAME, LOOPBACKS, PYTHON, REMOTE_SESSION, REMOTE_UID, Lab,
                          LabError, wait_until)

FAULTS_DIR = os.path.dirname(os.path.abspath(__file__))
PORT = seatgate_lab.DEFAULT_PORT

# Generous: the helper reacts in milliseconds; these stop a broken one from
# hanging the suite.
SETTLE = 10.0


def report(name, **values):
    '''Prints a measurement so that it shows in the test log (pytest -s or
    the meson test log): "MEASURED name: k=v ...".'''
    text = ' '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                    for k, v in values.items())
    line = f'MEASURED {name}: {text}'
    print(line, flush=True)
    out = os.environ.get('SEATGATE_MEASUREMENTS')
    if out:
        with open(out, 'a', encoding='utf-8') as f:
            f.write(line + '\n')


# ---------------------------------------------------------------------------
# The lab, with logind that can leave

class FaultLab(Lab):
    # --- logind leaving and coming back ------------------------------------------
    def stop_logind(self):
        proc, _name, out = self.mocks.pop('logind')
        proc.kill()
        proc.wait(5)
        out.close()
        wait_until(lambda: self.client.name_owner(LOGIND_NAME) is None, 5,
                   what='logind to leave the bus')

    def start_logind(self, active=CONSOLE_SESSION):
        '''A new logind stand-in holding the standard world, with session
        `active` in the foreground of seat0, from its first answer on (a
        restarted logind reads its state from /run before it answers).'''
        for suffix in ('log', 'out'):
            old = os.path.join(self.dir, f'logind.{suffix}')
            if os.path.exists(old):
                os.replace(old, os.path.join(self.dir, f'logind-{time.monotonic():.3f}.{suffix}'))
        world = {'seats': ['seat0'], 'sessions': [
            {'id': INACTIVE_SESSION, 'uid': INACTIVE_UID, 'seat': 'seat0',
             'active': active == INACTIVE_SESSION},
            {'id': CONSOLE_SESSION, 'uid': CONSOLE_UID, 'seat': 'seat0',
             'active': active == CONSOLE_SESSION},
            {'id': REMOTE_SESSION, 'uid': REMOTE_UID, 'remote': True, 'type': 'tty'},
        ]}
        log = os.path.join(self.dir, 'logind.log')
        out = open(os.path.join(self.dir, 'logind.out'), 'wb')
        proc = subprocess.Popen([PYTHON, '-m', 'dbusmock', '--system', '-t',
                                 os.path.join(FAULTS_DIR, 'logind_world_mock.py'), '-l', log,
                                 '-p', json.dumps(world)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address,
                                         PYTHONDONTWRITEBYTECODE='1'))
        self.mocks['logind'] = (proc, LOGIND_NAME, out)
        self._wait_mock('logind')
        self.logind = seatgate_lab.Logind(self.client)

    # --- the kernel's view ---------------------------------------------------------
    def granted_set(self):
        '''{(uid, port)} in set inet seatgate granted; None without the table.'''
        r = subprocess.run(['nft', '-j', 'list', 'set', 'inet', 'seatgate', 'granted'],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        out = set()
        for item in json.loads(r.stdout)['nftables']:
            for elem in item.get('set', {}).get('elem', []):
                uid, port = elem['concat']
                out.add((int(uid), int(port)))
        return out

    def table_flags(self):
        '''The table's flags as nft -j lists them (e.g. ['owner', 'persist']);
        None without the table.'''
        r = subprocess.run(['nft', '-j', 'list', 'tables'], capture_output=True, text=True)
        for item in json.loads(r.stdout)['nftables']:
            t = item.get('table')
            if t and t['family'] == 'inet' and t['name'] == 'seatgate':
                flags = t.get('flags', [])
                return [flags] if isinstance(flags, str) else list(flags)
        return None

    # --- people ----------------------------------------------------------------------
    def prober(self, uid, hosts=LOOPBACKS, port=PORT, interval=0.0005, until_ok=False, hold=0):
        return Prober(self, uid, hosts, port, interval, until_ok, hold)

    def start_agent(self, uid=CONSOLE_UID, session_id=CONSOLE_SESSION, wrapper=(), env=None):
        '''The real seatgate-agent as uid, in session_id, without a session
        bus (so without tray or notifications: the grant logic is the same).'''
        agent = agent_binary()
        full_env = {'XDG_SESSION_ID': session_id, 'G_DEBUG': 'fatal-criticals',
                    'DBUS_SESSION_BUS_ADDRESS': 'unix:path=/nonexistent'}
        full_env.update(env or {})
        return self.spawn_as(uid, list(wrapper) + [agent, '--no-tray', '--verbose'], env=full_env,
                             name=f'agent-{uid}-{len(self.spawned)}')


def sanitized(binary):
    '''Whether binary is built with AddressSanitizer or UBSan (the
    sanitizer build of tests/run): valgrind cannot run it, and ASan's
    quarantine keeps freed memory resident.'''
    if any(var in os.environ for var in ('ASAN_OPTIONS', 'UBSAN_OPTIONS')):
        return True
    r = subprocess.run(['ldd', binary], capture_output=True, text=True)
    return 'libasan' in r.stdout or 'libubsan' in r.stdout


def helper_binary():
    return os.environ.get('SEATGATE_HELPER') or os.path.join(
        seatgate_lab.SOURCE_DIR, 'build-lab', 'helper', 'seatgate-helper')


def agent_binary():
    return os.environ.get('SEATGATE_AGENT') or os.path.join(
        seatgate_lab.SOURCE_DIR, 'build', 'agent', 'seatgate-agent')


def rss_kib(pid):
    '''Resident memory of a process, in KiB.'''
    with open(f'/proc/{pid}/status', encoding='ascii') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise LabError(f'no VmRSS for pid {pid}')


# ---------------------------------------------------------------------------
# A process that connects in a loop

class Prober:
    '''tests/faults/prober.py as a real uid. stop() returns its summary and
    keeps it as .result; windows() lists the runs of successful connects.'''

    def __init__(self, lab, uid, hosts, port, interval, until_ok, hold):
        self.lab = lab
        self.uid = uid
        argv = [PYTHON, os.path.join(FAULTS_DIR, 'prober.py'), '--port', str(port),
                '--interval', str(interval), '--hold', str(hold)]
        if until_ok:
            argv.append('--until-ok')
        self.started = time.monotonic()
        self.proc = lab.spawn_as(uid, argv + list(hosts), env={'PYTHONDONTWRITEBYTECODE': '1'},
                                 name=f'prober-{uid}-{len(lab.spawned)}', stdout=subprocess.PIPE)
        self.result = None
        self._lines = []
        self._read_line(10, 'ready')

    def _read_line(self, timeout, what):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise LabError(f'prober of uid {self.uid}: no {what} within {timeout} s')
        line = self.proc.stdout.readline()
        if not line:
            raise LabError(f'prober of uid {self.uid} exited: {Lab.read(self.proc.lab_log_path)}')
        return line.decode()

    def stop(self):
        if self.result is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            self.result = json.loads(self._read_line(10, 'summary'))
            self.proc.wait(5)
        return self.result

    def wait_ok(self, timeout):
        '''With until_ok: the time of the first successful connect.'''
        self.result = json.loads(self._read_line(timeout, 'success'))
        self.proc.wait(5)
        return self.first_ok()

    def first_ok(self):
        for outcome, first, _last, _n in self.result['runs']:
            if outcome == 'ok':
                return first
        return None

    def windows(self):
        '''[(first_ok, last_ok, bound, count)]: each run of successful
        connects; bound is the time between the refused attempts around it
        (the most the port can have been open), first_ok..last_ok what was
        seen open.'''
        runs = self.stop()['runs']
        out = []
        for i, (outcome, first, last, n) in enumerate(runs):
            if outcome != 'ok':
                continue
            before = runs[i - 1][2] if i > 0 else first
            after = runs[i + 1][1] if i + 1 < len(runs) else last
            out.append((first, last, after - before, n))
        return out

    def outcomes(self):
        counts = {}
        for outcome, _f, _l, n in self.stop()['runs']:
            counts[outcome] = counts.get(outcome, 0) + n
        return counts


# ---------------------------------------------------------------------------
# The service manager's end of sd_notify

class FakeNotifySocket:
    '''A datagram socket standing in for systemd's notify socket: records
    every message with its arrival time.'''

    def __init__(self, directory):
        self.path = os.path.join(directory, 'notify.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []   # [(time, text)]

    def drain(self, timeout=0.0):
        '''Reads what has arrived (waiting up to timeout for the first).'''
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return self.messages
            data = self.sock.recv(4096)
            self.messages.append((time.monotonic(), data.decode(errors='replace')))
            deadline = time.monotonic()  # then take only what is already there

    def collect(self, seconds):
        '''Reads for that long, stamping each message as it arrives.'''
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.messages
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                data = self.sock.recv(4096)
                self.messages.append((time.monotonic(), data.decode(errors='replace')))

    def wait_for(self, text, timeout=SETTLE, since=0):
        deadline = time.monotonic() + timeout
        while True:
            for t, m in self.messages[since:]:
                if text in m.split('\n'):
                    return t
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.drain(min(left, 0.1))

    def pings(self, since_time=0.0):
        return [t for t, m in self.messages if 'WATCHDOG=1' in m.split('\n') and t >= since_time]

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

