'''The libvirt lab: a real libvirtd (Debian 12's libvirt 9.0, the QEMU
driver) run inside the test's sandbox (tests/e2e/sandbox-run: own network,
mount and PID namespaces, private /tmp), and a TCG domain with no disk that
serves SPICE on 127.0.0.1:5930, started as docs/vm-binding.md says (a random
passwd that nobody is told, expired from the start).

What libvirtd needs to run here, found by trying (it refuses to start
without each):
  - its state, cache, log and runtime folders private: tmpfs over
    /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt;
  - its config folder private: a folder of the test bound over /etc/libvirt
    with libvirtd.conf (the unix socket in the test's folder, no polkit:
    auth_unix_rw = "none") and qemu.conf (no cgroups, no security driver,
    QEMU as root, its output to a file instead of virtlogd);
  - a libvirt-qemu user and group, which the QEMU driver looks up at start
    even when QEMU runs as root ("Failed to parse group 'libvirt-qemu'");
  - its pid file given (-p): the default is /run/libvirtd.pid, the host's.
The helper reaches it with LibvirtURI=qemu+unix:///system?socket=PATH.'''

import os
import secrets
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
LIBVIRTD = '/usr/sbin/libvirtd'
VIRSH = '/usr/bin/virsh'
QEMU = '/usr/bin/qemu-system-x86_64'
SPICE_PORT = 5930
DOMAIN = 'sglab'
# What libvirtd logs at every start in the sandbox, unrelated to the tests.
NOISE = ('ethtool ioctl', 'dnsmasq', 'udev', 'dmidecode', 'system bus', 'DBus not available')
PRIVATE_DIRS = ('/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt')


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


def _in_sandbox():
    '''The lab changes mounts and /etc/passwd: only in a namespace of its own.'''
    if not os.environ.get('SEATGATE_LAB_NETNS'):
        raise LabError('the libvirt lab runs only under tests/e2e/sandbox-run')
    with open('/proc/self/mountinfo', encoding='utf-8') as f:
        mounted = [line.split()[4] for line in f]
    if '/etc/passwd' not in mounted or '/etc/group' not in mounted:
        raise LabError('/etc/passwd is not the lab\'s private copy (tests/lab/netns-run)')


def _add_lines(path, lines):
    '''@lines added to @path, the lab's private copy (_in_sandbox checked).'''
    with open(path, 'a', encoding='utf-8') as f:
        f.write(''.join(line + '\n' for line in lines))


def domain_xml(name=DOMAIN, with_password=True, spice=True, kernel=None, initrd=None,
               cmdline='', serial=None):
    '''A TCG domain with no disk and SPICE on 127.0.0.1:5930, locked from
    its first second: a random passwd nobody is told, valid until 1970
    (without @with_password: no passwd at all; without @spice: VNC). With
    @kernel it boots that kernel and @initrd, its serial port written to the
    file @serial.'''
    password = (f"passwd='{secrets.token_urlsafe(24)}' passwdValidTo='1970-01-01T00:00:00'"
                if with_password else '')
    kind = 'spice' if spice else 'vnc'
    boot = (f'<kernel>{kernel}</kernel><initrd>{initrd}</initrd><cmdline>{cmdline}</cmdline>'
            if kernel else '')
    port = (f"<serial type='file'><source path='{serial}'/><target port='0'/></serial>"
            if serial else '')
    return f'''<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{128 if kernel else 64}</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type>{boot}</os>
  <on_reboot>destroy</on_reboot>
  <devices>
    {port}
    <emulator>{QEMU}</emulator>
    <graphics type='{kind}' port='{SPICE_PORT}' autoport='no' listen='127.0.0.1'
              {password}/>
    <video><model type='qxl'/></video>
  </devices>
</domain>
'''


