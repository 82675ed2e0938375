#!/usr/bin/python3
'''seatgate's demo lab: the story of the README, played by the real helper,
the real agents and a real QEMU SPICE server, with a timestamped line for
each step and a summary. Run by demo/seatgate-demo inside
tests/e2e/sandbox-run (its own network, mount and PID namespaces and a
private /tmp), so nothing on the machine changes and nothing outlives it.

The people are uids with no entry in the host's /etc/passwd: inside the
lab's private mount namespace a copy of it names them alice, bob and vm.
  alice  at the console: her graphical session is the active local
         session of seat0
  bob    logged in over ssh; later he logs in at seat0 too, and fast user
         switching makes his local session the active one
  vm     the uid QEMU runs as (libvirt would use libvirt-qemu)
'''

import argparse
import grp
import os
import pwd
import re
import signal
import subprocess
import sys
import time

DEMO_DIR = os.path.dirname(os.path.abspath(__file__))
REAL_SOURCE_DIR = os.path.dirname(DEMO_DIR)
# Where the people see the source and build trees (expose_source()).
SOURCE_DIR = '/tmp/seatgate-src'


def in_sandbox():
    '''True inside tests/lab/netns-run's namespaces (it exports the inode of
    the network namespace it made, with a private mount namespace).'''
    return os.environ.get('SEATGATE_LAB_NETNS') == str(os.stat('/proc/self/ns/net').st_ino)


def expose_source():
    '''alice, bob and vm run programs from the source and build trees, and a
    clone under /root or in a 0700 home is closed to them. In the lab's
    private mount namespace the tree is bound on /tmp/seatgate-src (the
    sandbox's private /tmp), whose parents anyone may pass.'''
    os.makedirs(SOURCE_DIR, exist_ok=True)
    subprocess.run(['mount', '--bind', REAL_SOURCE_DIR, SOURCE_DIR], check=True)
    if not os.stat(REAL_SOURCE_DIR).st_mode & 0o001:
        sys.exit(f'{REAL_SOURCE_DIR} is closed to other users (mode '
                 f'{os.stat(REAL_SOURCE_DIR).st_mode & 0o777:o}): the demo\'s people could not run '
                 f'its programs; clone seatgate into a folder others may read, or chmod o+rx it')


def inside(path):
    '''path as the people see it.'''
    path = os.path.abspath(path)
    if path == REAL_SOURCE_DIR or path.startswith(REAL_SOURCE_DIR + '/'):
        return SOURCE_DIR + path[len(REAL_SOURCE_DIR):]
    return path


if not in_sandbox():
    sys.exit('demo.py runs inside the lab\'s namespaces: start it with demo/seatgate-demo')
expose_source()
for sub in ('lab', 'agent', 'e2e'):
    sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', sub))
os.environ['SEATGATE_SOURCE_DIR'] = SOURCE_DIR

import seatgate_lab  # noqa: E402
from agent_lab import AgentLab  # noqa: E402
from e2e_lab import SPICE_LINK, VM, HeldLink, spice_link  # noqa: E402
from gi.repository import GLib  # noqa: E402
from seatgate_lab import ERR_NOT_SEAT_OWNER, LabError, wait_until  # noqa: E402

PORT = seatgate_lab.DEFAULT_PORT
HOST = '127.0.0.1'
ALICE_SESSION, BOB_SSH_SESSION, BOB_SEAT_SESSION = '2', '3', '5'
BOB_FROM = '192.0.2.7'       # TEST-NET-1: a documentation address, never contacted
BOUND = 10.0                 # generous: the gate acts in milliseconds
GRANTED, DENIED = 'seatgate-granted', 'seatgate-denied'


class Interrupted(BaseException):
    pass


class _OwnGroupPopen(subprocess.Popen):
    '''Every process the lab starts gets a process group of its own, out of
    the terminal's foreground: a Ctrl-C reaches the demo alone, which then
    stops the lab in order (the PID namespace catches whatever is left).'''

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('process_group', 0)
        super().__init__(*args, **kwargs)


subprocess.Popen = _OwnGroupPopen


