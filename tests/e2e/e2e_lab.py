'''The end-to-end part of the seatgate lab: a real QEMU VM serving SPICE, the
headless SPICE client (spice_link.py) run as a person, and remote-viewer
under Xvfb. Used by tests/e2e and by the demo (demo/seatgate-demo), over a
started seatgate_lab.Lab, inside tests/e2e/sandbox-run.

    vm = VM(lab, addr='::')                     # QEMU, SPICE on [::]:5930 (both loopbacks here)
    vm.start(); vm.wait_listening()
    r = spice_link(lab, CONSOLE_UID, '127.0.0.1')   # {'result': 'linked', ...}
    held = HeldLink(lab, CONSOLE_UID, '::1')    # linked and kept alive
    held.wait_ended(5.0)                        # {'result': 'ended', 'how': 'aborted', ...}
    x = Xvfb(lab); v = Viewer(lab, x, uid, 'spice://127.0.0.1:5930')
    serial = SerialConsole(lab)                 # a guest's serial port, lines stamped on arrival
    vm = VM(lab, qmp=True, kernel=K, initrd=I, append='console=ttyS0', serial=serial, memory=128)
'''

import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import threading
import time

import seatgate_lab
from seatgate_lab import PYTHON, LabError, wait_until

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
SPICE_LINK = os.path.join(E2E_DIR, 'spice_link.py')
QEMU = 'qemu-system-x86_64'
VM_NAME = 'seatgate-lab-vm'
# The VM runs as a plain uid of its own, as libvirt runs it as libvirt-qemu:
# the gate must not depend on the server being root. tests/lab/netns-run
# gives uids 1000-1009 a name inside the lab.
VM_UID = 1009

TCP_LISTEN = '0A'
TCP_ESTABLISHED = '01'


def need_programs(*names):
    '''Raises LabError naming the Debian package of each missing program.'''
    packages = {QEMU: 'qemu-system-x86', 'remote-viewer': 'virt-viewer', 'Xvfb': 'xvfb',
                'import': 'imagemagick', 'xwininfo': 'x11-utils', 'xprop': 'x11-utils'}
    missing = [n for n in names if shutil.which(n, path='/usr/sbin:/usr/bin:/sbin:/bin') is None]
    if missing:
        raise LabError('missing ' + ', '.join(f'{n} (Debian package {packages.get(n, n)})'
                                              for n in missing) +
                       ': sudo tests/install-deps installs them')


def tcp_sockets(port):
    '''[(state, local port, remote port, uid)] of the TCP sockets (v4 and v6)
    with port at either end, from /proc/net/tcp{,6} (this namespace).'''
    out = []
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name, encoding='ascii') as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            lport = int(fields[1].rsplit(':', 1)[1], 16)
            rport = int(fields[2].rsplit(':', 1)[1], 16)
            if port in (lport, rport):
                out.append((fields[3], lport, rport, int(fields[7])))
    return out


def established(port, uid=None):
    '''ESTABLISHED client sockets to port (of uid, if given): [local port].'''
    return [lport for state, lport, rport, suid in tcp_sockets(port)
            if state == TCP_ESTABLISHED and rport == port and (uid is None or suid == uid)]


def server_side_open(port, client_port):
    '''True while the server still holds its end of the connection from
    client_port (any state but a closed one).'''
    return any(lport == port and rport == client_port for _s, lport, rport, _u in tcp_sockets(port))