class Libvirtd:
    '''libvirtd with a private config, state and socket, in @folder.'''

    def __init__(self, folder):
        _in_sandbox()
        self.folder = folder
        self.etc = os.path.join(folder, 'etc-libvirt')
        self.socket_path = os.path.join(folder, 'sock', 'libvirt-sock')
        self.log_path = os.path.join(folder, 'libvirtd.log')
        self.proc = None
        os.makedirs(self.etc, exist_ok=True)
        os.makedirs(os.path.dirname(self.socket_path), mode=0o700, exist_ok=True)
        with open(os.path.join(self.etc, 'libvirtd.conf'), 'w', encoding='utf-8') as f:
            f.write(f'unix_sock_dir = "{os.path.dirname(self.socket_path)}"\n'
                    'unix_sock_rw_perms = "0700"\n'
                    'auth_unix_rw = "none"\n'
                    'auth_unix_ro = "none"\n')
        with open(os.path.join(self.etc, 'qemu.conf'), 'w', encoding='utf-8') as f:
            f.write('cgroup_controllers = [ ]\n'
                    'security_driver = "none"\n'
                    'user = "root"\n'
                    'group = "root"\n'
                    'stdio_handler = "file"\n')
        for d in PRIVATE_DIRS:
            os.makedirs(d, exist_ok=True)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=755,size=64m', 'sglab-libvirt',
                            d], check=True)
        subprocess.run(['mount', '--bind', self.etc, '/etc/libvirt'], check=True)
        _add_lines('/etc/passwd',
                   ['libvirt-qemu:x:64055:64055:libvirt qemu:/nonexistent:/usr/sbin/nologin'])
        _add_lines('/etc/group', ['libvirt-qemu:x:64055:', 'kvm:x:64056:'])

    @property
    def uri(self):
        return f'qemu+unix:///system?socket={self.socket_path}'

    def start(self):
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        log = open(self.log_path, 'ab')
        # Not the lab's system bus: libvirtd would look for machined and
        # polkit there.
        env = {k: v for k, v in os.environ.items() if not k.startswith('DBUS_')}
        self.proc = subprocess.Popen(
            [LIBVIRTD, '-f', '/etc/libvirt/libvirtd.conf',
             '-p', os.path.join(self.folder, 'libvirtd.pid')],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        wait_until(self._ready, 20, f'libvirtd to listen on {self.socket_path}')
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise LabError(f'libvirtd exited with status {self.proc.returncode}: {self.log()}')
        if not os.path.exists(self.socket_path):
            return False
        with socket.socket(socket.AF_UNIX) as s:
            return s.connect_ex(self.socket_path) == 0

    def virsh(self, *args, check=True, input=None):
        r = subprocess.run([VIRSH, '-q', '-c', self.uri, *args], capture_output=True, text=True,
                           input=input, timeout=30)
        if check and r.returncode != 0:
            raise LabError(f'virsh {" ".join(args)}: {r.stderr.strip()}; libvirtd: {self.log()}')
        return r

    def create_domain(self, name=DOMAIN, **how):
        '''A transient domain (domain_xml(**how)), running, its port listening.'''
        path = os.path.join(self.folder, f'{name}.xml')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(domain_xml(name, **how))
        os.chmod(path, 0o600)
        self.virsh('create', path)
        wait_until(self._spice_listening, 10, 'the domain\'s SPICE port')

    @staticmethod
    def _spice_listening():
        with socket.socket() as s:
            return s.connect_ex(('127.0.0.1', SPICE_PORT)) == 0

    def qemu_pid(self, name=DOMAIN):
        with open(f'/run/libvirt/qemu/{name}.pid', encoding='utf-8') as f:
            return int(f.read().strip())

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        '''libvirtd gone (its domains keep running, as with systemctl stop).'''
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self):
        text = ''
        for path in [self.log_path] + [os.path.join('/var/log/libvirt/qemu', n)
                                       for n in _listdir('/var/log/libvirt/qemu')]:
            try:
                with open(path, encoding='utf-8', errors='replace') as f:
                    text += f'--- {path} ---\n' + ''.join(
                        line for line in f if not any(n in line for n in NOISE))
            except OSError:
                pass
        return text

    def close(self):
        try:
            self.signal(signal.SIGCONT)  # a test may leave it stopped
        except (ProcessLookupError, AttributeError, TypeError):
            pass
        if self.proc and self.proc.poll() is None:
            self.virsh('destroy', DOMAIN, check=False)
        self.stop()


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def config_for(uri, domain=DOMAIN, lock_keys='meta_l+l'):
    return (f'[Seat seat0]\nPorts={SPICE_PORT}\nLibvirtDomain={domain}\nLibvirtURI={uri}\n'
            + (f'LockKeys={lock_keys}\n' if lock_keys else ''))


__all__ = ['Libvirtd', 'LabError', 'wait_until', 'config_for', 'domain_xml', 'DOMAIN',
           'SPICE_PORT']
