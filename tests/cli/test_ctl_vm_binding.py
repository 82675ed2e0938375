'''seatgatectl shows and checks a seat's VM binding (QMPSocket=) against a
real QEMU listening on its QMP socket, and the real helper holding QEMU's one
QMP connection, without ever connecting to the socket itself.'''

import os
import pwd
import shutil
import socket
import struct
import subprocess

import ctl
import seatgate_lab
from seatgate_lab import CONSOLE_UID, REMOTE_UID, LabError, wait_until

QEMU = 'qemu-system-x86_64'
# The VM runs as a plain uid of its own (as in tests/e2e), not root.
VM_UID = 1009
UNIX_ACCEPTCON = 0x10000
UNIX_CONNECTED = 0x03
UNIX_CONNECTING = 0x02

# The real polkitd sees no logind session here: a rule lets the grant through.
GRANT_RULE = [('10-lab.rules', 'polkit.addRule(function(a, s) {'
               ' return a.id == "io.github.seatgate.grant" ? polkit.Result.YES'
               ' : polkit.Result.NOT_HANDLED; });')]


def unix_sockets(path):
    '''[(flags, state, inode)] of the stream sockets bound to path, from
    /proc/net/unix (the test's own reading, to wait on QEMU and the helper).'''
    out = []
    with open('/proc/net/unix', encoding='utf-8') as f:
        for line in f.readlines()[1:]:
            fields = line.split(None, 7)
            if len(fields) == 8 and fields[7].rstrip('\n') == path and fields[4] == '0001':
                out.append((int(fields[3], 16), int(fields[5], 16), int(fields[6])))
    return out


def listening(path):
    return any(flags & UNIX_ACCEPTCON for flags, _, _ in unix_sockets(path))


def accepted_inodes(path):
    return sorted(inode for flags, state, inode in unix_sockets(path)
                  if not flags & UNIX_ACCEPTCON and state == UNIX_CONNECTED)


def accepted(path):
    return len(accepted_inodes(path))


def waiting(path):
    return sum(not flags & UNIX_ACCEPTCON and state == UNIX_CONNECTING
               for flags, state, _ in unix_sockets(path))


class QmpVM:
    '''QEMU with no machine, started as docs/vm-binding.md says: a SPICE
    server on 127.0.0.1:5930 with a password from a 0600 file and a QMP
    socket in a folder of the VM's user (mode folder_mode).'''

    def __init__(self, lab, folder_mode=0o700):
        if shutil.which(QEMU, path='/usr/sbin:/usr/bin:/sbin:/bin') is None:
            raise LabError(f'missing {QEMU} (Debian package qemu-system-x86): '
                           'sudo tests/install-deps installs it')
        self.lab = lab
        self.folder = os.path.join(lab.dir, 'vm-run')
        os.makedirs(self.folder, exist_ok=True)
        os.chown(self.folder, VM_UID, VM_UID)
        os.chmod(self.folder, folder_mode)
        self.path = os.path.join(self.folder, 'seat0.qmp')
        self.proc = None

    def start(self):
        secret = os.path.join(self.folder, 'spice.secret')
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, os.urandom(18).hex().encode())
        os.close(fd)
        os.chown(secret, VM_UID, VM_UID)
        # --pdeathsig: QEMU dies with the test even if pytest is killed (this
        # suite has no PID namespace of its own to end it).
        self.proc = self.lab.spawn_as(VM_UID, [
            'setpriv', '--pdeathsig', 'KILL', '--', QEMU, '-machine', 'none', '-nodefaults',
            '-no-user-config', '-display', 'none',
            '-object', f'secret,id=sec0,file={secret}',
            '-spice', 'port=5930,addr=127.0.0.1,password-secret=sec0',
            '-qmp', f'unix:{self.path},server=on,wait=off'], name='qemu')

        def up():
            if self.proc.poll() is not None:
                raise LabError(f'QEMU exited with status {self.proc.returncode}: '
                               f'{self.lab.read(self.proc.lab_log_path)}')
            return listening(self.path)
        wait_until(up, 10.0, 0.01, 'QEMU to listen on its QMP socket')
        return self

    def kill(self):
        '''SIGKILL: QEMU leaves its socket file behind.'''
        self.proc.kill()
        self.proc.wait(5)


def bind(lab, path):
    lab.write_config(extra=f'QMPSocket={path}\nLockKeys=meta_l+l\n')
    return lab.config_path