class VM:
    '''qemu-system-x86_64 with SPICE and no disk: SeaBIOS's screen is the
    console. addr '::' listens on every address of the namespace, v4 and v6
    (spice-server binds one socket with IPV6_V6ONLY off), which inside the
    lab's network namespace means 127.0.0.1 and ::1.'''

    def __init__(self, lab, port=seatgate_lab.DEFAULT_PORT, addr='127.0.0.1', uid=VM_UID, name=VM_NAME,
                 qmp=False, kernel=None, initrd=None, append='', serial=None, memory=64):
        self.lab, self.port, self.addr, self.uid, self.name = lab, port, addr, uid, name
        self.proc = None
        # kernel: boot it (and initrd) instead of the firmware screen, files
        # the VM's uid can read; serial: a SerialConsole for its ttyS0
        self.kernel, self.initrd, self.append, self.serial, self.memory = kernel, initrd, append, serial, memory
        # qmp: started as docs/vm-binding.md says, for a seat's QMPSocket=: a
        # SPICE password nobody is told (a 0600 secret file, never data=,
        # which /proc/PID/cmdline shows) and a QMP socket for the helper
        self.qmp_path = None
        if qmp:
            folder = os.path.join(lab.dir, f'{name}-run')
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chown(folder, uid, uid)
            self.qmp_path = os.path.join(folder, 'qmp.sock')
            self.secret_path = os.path.join(folder, 'spice.secret')

    def command(self):
        argv = [QEMU, '-name', self.name, '-machine', 'pc', '-accel', 'tcg', '-m', str(self.memory),
                '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'qxl']
        if self.kernel is not None:
            # -no-reboot: a guest that powers off or panics ends QEMU
            argv += ['-kernel', self.kernel, '-append', self.append, '-no-reboot']
            if self.initrd is not None:
                argv += ['-initrd', self.initrd]
        if self.serial is not None:
            argv += ['-chardev', f'socket,id=serial0,path={self.serial.path}', '-serial', 'chardev:serial0']
        if self.qmp_path is None:
            return argv + ['-spice', f'port={self.port},addr={self.addr},disable-ticketing=on']
        fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, secrets.token_urlsafe(24).encode())
        os.close(fd)
        os.chown(self.secret_path, self.uid, self.uid)
        return argv + ['-object', f'secret,id=sec0,file={self.secret_path}',
                       '-spice', f'port={self.port},addr={self.addr},password-secret=sec0',
                       '-qmp', f'unix:{self.qmp_path},server=on,wait=off']

    def start(self):
        need_programs(QEMU)
        self.proc = self.lab.spawn_as(self.uid, self.command(), name='qemu')
        return self

    def wait_listening(self, timeout=10.0):
        '''Returns the seconds it took for SPICE to listen; LabError if QEMU
        exits or does not listen in time.'''
        start = time.monotonic()

        def listening():
            if self.proc.poll() is not None:
                raise LabError(f'QEMU exited with status {self.proc.returncode}: {self.log()}')
            return any(state == TCP_LISTEN and lport == self.port
                       for state, lport, _r, _u in tcp_sockets(self.port))
        wait_until(listening, timeout, 0.01, f'QEMU to listen on port {self.port}')
        if self.qmp_path is not None:
            wait_until(lambda: os.path.exists(self.qmp_path), timeout, 0.01, 'QEMU\'s QMP socket')
        return time.monotonic() - start

    def log(self):
        return seatgate_lab.Lab.read(self.proc.lab_log_path) if self.proc else ''

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # SIGKILL: QEMU waits up to 30 s on SIGTERM for sockets a gate
            # left half-open; here there is nothing to save.
            self.proc.kill()
            self.proc.wait(5)


class SerialConsole:
    '''A guest's serial port, read here: a unix socket listened on before
    QEMU starts and connected to by QEMU at its start (-chardev socket in
    client mode), so nothing the guest prints is lost. A thread reads it
    and stamps each line with the time.monotonic() of its arrival.'''

    def __init__(self, lab, uid=VM_UID, name='serial'):
        folder = os.path.join(lab.dir, f'{name}-console')
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chown(folder, uid, uid)
        self.path = os.path.join(folder, 'ttyS0.sock')
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(self.path)
        os.chown(self.path, uid, uid)
        self.listener.listen(1)
        self.lines = []  # [(arrival, text)]
        self.ended = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name=f'{name}-console', daemon=True)
        self.thread.start()

    def _read(self):
        partial = b''
        try:
            conn, _ = self.listener.accept()
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    now = time.monotonic()
                    *complete, partial = (partial + data).split(b'\n')
                    with self.changed:
                        self.lines += [(now, line.decode('utf-8', 'replace').strip('\r'))
                                       for line in complete]
                        self.changed.notify_all()
        except OSError:
            pass  # close() shut the listener: no QEMU came
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def matching(self, pred, since=0.0):
        '''[(arrival, text)] of the lines so far that pred(text) accepts,
        arrived after since.'''
        with self.changed:
            return [(t, line) for t, line in self.lines if t > since and pred(line)]

    def wait_for(self, pred, count=1, since=0.0, timeout=5.0):
        '''The first count lines pred accepts (arrived after since), once
        they are there; fewer if the port closes or timeout passes first.'''
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [(t, line) for t, line in self.lines if t > since and pred(line)]
                left = deadline - time.monotonic()
                if len(found) >= count or self.ended or left <= 0:
                    return found[:count]
                self.changed.wait(left)

    def text(self):
        with self.changed:
            return '\n'.join(line for _t, line in self.lines)

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def _as_uid(uid, argv):
    return ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + list(argv)


