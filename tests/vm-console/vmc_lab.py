'''The vm-console lab: a real QEMU 7.2 with SPICE and a QMP socket, started
as docs/vm-binding.md says, the helper's SgVmConsole run by
vm-console-tool, and tests/e2e/spice_link.py as the SPICE client.

Runs under tests/e2e/sandbox-run (own network namespace, so port 5930 and
/tmp are the test's own).'''

import json
import os
import queue
import secrets
import select
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SPICE_LINK = os.path.join(TESTS, 'e2e', 'spice_link.py')
PYTHON = '/usr/bin/python3'
QEMU = 'qemu-system-x86_64'
TOOL = os.environ.get('SEATGATE_VM_CONSOLE_TOOL', '')
SPICE_PORT = 5930

sys.path.insert(0, os.path.join(TESTS, 'e2e'))
import spice_link  # noqa: E402


class LabError(Exception):
    pass


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.01)


class Qemu:
    '''QEMU with SPICE on 127.0.0.1:5930 and its own QMP socket for
    seatgate. The SPICE password it starts with comes from a 0600 secret
    file (never -object secret,data=, which every uid can read in
    /proc/PID/cmdline) and is told to nobody.'''

    def __init__(self, folder, qmp_path, ticketing=True, name='vmc'):
        self.folder, self.qmp_path, self.ticketing, self.name = folder, qmp_path, ticketing, name
        self.proc = None
        self.log_path = os.path.join(folder, f'{name}-qemu.log')

    def command(self):
        argv = [QEMU, '-name', self.name, '-machine', 'pc', '-accel', 'tcg', '-m', '64',
                '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'qxl',
                '-qmp', f'unix:{self.qmp_path},server=on,wait=off']
        if self.ticketing:
            secret = os.path.join(self.folder, f'{self.name}-spice.secret')
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, secrets.token_urlsafe(24).encode())
            os.close(fd)
            argv += ['-object', f'secret,id=sec0,file={secret}',
                     '-spice', f'port={SPICE_PORT},addr=127.0.0.1,password-secret=sec0']
        else:
            argv += ['-spice', f'port={SPICE_PORT},addr=127.0.0.1,disable-ticketing=on']
        return argv

    def start(self):
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._ready, 10, f'QEMU to listen on {SPICE_PORT} and {self.qmp_path}')
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise LabError(f'QEMU exited with status {self.proc.returncode}: {self.log()}')
        if not os.path.exists(self.qmp_path):
            return False
        with socket.socket() as s:
            return s.connect_ex(('127.0.0.1', SPICE_PORT)) == 0

    def log(self):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stop_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Tool:
    '''vm-console-tool over one seat's config: commands in, JSON lines out.'''

    def __init__(self, folder, config_text, seat='seat0'):
        self.config = os.path.join(folder, 'seatgate.conf')
        with open(self.config, 'w', encoding='utf-8') as f:
            f.write(config_text)
        self.stderr_path = os.path.join(folder, 'vm-console-tool.log')
        self.lines = queue.Queue()
        self.seen = []
        if not TOOL:
            raise LabError('SEATGATE_VM_CONSOLE_TOOL is not set: run the suite through meson')
        err = open(self.stderr_path, 'ab')
        env = dict(os.environ, G_MESSAGES_DEBUG='all')
        self.proc = subprocess.Popen([TOOL, self.config, seat], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=err, env=env)
        err.close()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))
        self.lines.put(None)

    def send(self, command):
        self.proc.stdin.write(command.encode() + b'\n')
        self.proc.stdin.flush()

    def next(self, want, timeout=10.0):
        '''The next output line for which want(line) holds; the others are
        kept in self.seen.'''
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(f'timed out after {timeout} s; seen {self.seen}; '
                               f'log: {self.log()}')
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise LabError(f'vm-console-tool ended (status {self.proc.wait()}): '
                               f'{self.log()}')
            self.seen.append(line)
            if want(line):
                return line

    def op(self, command, timeout=10.0):
        name = 'lock' if command.startswith('lock') else command
        self.send(command)
        return self.next(lambda d: d.get('op') == name, timeout)

    def event(self, kind=None, timeout=10.0):
        return self.next(lambda d: d.get('event') == 'reachable' if kind == 'reachable'
                         else d.get('event') == 'client' and (kind is None or d['kind'] == kind),
                         timeout)

    def log(self):
        with open(self.stderr_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send('quit')
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


class EarlyEventRelay:
    '''A unix socket in front of a real QEMU's QMP socket that hands each
    client one event line before QEMU's greeting, then relays both ways.

    Real QEMU does this to a client that connects while it starts (seen in
    CI with 7.2: a RESUME line first): monitor_qapi_event_emit (monitor/
    monitor.c) sends events to every QMP monitor not in capabilities mode,
    and monitor_qmp_event (monitor/qmp.c) puts a monitor in it only on
    CHR_EVENT_OPENED. The window is too short to hit on purpose, so this
    relay opens it every time; the line is QEMU's own format.'''

    EVENT = b'{"timestamp": {"seconds": 1796417916, "microseconds": 926439}, "event": "RESUME"}\r\n'

    def __init__(self, path, qemu_path):
        self.path, self.qemu_path = path, qemu_path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(4)
        self.clients = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.qemu_path)
            except OSError:
                client.close()
                upstream.close()
                continue
            self.clients += 1
            client.sendall(self.EVENT)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


def link(password, timeout=3.0):
    '''A SPICE link to the VM with @password (str): the LinkResult.'''
    return spice_link.link('127.0.0.1', SPICE_PORT, timeout, password.encode())


def spice_link_process(password, hold=True):
    '''spice_link.py as a process, the ticket on its stdin: the Popen (JSON
    lines on stdout).'''
    argv = [PYTHON, SPICE_LINK, '--json', '--password-file', '-']
    if hold:
        argv.append('--hold')
    proc = subprocess.Popen(argv + ['127.0.0.1', str(SPICE_PORT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    proc.stdin.write(password + '\n')
    proc.stdin.close()
    return proc


def readline_within(proc, timeout):
    '''The next line of proc's stdout, or '' after timeout seconds.'''
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ''


def all_cmdlines():
    '''Every process's command line, as text.'''
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                out.append(f.read().replace(b'\0', b' ').decode(errors='replace'))
        except OSError:
            pass
    return out


__all__ = ['Qemu', 'Tool', 'EarlyEventRelay', 'LabError', 'link', 'spice_link_process', 'readline_within',
           'all_cmdlines', 'wait_until', 'SPICE_PORT']