def bound_lab(real_lab, folder_mode=0o700):
    '''(lab, vm): the real-polkitd lab (so doctor's other checks pass and
    its exit status is the binding's) and a running QEMU, seat0 bound to its
    QMP socket; no helper yet.'''
    lab = real_lab(rules=GRANT_RULE)
    vm = QmpVM(lab, folder_mode=folder_mode).start()
    bind(lab, vm.path)
    return lab, vm


def lab_bound_to(real_lab, make_path):
    '''(lab, path): the real-polkitd lab, seat0 bound to make_path(folder)
    in a 0700 folder with no QEMU, the helper started.'''
    lab = real_lab(rules=GRANT_RULE)
    folder = os.path.join(lab.dir, 'vm-run')
    os.makedirs(folder, mode=0o700)
    path = make_path(folder)
    bind(lab, path)
    lab.start_helper()
    return lab, path


def doctor(lab):
    '''(exit status, {id: finding}) of doctor --json, every finding.'''
    status, doc = ctl.run_json(lab, ['doctor', '--config', lab.config_path])
    return status, {f['id']: f for f in doc['findings']}


def problems(found):
    return sorted(i for i, f in found.items() if f['severity'] == 'problem')


def vm_ids(found):
    return sorted(i for i in found if i.startswith('vm-'))


def sole_finding(lab, finding_id, severity='problem', other_problems=()):
    '''Runs doctor --json: finding_id is its one vm-* finding, with that
    severity; the problems are it (if one) and other_problems, and the exit
    status follows them. Returns the finding.'''
    status, found = doctor(lab)
    assert vm_ids(found) == [finding_id]
    f = found[finding_id]
    assert f['severity'] == severity
    expected = sorted(list(other_problems) + ([finding_id] if severity == 'problem' else []))
    assert problems(found) == expected
    assert status == (ctl.EXIT_FAILURE if expected else ctl.EXIT_OK)
    return f


def seat0_binding(lab, uid=0):
    _, doc = ctl.run_json(lab, ['status', '--config', lab.config_path], uid=uid)
    [seat] = doc['seats']
    return seat['vm_binding']


def seat0_binding_line(lab, uid=0, status=ctl.EXIT_OK):
    r = ctl.run(lab, ['status', '--config', lab.config_path], uid=uid)
    assert r.returncode == status, r.stderr
    [line] = [x for x in r.stdout.splitlines() if x.startswith('  VM binding:')]
    return line


def can_connect_as(uid, path):
    '''Whether uid may connect() to path: the kernel's answer, for the claim
    doctor makes about who can reach the socket. Connects and closes at
    once, before any helper holds QEMU's connection.'''
    r = subprocess.run(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
                        seatgate_lab.PYTHON, '-c',
                        'import socket, sys\n'
                        's = socket.socket(socket.AF_UNIX)\n'
                        'try:\n'
                        '    s.connect(sys.argv[1])\n'
                        'except PermissionError:\n'
                        '    sys.exit(13)\n', path], capture_output=True, text=True, timeout=10)
    assert r.returncode in (0, 13), r.stderr
    return r.returncode == 0


def replace_as(uid, path):
    '''Moves the socket at path away and binds a socket of uid's own in its
    place: the kernel's answer to whether uid can replace it.'''
    r = subprocess.run(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
                        seatgate_lab.PYTHON, '-c',
                        'import os, socket, sys\n'
                        'os.rename(sys.argv[1], sys.argv[1] + ".moved")\n'
                        'socket.socket(socket.AF_UNIX).bind(sys.argv[1])\n', path],
                       capture_output=True, text=True, timeout=10)
    return r.returncode == 0


def start_helper_on(lab, vm):
    '''Starts the helper and waits until it holds QEMU's one connection.'''
    lab.start_helper()
    wait_until(lambda: accepted(vm.path) == 1 and waiting(vm.path) == 0, 5.0, 0.01,
               'the helper to connect to QMP')