def _env(lab, extra=None):
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8', 'HOME': lab.dir,
           'PYTHONDONTWRITEBYTECODE': '1'}
    env.update(extra or {})
    return env


def spice_link(lab, uid, host, port=seatgate_lab.DEFAULT_PORT, timeout=3.0, password=None):
    '''Runs the headless SPICE client as uid: its result as a dict
    ({'result': 'linked' | 'refused' | 'link-error:7' (a wrong ticket) | ...}).
    password: the SPICE ticket, handed over on stdin, never in argv.'''
    ticket = ['--password-file', '-'] if password is not None else []
    r = subprocess.run(_as_uid(uid, [PYTHON, SPICE_LINK, '--json', '--timeout', str(timeout)]
                                    + ticket + [host, str(port)]),
                       capture_output=True, text=True, timeout=timeout + 10, env=_env(lab),
                       input=(password + '\n') if password is not None else '', cwd='/')
    lines = r.stdout.strip().splitlines()
    if not lines:
        raise LabError(f'spice_link.py as uid {uid} printed nothing (exit {r.returncode}): {r.stderr}')
    return json.loads(lines[0])


class HeldLink:
    '''spice_link.py --hold as uid: a linked SPICE main channel kept alive
    until the connection ends.'''

    def __init__(self, lab, uid, host, port=seatgate_lab.DEFAULT_PORT, timeout=3.0, password=None):
        self.uid, self.host, self.port = uid, host, port
        self.log_path = os.path.join(lab.dir, f'spice-link-hold-{uid}-{len(lab.spawned)}.log')
        ticket = ['--password-file', '-'] if password is not None else []
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                _as_uid(uid, [PYTHON, SPICE_LINK, '--json', '--hold', '--timeout', str(timeout)]
                        + ticket + [host, str(port)]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=_env(lab), cwd='/')
        self.proc.stdin.write((password + '\n').encode() if password is not None else b'')
        self.proc.stdin.close()
        self.proc.lab_log_path = self.log_path
        lab.spawned.append((os.path.basename(self.log_path)[:-4], self.proc))
        self.first = self._line(timeout + 10)
        if self.first is None:
            raise LabError(f'spice_link.py --hold as uid {uid} said nothing: '
                           + seatgate_lab.Lab.read(self.log_path))
        self.local_port = self.first.get('local_port')

    @property
    def linked(self):
        return self.first.get('result') == 'linked'

    def _line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line.strip() else None

    def wait_ended(self, timeout):
        '''{'result': 'ended', 'how', 'after'} once the connection ends, or
        None if it is still open after timeout seconds.'''
        return self._line(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


# ---------------------------------------------------------------------------
# A display and the real SPICE client

class Xvfb:
    '''An X server of the lab's own. The lab runs with a private /tmp
    (tests/e2e/sandbox-run) and its own network namespace (so its own
    abstract sockets): any display number is free.'''

    def __init__(self, lab, display=1, size='1024x768x24'):
        need_programs('Xvfb', 'xwininfo', 'import')
        self.lab = lab
        self.display = f':{display}'
        r, w = os.pipe()
        log = open(os.path.join(lab.dir, 'xvfb.log'), 'wb')
        # -displayfd: Xvfb writes the display number once it accepts clients;
        # -noreset: without it the server resets whenever its last client
        # leaves (each xwininfo), and a viewer connecting then fails with
        # "cannot open display"
        self.proc = subprocess.Popen(['Xvfb', self.display, '-screen', '0', size, '-nolisten', 'tcp',
                                      '-noreset', '-displayfd', str(w)], pass_fds=(w,), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.proc.lab_log_path = os.path.join(lab.dir, 'xvfb.log')
        lab.spawned.append(('Xvfb', self.proc))
        os.close(w)
        # Read up to the newline: Xvfb writes the number and the newline
        # apart and dies (EPIPE) if the pipe is gone in between.
        data = b''
        deadline = time.monotonic() + 15
        while not data.endswith(b'\n'):
            ready, _, _ = select.select([r], [], [], max(0, deadline - time.monotonic()))
            chunk = os.read(r, 64) if ready else b''
            if not chunk:
                break
            data += chunk
        os.close(r)
        if not data.strip():
            raise LabError('Xvfb did not start: ' + seatgate_lab.Lab.read(self.proc.lab_log_path))

    def env(self):
        return {'DISPLAY': self.display}

    def _x(self, argv, **kw):
        return subprocess.run(argv, capture_output=True, text=True, timeout=20,
                              env=_env(self.lab, self.env()), **kw)

    def windows(self):
        '''[(window id, name, width, height)] of the top-level windows.'''
        out = []
        for line in self._x(['xwininfo', '-root', '-children']).stdout.splitlines():
            line = line.strip()
            if not line.startswith('0x'):
                continue
            wid = line.split()[0]
            name = line.split('"')[1] if line.count('"') >= 2 and '(has no name)' not in line else None
            geometry = line.split(')')[-1].split()
            size = geometry[0].split('+')[0] if geometry else '0x0'
            w, h = (int(v) for v in size.split('x'))
            out.append((wid, name, w, h))
        return out

    def window_property(self, wid, prop):
        return self._x(['xprop', '-id', wid, prop]).stdout.strip()

    def screenshot(self, path, window='root'):
        r = self._x(['import', '-window', window, path])
        if r.returncode != 0:
            raise LabError(f'import -window {window} failed: {r.stderr}')
        return path


def image_stats(path, crop=None):
    '''(mean, standard deviation) of the image's grey levels, 0..1, with
    ImageMagick (the real one in /usr/bin, not a stand-in on PATH).'''
    cmd = ['/usr/bin/convert', path]
    if crop:
        cmd += ['-crop', crop, '+repage']
    cmd += ['-colorspace', 'gray', '-format', '%[fx:mean] %[fx:standard_deviation]', 'info:']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise LabError(f'convert failed: {r.stderr}')
    mean, sd = (float(v) for v in r.stdout.split())
    return mean, sd


class Viewer:
    '''remote-viewer as uid on the lab's X display, with a session bus and a
    home of its own (AgentLab's), started with --debug so its log tells how
    each channel fared.'''

    def __init__(self, lab, xvfb, uid, uri, home, session_bus=None, name=None):
        need_programs('remote-viewer')
        self.lab, self.xvfb, self.uid = lab, xvfb, uid
        env = {'HOME': home, 'XDG_CONFIG_HOME': os.path.join(home, '.config'),
               'XDG_CACHE_HOME': os.path.join(home, '.cache'), 'NO_AT_BRIDGE': '1',
               'GDK_BACKEND': 'x11', 'GTK_THEME': 'Adwaita'}
        env.update(xvfb.env())
        if session_bus:
            env['DBUS_SESSION_BUS_ADDRESS'] = session_bus
        self.proc = lab.spawn_as(uid, ['remote-viewer', '--debug', uri], env=env,
                                 name=name or f'remote-viewer-{uid}')

    def log(self):
        return seatgate_lab.Lab.read(self.proc.lab_log_path)

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        seatgate_lab.stop_process(self.proc)