def take_terminal():
    '''Makes the demo its own foreground process group: the group it was
    started in is led by a process outside its PID namespace, whose id it
    cannot name, so it could not give the terminal back to it after a shell.
    Returns the terminal's fd, or None without one.'''
    try:
        tty = os.open('/dev/tty', os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(tty, os.getpgrp())
    except OSError:
        os.close(tty)
        return None
    finally:
        signal.signal(signal.SIGTTOU, old)
    return tty


def on_terminate(signum, _frame):
    # the demo is PID 1 of its namespace: without a handler SIGTERM and
    # SIGHUP would be ignored, and with the default one nothing is cleaned
    raise Interrupted(signal.Signals(signum).name)


# ---------------------------------------------------------------------------
# The people

def free_ids(count, start=4100):
    '''count uids (and gids) that name nobody on this machine.'''
    out = []
    i = start
    while len(out) < count:
        try:
            pwd.getpwuid(i)
        except KeyError:
            try:
                grp.getgrgid(i)
            except KeyError:
                out.append(i)
        i += 1
    return out


def name_people(names, directory):
    '''Adds the people to /etc/passwd and /etc/group of this mount
    namespace only (tests/lab/netns-run made it private): bind mounts of
    copies, gone with the namespace.'''
    uids = dict(zip(names, free_ids(len(names))))
    for path, line in (('/etc/passwd', '{n}:x:{u}:{u}:seatgate demo:/nonexistent:/usr/sbin/nologin\n'),
                       ('/etc/group', '{n}:x:{u}:\n')):
        copy = os.path.join(directory, os.path.basename(path))
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if not text.endswith('\n'):
            text += '\n'
        text += ''.join(line.format(n=n, u=u) for n, u in uids.items())
        with open(copy, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(copy, 0o644)
        # netns-run's copy is mounted there, and already unlinked: nothing
        # can be mounted on top of a deleted file, so take it off first
        subprocess.run(['umount', path], capture_output=True)
        subprocess.run(['mount', '--bind', copy, path], check=True)
    return uids


# ---------------------------------------------------------------------------
# How a person tries the VM console: the headless SPICE client, or, if QEMU
# cannot run here, a plain TCP connection to an echo listener.

class SpiceProbe:
    what = 'SPICE client'
    succeeds = 'completes the SPICE handshake'
    session = 'SPICE connection'

    def __init__(self, lab):
        self.lab = lab

    def ticket(self, uid):
        '''The VM's ticket for uid's grant, fetched as the person's agent does
        on "Open VM console": OpenConsole from a connection that holds the
        grant (a second holder shares it). None when refused.'''
        actor = self.lab.actor(uid)
        try:
            if not actor.grant().ok:
                return None
            reply = actor.call('OpenConsole')
            return reply.value.get('password') if reply.ok else None
        finally:
            actor.quit()

    def attempt(self, uid, password=None):
        '''(connected, words)'''
        r = spice_link(self.lab, uid, HOST, password=password)
        if r['result'] == 'linked':
            return True, (f'SPICE link OK, main channel up (SPICE session {r["session_id"]:#010x}) '
                          f'in {r["after"] * 1000:.0f} ms')
        if r['result'] == 'refused':
            return False, 'connection refused (a TCP reset at the SYN)'
        if r['result'] == 'link-error:7':
            return False, 'the VM itself refused the ticket (SPICE link error: permission denied)'
        return False, r['result'] + (f' ({r["detail"]})' if r.get('detail') else '')

    def hold(self, uid, password=None):
        held = HeldLink(self.lab, uid, HOST, password=password)
        if not held.linked:
            raise LabError(f'the SPICE client could not link: {held.first}')
        return held

    @staticmethod
    def wait_cut(held, timeout):
        '''Seconds until the held connection ended and how, or None.'''
        start = time.monotonic()
        ended = held.wait_ended(timeout)
        return None if ended is None else (time.monotonic() - start, ended['how'])


class TcpProbe:
    what = 'TCP client'
    succeeds = 'connects'
    session = 'connection'

    def __init__(self, lab):
        self.lab = lab
        self.actors = {}

    def actor(self, uid):
        if uid not in self.actors:
            self.actors[uid] = self.lab.actor(uid, bus=False)
        return self.actors[uid]

    @staticmethod
    def ticket(uid):
        return None

    def attempt(self, uid, password=None):
        r = self.actor(uid).connect(HOST, PORT)
        if r == 'ok':
            return True, 'connected (a plain TCP echo, not SPICE)'
        return False, 'connection refused (a TCP reset at the SYN)' if r == 'refused' else r

    def hold(self, uid, password=None):
        return self.actor(uid).open(HOST, PORT)

    @staticmethod
    def wait_cut(conn, timeout):
        start = time.monotonic()
        return (time.monotonic() - start, 'reset') if conn.wait_closed(timeout) else None


# ---------------------------------------------------------------------------

class Demo:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.results = []           # (ok, promise)
        self.lab = None
        self.desk = None
        self.vm = None
        self.probe = None
        self.fallback = None
        self.uid = {}
        self.agents = {}
        self.tty = None

    # --- output -------------------------------------------------------------
    def stamp(self):
        return f'[{time.monotonic() - self.t0:7.3f}s]'

    def note(self, text):
        print(f'{self.stamp()} --   {text}', flush=True)

    def check(self, ok, promise, detail):
        '''A promise kept (ok) or broken, with what was seen.'''
        self.results.append((bool(ok), promise))
        print(f'{self.stamp()} {"ok  " if ok else "FAIL"} {promise}: {detail}', flush=True)
        return ok

    def name(self, uid):
        return next((n for n, u in self.uid.items() if u == uid), str(uid))

    # --- helpers --------------------------------------------------------------
    def tray(self, agent, icon):
        '''The agent's tray item once it shows icon: "title — reason".'''
        props = agent.wait_state(icon, BOUND)
        return f'"{props["Title"]}" ({props["ToolTip"][3]})'

    def wait_grant(self, uid, since):
        return self.lab.gate.wait_signal('Granted', ('seat0', uid), since=since, timeout=BOUND)

    def wait_revoke(self, uid, since):
        '''The args (seat, uid, reason) of the first Revoked of uid since.'''
        s = self.lab.client.wait_signal('Revoked', seatgate_lab.GATE_IFACE, seatgate_lab.GATE_PATH,
                                        since, lambda s: s.args[1] == uid, BOUND)
        return tuple(s.args) if s else None

    def granted_in_kernel(self):
        '''The elements of the table's granted set, as nft prints them.'''
        table = self.lab.nft_table() or ''
        m = re.search(r'set granted \{[^}]*?elements = \{([^}]*)\}', table, re.S)
        return m.group(1).split(',') if m else []

    # --- the lab ----------------------------------------------------------------
    def setup(self):
        lab = self.lab = seatgate_lab.Lab(helper_path=self.args.helper)
        self.uid = name_people(['alice', 'bob', 'vm'], lab.dir)
        alice, bob = self.uid['alice'], self.uid['bob']
        lab.start()
        lab.logind.add_seat('seat0')
        lab.logind.add_session(ALICE_SESSION, alice, seat='seat0', active=True, type='x11', name='alice')
        lab.logind.add_session(BOB_SSH_SESSION, bob, remote=True, type='tty', name='bob',
                               remote_host=BOB_FROM)
        self.note(f'lab up: private system bus, logind and polkit stand-ins; alice (uid {alice}) is '
                  f'at seat0 (session {ALICE_SESSION}, active, local); bob (uid {bob}) is logged in '
                  f'over ssh from {BOB_FROM} (session {BOB_SSH_SESSION})')

        # QMP: the VM is bound to seat0 (QMPSocket=), so it takes a new
        # ticket per grant and is locked at every revoke
        self.vm = VM(lab, PORT, addr=HOST, uid=self.uid['vm'], name='seatgate-demo-vm', qmp=True)
        try:
            if self.args.no_qemu:
                raise LabError('--no-qemu given')
            self.vm.start()
            took = self.vm.wait_listening()
            version = subprocess.run(['qemu-system-x86_64', '--version'], capture_output=True,
                                     text=True).stdout.split('\n')[0].replace('QEMU emulator version ', '')
            self.note(f'VM: QEMU {version.split()[0] if version else ""} (pid {self.vm.proc.pid}, uid vm, '
                      f'no disk: its console shows the firmware) serves SPICE on {HOST}:{PORT}, '
                      f'listening after {took * 1000:.0f} ms, with a SPICE password nobody is told '
                      f'and a QMP socket for seatgate')
            self.probe = SpiceProbe(lab)
        except LabError as e:
            self.vm.stop()
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else 'unknown'
            self.fallback = f'QEMU could not run here ({reason})'
            lab.listen(PORT, hosts=(HOST,))
            self.note(f'WARNING: {self.fallback}: falling back to a plain TCP echo listener on '
                      f'{HOST}:{PORT}; the clients below make TCP connections, not SPICE handshakes')
            self.probe = TcpProbe(lab)

        self.desk = AgentLab(lab)
        self.desk.start_watcher()
        if self.fallback is None:
            lab.write_config(extra=f'QMPSocket={self.vm.qmp_path}\n')
        lab.start_helper()
        self.note(f'seatgate-helper is up (pid {lab.helper.pid}, owns io.github.seatgate.Gate1); '
                  f'a session bus with a tray stand-in for the agents')

    def start_agent(self, who, session):
        agent = self.desk.agent(self.uid[who], session)
        self.agents[(who, session)] = agent
        return agent

    # --- the story ----------------------------------------------------------------
    def step_closed_by_default(self):
        ok, words = self.probe.attempt(self.uid['alice'])
        self.check(not ok, f'before any agent asks, port {PORT} is closed to everyone',
                   f"alice's {self.probe.what}: {words}")

    def step_alice_granted(self):
        alice = self.uid['alice']
        mark = self.lab.gate.mark()
        agent = self.start_agent('alice', ALICE_SESSION)
        granted = self.wait_grant(alice, mark)
        tray = self.tray(agent, GRANTED) if granted else '(no grant)'
        self.check(granted, "alice's agent asks and the helper grants her the port",
                   f'Granted(seat0, {alice}); her tray: {tray}')

    def step_alice_connects(self):
        alice = self.uid['alice']
        self.alice_ticket = self.probe.ticket(alice)
        if self.fallback is None:
            self.check(self.alice_ticket is not None,
                       "alice gets the VM's new ticket, for her grant alone",
                       f'OpenConsole, asked as her agent\'s "Open VM console" asks it: a '
                       f'{len(self.alice_ticket or "")}-character ticket (her agent gives it to the '
                       f'viewer in a 0600 file, never on a command line)')
            ok, words = self.probe.attempt(alice)
            self.check(not ok, 'a SPICE client without the ticket is refused by the VM itself', words)
        ok, words = self.probe.attempt(alice, self.alice_ticket)
        self.check(ok, f"alice's {self.probe.what} {self.probe.succeeds}", words)
        self.alice_held = self.probe.hold(alice, self.alice_ticket)
        self.note(f"alice opens a {self.probe.session} and keeps it open")

    def step_bob_refused(self):
        bob = self.uid['bob']
        agent = self.start_agent('bob', BOB_SSH_SESSION)
        tray = self.tray(agent, DENIED)
        self.check(self.lab.gate.grants() == [('seat0', self.uid['alice'], [PORT])],
                   "bob's agent in his ssh session does not get the port", f'his tray: {tray}')
        ok, words = self.probe.attempt(bob)
        self.check(not ok, f"bob's {self.probe.what} is refused", words)
        actor = self.lab.actor(bob)
        reply = actor.grant()
        self.check(not reply.ok and reply.error == ERR_NOT_SEAT_OWNER,
                   'bob asking the helper himself is refused',
                   f'{reply.error.rsplit(".", 1)[-1] if reply.error else "granted!"}: {reply.message or ""}')
        actor.quit()

    def step_seat_switch(self):
        alice, bob = self.uid['alice'], self.uid['bob']
        self.note(f'fast user switching: bob logs in at seat0 (session {BOB_SEAT_SESSION}); '
                  f'it becomes the active session, alice\'s goes to the background')
        mark = self.lab.gate.mark()
        switched = time.monotonic()
        self.lab.logind.add_session(BOB_SEAT_SESSION, bob, seat='seat0', active=True, type='x11',
                                    name='bob')
        cut = self.probe.wait_cut(self.alice_held, BOUND)
        revoked = self.wait_revoke(alice, mark)
        self.check(cut is not None and revoked,
                   f"alice loses the port and her open {self.probe.session} is cut",
                   (f'Revoked(seat0, {alice}, {revoked[2]}); connection ended ({cut[1]}) '
                    f'{(time.monotonic() - switched) * 1000:.0f} ms after the switch')
                   if cut and revoked else f'revoked: {revoked}; cut: {cut}')
        agent = self.start_agent('bob', BOB_SEAT_SESSION)
        granted = self.wait_grant(bob, mark)
        tray = self.tray(agent, GRANTED) if granted else '(no grant)'
        self.check(granted, "bob's agent in his seat0 session gets the port",
                   f'Granted(seat0, {bob}); his tray: {tray}')
        bob_ticket = self.probe.ticket(bob)
        if self.fallback is None:
            ok, words = self.probe.attempt(bob, self.alice_ticket)
            self.check(not ok and bob_ticket != self.alice_ticket,
                       "the VM was locked at the switch: alice's ticket no longer opens it, "
                       "bob's grant got a new one", words)
        ok, words = self.probe.attempt(bob, bob_ticket)
        self.check(ok, f"bob's {self.probe.what} {self.probe.succeeds}", words)
        ok, words = self.probe.attempt(alice, self.alice_ticket)
        self.check(not ok, f"alice's {self.probe.what} is refused now", words)

    def step_bob_logs_out(self):
        alice, bob = self.uid['alice'], self.uid['bob']
        self.note(f'bob logs out at seat0: session {BOB_SEAT_SESSION} ends and his agent with it; '
                  f'the seat shows the login screen')
        mark = self.lab.gate.mark()
        self.lab.logind.remove_session(BOB_SEAT_SESSION)
        agent = self.agents[('bob', BOB_SEAT_SESSION)]
        exited = agent.wait_exit(BOUND)
        revoked = self.wait_revoke(bob, mark)
        self.check(revoked and self.lab.gate.grants() == [] and not self.granted_in_kernel(),
                   "bob's grant ends with his session",
                   f'Revoked(seat0, {bob}, {revoked[2] if revoked else "?"}); his agent exited '
                   f'({exited}); grants: none; the kernel\'s granted set: '
                   f'{"empty" if not self.granted_in_kernel() else self.granted_in_kernel()}')
        results = {who: self.probe.attempt(uid) for who, uid in (('alice', alice), ('bob', bob))}
        self.check(not any(ok for ok, _w in results.values()), f'port {PORT} is closed to all',
                   '; '.join(f"{who}'s {self.probe.what}: {w}" for who, (_ok, w) in results.items()))

    STEPS = ('step_closed_by_default', 'step_alice_granted', 'step_alice_connects', 'step_bob_refused',
             'step_seat_switch', 'step_bob_logs_out')

    def run(self):
        print('seatgate demo: a sandboxed lab (own network, mount and PID namespaces, private buses, '
              'stand-ins for logind and polkit); nothing on this machine changes.', flush=True)
        failed_at = None
        try:
            self.setup()
            for step in self.STEPS:
                try:
                    getattr(self, step)()
                except (LabError, OSError, subprocess.SubprocessError) as e:
                    failed_at = step
                    self.check(False, step.replace('step_', '').replace('_', ' '), f'error: {e}')
                    break
        except (LabError, OSError, subprocess.SubprocessError) as e:
            failed_at = 'setup'
            self.check(False, 'the lab starts', f'error: {e}')
        ok = self.summary(failed_at)
        self.save_logs(ok)
        if self.args.interactive and self.lab and self.lab.helper:
            Console(self).run()
        return 0 if ok else 1

    def summary(self, failed_at):
        kept = sum(1 for ok, _p in self.results if ok)
        total = len(self.results)
        good = failed_at is None and kept == total and total > 0
        print()
        print(f'summary: {kept} of {total} promises kept'
              + (' - seatgate did what it promises' if good else ' - SOMETHING WENT WRONG'))
        for ok, promise in self.results:
            print(f'  {"ok  " if ok else "FAIL"} {promise}')
        if failed_at:
            print(f'  (stopped at {failed_at}; the later steps did not run)')
        if self.fallback:
            print(f'  note: {self.fallback}; the checks used plain TCP, not SPICE')
        return good

    def save_logs(self, ok):
        '''The lab's logs, into the build dir (the lab's own dir vanishes
        with its private /tmp).'''
        if not self.lab or not self.args.log_dir:
            return
        os.makedirs(self.args.log_dir, exist_ok=True)
        with open(os.path.join(self.args.log_dir, 'demo-logs.txt'), 'w', encoding='utf-8') as f:
            logs = dict(self.lab.logs())
            if self.desk:
                logs.update(self.desk.logs())
            if self.vm and self.vm.proc:
                logs['qemu'] = self.vm.log()
            for title, text in logs.items():
                f.write(f'===== {title}\n{text}\n')
        # they belong to whoever owns the build dir (the person behind sudo)
        owner = os.stat(os.path.dirname(self.args.log_dir))
        for path in (self.args.log_dir, os.path.join(self.args.log_dir, 'demo-logs.txt')):
            os.chown(path, owner.st_uid, owner.st_gid)
        if not ok:
            print(f'  logs of the helper, agents, stand-ins and QEMU: '
                  f'{os.path.join(self.args.log_dir, "demo-logs.txt")}')

    def close(self):
        if self.desk:
            self.desk.close()
        if self.vm:
            self.vm.stop()
        if self.lab:
            self.lab.close()


# ---------------------------------------------------------------------------
# --interactive

class Console:
    HELP = '''commands:
  status               seatgatectl status: seats, sessions, grants, the table
  spice alice|bob      that person's SPICE client tries the VM console
  switch alice|bob     make that person's seat0 session the active one (bob logs in at seat0 if needed)
  logout alice|bob     that person's seat0 session ends
  shell alice|bob|root a shell inside the lab as that person (seatgatectl, spice_link.py, nft on PATH)
  nft                  the table inet seatgate as the kernel has it
  help                 this text
  quit                 end the lab (or Ctrl-D, Ctrl-C)'''

    def __init__(self, demo):
        self.demo = demo
        self.lab = demo.lab
        self.ctl = os.path.join(os.path.dirname(os.path.dirname(demo.args.helper)), 'cli', 'seatgatectl')
        self.sessions = {'alice': ALICE_SESSION, 'bob': BOB_SEAT_SESSION}

    def has_session(self, sid):
        try:
            self.lab.logind.session_props(sid)
            return True
        except GLib.Error:
            return False

    def env(self, extra=None):
        path = ':'.join(p for p in (os.path.dirname(self.ctl), os.path.dirname(SPICE_LINK))
                        if os.path.isdir(p))
        env = {'PATH': f'{path}:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': self.lab.bus_address, 'TERM': os.environ.get('TERM', 'dumb')}
        env.update(extra or {})
        return env

    def run(self):
        # Bring alice back to the seat, so there is a grant to look at.
        if self.has_session(ALICE_SESSION) and not self.lab.gate.grants():
            self.lab.logind.activate(ALICE_SESSION)
            wait_until(lambda: self.lab.gate.grants(), BOUND, what='alice\'s agent to ask again')
        print(f'''
The lab stays up (--interactive). alice is back at seat0, and her agent got the
port again by itself. Poke at it here, or from another terminal as root:
{self.enter_hint()}
{self.HELP}''', flush=True)
        while True:
            try:
                line = input('lab> ')
            except EOFError:
                print()
                return
            words = line.split()
            if not words:
                continue
            try:
                if not self.command(words):
                    return
            except (LabError, OSError, subprocess.SubprocessError, GLib.Error) as e:
                print(f'error: {e}')
            except Exception as e:  # a mistyped command must not end the lab
                print(f'error: {type(e).__name__}: {e}')

    def enter_hint(self):
        outer = os.environ.get('SEATGATE_DEMO_OUTER_PID')
        if not outer:
            return '  (start the demo with demo/seatgate-demo to be told how)'
        env = self.env()
        alice, bob = self.demo.uid['alice'], self.demo.uid['bob']
        return (f'  lab() {{ nsenter --all --target $(cat /proc/{outer}/task/{outer}/children) '
                f'env DBUS_SYSTEM_BUS_ADDRESS={env["DBUS_SYSTEM_BUS_ADDRESS"]} PATH={env["PATH"]} "$@"; }}\n'
                f'  lab seatgatectl status\n'
                f'  lab setpriv --reuid={alice} --regid={alice} --clear-groups spice_link.py {HOST}   # as alice\n'
                f'  lab setpriv --reuid={bob} --regid={bob} --clear-groups spice_link.py {HOST}   # as bob')

    def person(self, words, allowed=('alice', 'bob')):
        if len(words) < 2 or words[1] not in allowed:
            raise LabError(f'say which: {" or ".join(allowed)}')
        return words[1]

    def command(self, words):
        cmd = words[0]
        if cmd in ('quit', 'exit', 'q'):
            return False
        if cmd == 'help':
            print(self.HELP)
        elif cmd == 'status':
            if os.access(self.ctl, os.X_OK):
                subprocess.run([self.ctl, 'status'], env=self.env())
            else:
                print(f'(no seatgatectl in the build; the helper\'s Grants: {self.lab.gate.grants()})')
        elif cmd == 'nft':
            print(self.lab.nft_table() or '(no table)')
        elif cmd == 'spice':
            who = self.person(words)
            ok, text = self.demo.probe.attempt(self.demo.uid[who])
            print(f'{who}: {text}')
        elif cmd == 'switch':
            who = self.person(words)
            sid = self.sessions[who]
            if not self.has_session(sid):
                self.lab.logind.add_session(sid, self.demo.uid[who], seat='seat0', active=True,
                                            type='x11', name=who)
                self.demo.start_agent(who, sid)
                print(f'{who} logged in at seat0 (session {sid}); an agent started with it')
            else:
                self.lab.logind.activate(sid)
                print(f'seat0 switched to {who}\'s session {sid}')
            self.settle()
        elif cmd == 'logout':
            who = self.person(words)
            sid = self.sessions[who]
            self.lab.logind.remove_session(sid)
            print(f'{who}\'s seat0 session {sid} ended')
            self.settle()
        elif cmd == 'shell':
            who = self.person(words, ('alice', 'bob', 'root'))
            self.shell(who)
        else:
            print(f'unknown command {cmd!r}; try help')
        return True

    def settle(self):
        mark = self.lab.gate.mark()
        signal_args = self.lab.gate.wait_signal('Granted', None, since=mark, timeout=2.0)
        print(f'grants now: {[(s, self.demo.name(u), p) for s, u, p in self.lab.gate.grants()]}'
              + ('' if signal_args else ' (nothing granted)'))

    def shell(self, who):
        argv = ['/bin/bash', '--norc', '-i']
        if who != 'root':
            uid = self.demo.uid[who]
            argv = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + argv
        print(f'a shell as {who} in the lab; try: seatgatectl status, spice_link.py {HOST}; exit to come back')
        tty = self.demo.tty
        # The shell is a job of its own in the foreground, as a shell would
        # start it (its Ctrl-C is its own); then the terminal comes back.
        # SIGTTOU is ignored only around tcsetpgrp: what the shell inherits
        # ignored stays ignored for everything it runs.
        proc = subprocess.Popen(argv, env=self.env({'PS1': f'[lab {who}] \\w\\$ ', 'HOME': self.lab.dir}),
                                cwd=self.lab.dir)
        self.foreground(tty, proc.pid)
        try:
            proc.wait()
        finally:
            self.foreground(tty, os.getpgrp())

    @staticmethod
    def foreground(tty, pgrp):
        if tty is None:
            return
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(tty, pgrp)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, old)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--interactive', action='store_true', help='keep the lab up afterwards and poke at it')
    ap.add_argument('--helper', required=True, help='the seatgate-helper binary')
    ap.add_argument('--agent', required=True, help='the seatgate-agent binary')
    ap.add_argument('--no-qemu', action='store_true', help='use the plain TCP listener instead of QEMU')
    ap.add_argument('--log-dir', help='where to leave the lab\'s logs')
    args = ap.parse_args()
    # the lab runs its processes from /, as the people
    args.helper, args.agent = inside(args.helper), inside(args.agent)
    if args.log_dir:
        args.log_dir = os.path.abspath(args.log_dir)
    os.environ['SEATGATE_AGENT'] = args.agent
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGHUP, on_terminate)
    demo = Demo(args)
    demo.tty = take_terminal()
    status = 1
    try:
        status = demo.run()
    except (KeyboardInterrupt, Interrupted) as e:
        print(f'\n{demo.stamp()} interrupted ({str(e) or "Ctrl-C"}): ending the lab', flush=True)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.close()
    return status


if __name__ == '__main__':
    sys.exit(main())