def test_ctl_doctor_and_status_find_a_good_binding_without_disturbing_the_helper(real_lab):
    lab, vm = bound_lab(real_lab)
    start_helper_on(lab, vm)
    helpers_connection = accepted_inodes(vm.path)

    r = ctl.run(lab, ['doctor', '--config', lab.config_path])
    assert r.returncode == ctl.EXIT_OK, r.stdout
    assert r.stdout == 'No problems found.\n'
    assert seat0_binding_line(lab) == \
        f'  VM binding:     {vm.path}: QEMU listening, a client connected'
    assert seat0_binding(lab) == {'qmp_socket': vm.path, 'state': 'listening',
                                  'listening': True, 'peer_connected': True, 'waiting': 0}
    # Nothing queued behind the helper, the same connection still up, and it
    # still serves: a grant sets a ticket through it.
    assert waiting(vm.path) == 0 and accepted_inodes(vm.path) == helpers_connection
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    reply = alice.call('OpenConsole')
    assert reply.ok, reply
    assert reply.value['password']
    # The 0700 folder keeps others out: the kernel agrees.
    assert not can_connect_as(REMOTE_UID, vm.path)


def test_ctl_doctor_says_a_missing_socket_means_the_vm_is_not_running(real_lab):
    lab, path = lab_bound_to(real_lab, lambda folder: os.path.join(folder, 'seat0.qmp'))
    f = sole_finding(lab, 'vm-socket-missing')
    assert f"seat0's VM socket {path} does not exist" in f['message']
    assert 'the VM is not running, or QEMU was started with another -qmp path' in f['message']
    assert f'-qmp unix:{path},server=on,wait=off' in f['fix']
    assert f'QMPSocket= ({lab.config_path}:' in f['fix']
    assert seat0_binding_line(lab) == f'  VM binding:     {path}: missing (the VM is not running)'
    assert seat0_binding(lab) == {'qmp_socket': path, 'state': 'missing', 'listening': False,
                                  'peer_connected': False, 'waiting': 0,
                                  'error': 'No such file or directory'}


def test_ctl_doctor_finds_a_file_that_is_not_a_socket(real_lab):
    def regular_file(folder):
        path = os.path.join(folder, 'seat0.qmp')
        with open(path, 'w', encoding='utf-8') as f:
            f.write('not a socket\n')
        return path
    lab, path = lab_bound_to(real_lab, regular_file)
    f = sole_finding(lab, 'vm-socket-not-socket')
    assert f"seat0's QMPSocket={path} is a regular file, not a socket" in f['message']
    assert 'every grant of seat0 is refused' in f['message']
    assert f'Set QMPSocket= ({lab.config_path}:' in f['fix']
    assert seat0_binding_line(lab) == f'  VM binding:     {path}: not a socket (a regular file)'
    assert seat0_binding(lab)['state'] == 'not-a-socket'


def test_ctl_doctor_finds_a_socket_file_nobody_listens_on(real_lab):
    def stale_socket(folder):
        path = os.path.join(folder, 'seat0.qmp')
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
        return path
    lab, path = lab_bound_to(real_lab, stale_socket)
    f = sole_finding(lab, 'vm-socket-not-listening')
    assert f"Nothing listens on seat0's VM socket {path}" in f['message']
    assert 'left over from a QEMU that ended' in f['message']
    assert 'Start the VM again' in f['fix']
    assert seat0_binding_line(lab) == f'  VM binding:     {path}: nobody listens (a file left over)'
    assert seat0_binding(lab) == {'qmp_socket': path, 'state': 'not-listening',
                                  'listening': False, 'peer_connected': False, 'waiting': 0}


def test_ctl_doctor_finds_the_socket_a_killed_qemu_left(real_lab):
    lab, vm = bound_lab(real_lab)
    start_helper_on(lab, vm)
    assert seat0_binding(lab)['state'] == 'listening'
    vm.kill()
    assert os.path.exists(vm.path)
    sole_finding(lab, 'vm-socket-not-listening')
    assert seat0_binding(lab)['state'] == 'not-listening'


def test_ctl_doctor_finds_a_socket_every_local_user_can_reach(real_lab):
    lab, vm = bound_lab(real_lab, folder_mode=0o755)
    os.chmod(vm.path, 0o777)
    assert can_connect_as(REMOTE_UID, vm.path)  # what doctor is about to say
    start_helper_on(lab, vm)
    f = sole_finding(lab, 'vm-socket-reachable')
    assert f"Every local user can connect to seat0's VM socket {vm.path} (mode 0777" in f['message']
    assert 'any local user can control the VM and set its SPICE password' in f['message']
    assert 'in a 0700 folder' in f['fix'] and 'docs/vm-binding.md' in f['fix']


def test_ctl_doctor_names_the_users_a_group_writable_socket_lets_in(real_lab):
    # The socket's group is REMOTE_UID's own: exactly that user gets in,
    # and the folders let her pass as one of "the others".
    lab, vm = bound_lab(real_lab, folder_mode=0o755)
    os.chown(vm.path, VM_UID, REMOTE_UID)
    os.chmod(vm.path, 0o770)
    assert can_connect_as(REMOTE_UID, vm.path)
    assert not can_connect_as(CONSOLE_UID, vm.path)
    start_helper_on(lab, vm)
    f = sole_finding(lab, 'vm-socket-reachable')
    remote = pwd.getpwuid(REMOTE_UID).pw_name
    assert f'{remote} ({REMOTE_UID}) can connect to seat0\'s VM socket' in f['message']
    assert f'({CONSOLE_UID})' not in f['message']


def test_ctl_doctor_warns_that_an_acl_on_the_way_is_not_read(real_lab):
    # A POSIX ACL (system.posix_acl_access, version 2) on the socket's
    # folder that lets REMOTE_UID search it: doctor reads mode bits only,
    # so it says it cannot tell rather than guess.
    lab, vm = bound_lab(real_lab)
    entries = [(0x01, 7, 0xFFFFFFFF), (0x02, 1, REMOTE_UID), (0x04, 0, 0xFFFFFFFF),
               (0x10, 1, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', *e) for e in entries)
    os.setxattr(vm.folder, 'system.posix_acl_access', acl)
    start_helper_on(lab, vm)
    f = sole_finding(lab, 'vm-socket-access-unknown', 'warning')
    assert f"Who can connect to seat0's VM socket {vm.path} could not be told" in f['message']
    assert f'{vm.folder} has an ACL' in f['message']
    assert 'setfacl -b' in f['fix']


def test_ctl_doctor_as_a_user_says_it_cannot_see_the_socket(real_lab):
    lab, vm = bound_lab(real_lab)
    start_helper_on(lab, vm)
    _, doc = ctl.run_json(lab, ['doctor', '--config', lab.config_path], uid=CONSOLE_UID)
    found = {f['id']: f for f in doc['findings']}
    assert vm_ids(found) == ['vm-socket-unreadable']
    f = found['vm-socket-unreadable']
    assert f['severity'] == 'warning'
    assert f"seat0's VM socket {vm.path} could not be checked: Permission denied" in f['message']
    assert f['fix'] == 'Run seatgatectl doctor as root.'
    assert seat0_binding_line(lab, uid=CONSOLE_UID) == \
        f'  VM binding:     {vm.path}: unknown (Permission denied)'


def test_ctl_doctor_finds_another_client_holding_the_vm_while_the_helper_is_stopped(real_lab):
    lab, vm = bound_lab(real_lab)
    other = socket.socket(socket.AF_UNIX)
    other.connect(vm.path)
    # QEMU may send an event (RESUME) before the greeting to a client this
    # early: see helper/vm-qmp.c's handle_line.
    with other.makefile('rb') as lines:
        assert any(line.startswith(b'{"QMP"') for line in lines)
    f = sole_finding(lab, 'vm-socket-taken',
                     other_problems=('helper-not-running', 'table-missing'))
    assert f"Another program is connected to seat0's VM socket {vm.path}" in f['message']
    assert 'QEMU serves one QMP client at a time' in f['message']
    assert 'a -qmp socket of its own' in f['fix']
    assert seat0_binding_line(lab, status=ctl.EXIT_NO_HELPER) == \
        f'  VM binding:     {vm.path}: QEMU listening, a client connected'
    other.close()


def test_ctl_doctor_finds_a_client_queued_behind_the_helper(real_lab):
    lab, vm = bound_lab(real_lab)
    start_helper_on(lab, vm)
    other = socket.socket(socket.AF_UNIX)
    other.connect(vm.path)
    wait_until(lambda: waiting(vm.path) == 1, 5.0, 0.01, 'the second client in the backlog')
    f = sole_finding(lab, 'vm-socket-backlog')
    assert "1 connection waits unanswered in the backlog of seat0's VM socket" in f['message']
    assert 'Give every other program a -qmp socket of its own' in f['fix']
    assert seat0_binding_line(lab) == \
        f'  VM binding:     {vm.path}: QEMU listening, a client connected, 1 waiting'
    assert seat0_binding(lab)['waiting'] == 1
    other.close()


def test_ctl_doctor_warns_when_the_helper_is_not_connected_to_a_listening_vm(real_lab):
    # Another client holds QEMU's connection while the helper starts: the
    # helper's connect waits, times out (3 s) and is dropped. Its half in
    # QEMU's backlog stays listed until QEMU accepts it (and reads EOF) once
    # the other client leaves; then QEMU listens with nobody connected.
    lab, vm = bound_lab(real_lab)
    other = socket.socket(socket.AF_UNIX)
    other.connect(vm.path)
    lab.start_helper()
    wait_until(lambda: "Could not lock seat0's VM" in lab.read(lab.helper.log_path),
               10.0, 0.05, 'the helper to give up on the taken socket')
    other.close()
    wait_until(lambda: accepted(vm.path) == 0 and waiting(vm.path) == 0, 5.0, 0.01,
               'QEMU to be free')
    f = sole_finding(lab, 'vm-helper-not-connected', 'warning')
    assert (f"QEMU listens on seat0's VM socket {vm.path}, but no client is connected to it"
            in f['message'])
    assert 'journalctl -u seatgate' in f['fix']
    assert seat0_binding_line(lab) == \
        f'  VM binding:     {vm.path}: QEMU listening, no client connected'
    assert seat0_binding(lab) == {'qmp_socket': vm.path, 'state': 'listening',
                                  'listening': True, 'peer_connected': False, 'waiting': 0}


def test_ctl_status_says_a_seat_without_binding_has_the_firewall_alone(real_lab):
    lab = real_lab()
    lab.start_helper()
    assert seat0_binding_line(lab) == '  VM binding:     none (the firewall alone)'
    assert seat0_binding(lab) is None


def test_ctl_doctor_lets_a_socket_open_to_all_pass_in_a_0700_folder(real_lab):
    # Mode 0777 on the socket, but its folder is the VM user's 0700: nobody
    # else can reach it, and doctor says nothing.
    lab, vm = bound_lab(real_lab)
    os.chmod(vm.path, 0o777)
    assert not can_connect_as(REMOTE_UID, vm.path)
    start_helper_on(lab, vm)
    status, found = doctor(lab)
    assert status == ctl.EXIT_OK
    assert problems(found) == [] and vm_ids(found) == []


def test_ctl_doctor_finds_a_socket_others_can_replace(real_lab):
    # The socket itself is closed to others (0755), but its folder is
    # writable by everyone: anyone can put a socket of their own there.
    lab, vm = bound_lab(real_lab, folder_mode=0o777)
    os.chmod(vm.path, 0o755)
    start_helper_on(lab, vm)
    f = sole_finding(lab, 'vm-socket-replaceable')
    assert (f"Every local user can replace seat0's VM socket {vm.path} (they can write to "
            f"{vm.folder}, or own it)") in f['message']
    assert 'the VM would never be locked' in f['message']
    assert 'in a 0700 folder' in f['fix']
    assert not can_connect_as(REMOTE_UID, vm.path)
    assert replace_as(REMOTE_UID, vm.path)  # what doctor said


def test_ctl_doctor_lets_a_sticky_folder_keep_the_socket(real_lab):
    # Mode 1777 (like /tmp): others may write to the folder but not move
    # the VM user's socket.
    lab, vm = bound_lab(real_lab, folder_mode=0o1777)
    os.chmod(vm.path, 0o755)
    start_helper_on(lab, vm)
    status, found = doctor(lab)
    assert status == ctl.EXIT_OK
    assert problems(found) == [] and vm_ids(found) == []
    assert not replace_as(REMOTE_UID, vm.path)


def test_ctl_doctor_names_the_owner_of_a_folder_on_the_way(real_lab):
    # The socket's folder belongs to REMOTE_UID: she can chmod it and move
    # the socket, whatever its mode says today.
    lab, vm = bound_lab(real_lab)
    os.chmod(vm.path, 0o755)
    os.chown(vm.folder, REMOTE_UID, REMOTE_UID)
    os.chmod(vm.folder, 0o500)
    start_helper_on(lab, vm)
    f = sole_finding(lab, 'vm-socket-replaceable')
    remote = pwd.getpwuid(REMOTE_UID).pw_name
    assert f"{remote} ({REMOTE_UID}) can replace seat0's VM socket {vm.path}" in f['message']
    os.chmod(vm.folder, 0o700)  # what she can do herself
    assert replace_as(REMOTE_UID, vm.path)
