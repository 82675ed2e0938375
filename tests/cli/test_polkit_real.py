'''The example polkit rules and the policy, decided by Debian's real polkitd
on the lab's bus (polkit_real.RealPolkitLab), with the real helper: Grant()
follows what the rules say, and pkcheck says the same for the same subject.

Without a real logind, polkitd sees no session for any process, so
allow_active never applies: the rules and allow_any decide (see
polkit_real.py).'''

import os
import pty
import select
import subprocess
import time

import pytest

import ctl
from polkit_real import PKCHECK_AUTHORIZED, PKCHECK_CHALLENGE, PKCHECK_NOT_AUTHORIZED
from seatgate_lab import (ACTION_MANAGE, ADMIN_UID, CONSOLE_UID, ERR_NOT_AUTHORIZED,
                          ERR_NOT_SEAT_OWNER, REMOTE_UID, SEAT1_UID, LabError)

GROUP = '50-seatgate-group.rules'
ALWAYS = '40-seatgate-always-user.rules'
DENY_SEAT = '30-seatgate-deny-seat.rules'
SEAT_OWNER = '60-seatgate-seat-owner.rules'


def test_real_polkit_group_rule_grants_a_member_at_the_console(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [CONSOLE_UID]})
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert lab.pkcheck(alice.pid) == PKCHECK_AUTHORIZED
    assert lab.pkcheck(bus_name=alice.unique_name) == PKCHECK_AUTHORIZED


def test_real_polkit_group_rule_refuses_a_non_member_at_the_console(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [SEAT1_UID]})
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    reply = alice.grant()
    assert reply.error == ERR_NOT_AUTHORIZED
    assert 'polkit does not allow io.github.seatgate.grant' in reply.message
    assert lab.pkcheck(alice.pid) == PKCHECK_NOT_AUTHORIZED
    assert lab.pkcheck(bus_name=alice.unique_name) == PKCHECK_NOT_AUTHORIZED
    assert lab.gate.grants() == []


def test_real_polkit_always_user_rule_grants_teacher_outside_the_group(real_lab):
    lab = real_lab(rules=[ALWAYS, GROUP], names={CONSOLE_UID: 'teacher'},
                   groups={'vmusers': [SEAT1_UID]})
    lab.start_helper()
    teacher = lab.actor(CONSOLE_UID)
    assert teacher.grant().ok
    assert lab.pkcheck(teacher.pid) == PKCHECK_AUTHORIZED


def test_real_polkit_always_user_rule_leaves_everyone_else_to_the_group_rule(real_lab):
    lab = real_lab(rules=[ALWAYS, GROUP], names={SEAT1_UID: 'teacher'},
                   groups={'vmusers': [ADMIN_UID]})
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().error == ERR_NOT_AUTHORIZED
    assert lab.pkcheck(alice.pid) == PKCHECK_NOT_AUTHORIZED


def _two_seat_world(lab):
    lab.logind.add_seat('seat1')
    lab.logind.add_session('7', SEAT1_UID, seat='seat1', active=True)
    lab.write_config(seats={'seat0': '5930', 'seat1': '5931'})


def test_real_polkit_deny_seat_rule_refuses_the_user_at_seat1(real_lab):
    lab = real_lab(rules=[DENY_SEAT, GROUP], groups={'vmusers': [CONSOLE_UID, SEAT1_UID]})
    _two_seat_world(lab)
    lab.start_helper()
    bob = lab.actor(SEAT1_UID)
    assert bob.grant().error == ERR_NOT_AUTHORIZED
    assert lab.pkcheck(bob.pid, details={'seat': 'seat1'}) == PKCHECK_NOT_AUTHORIZED
    assert lab.gate.grants() == []


def test_real_polkit_deny_seat_rule_leaves_other_seats_granted(real_lab):
    lab = real_lab(rules=[DENY_SEAT, GROUP], groups={'vmusers': [CONSOLE_UID, SEAT1_UID]})
    _two_seat_world(lab)
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert lab.pkcheck(alice.pid, details={'seat': 'seat0'}) == PKCHECK_AUTHORIZED
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def test_real_polkit_default_policy_refuses_the_console_user_without_a_logind_session(real_lab):
    # polkitd takes sessions from systemd's files and cgroups, not from the
    # lab's logind stand-in: allow_active does not apply, allow_any (no) does.
    # That is what a real polkitd decides for a caller outside its login
    # session whose user's display session is not the console one: the
    # refusal says so, and what to do.
    lab = real_lab(rules=[])
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    reply = alice.grant()
    assert reply.error == ERR_NOT_AUTHORIZED
    assert 'owns the active local session of the seat, but polkit does not allow' in reply.message
    assert "by the user's display session" in reply.message, reply.message
    assert 'ask the lab\'s administrator for a polkit rule (seatgate-helper(8)' in reply.message
    assert lab.pkcheck(alice.pid) == PKCHECK_NOT_AUTHORIZED


def test_real_polkit_seat_owner_rule_leaves_the_seat_to_seatgate(real_lab):
    lab = real_lab(rules=[SEAT_OWNER])
    lab.listen(5930)
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    alice_conn = alice.connect('127.0.0.1', 5930)
    assert alice_conn == 'ok', alice_conn
    # polkit says yes to anyone; seatgate still grants only the seat's owner
    bob = lab.actor(REMOTE_UID)
    assert lab.pkcheck(bob.pid) == PKCHECK_AUTHORIZED
    reply = bob.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert bob.connect('127.0.0.1', 5930) == 'refused'


def test_real_polkit_manage_needs_an_administrator_password(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [CONSOLE_UID]})
    admin = lab.actor(ADMIN_UID, bus=False)
    assert lab.pkcheck(admin.pid, action=ACTION_MANAGE) == PKCHECK_CHALLENGE


def test_real_polkit_root_may_revoke_with_seatgatectl(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [CONSOLE_UID]})
    lab.start_helper()
    assert lab.actor(CONSOLE_UID).grant().ok
    r = ctl.run(lab, ['revoke', '--no-ask-password', str(CONSOLE_UID)])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert lab.gate.grants() == []


def test_real_polkit_refuses_revoke_by_a_user_who_cannot_authenticate(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [CONSOLE_UID]})
    lab.start_helper()
    assert lab.actor(CONSOLE_UID).grant().ok
    r = ctl.run(lab, ['revoke', '--no-ask-password', str(CONSOLE_UID)], uid=ADMIN_UID)
    assert r.returncode == ctl.EXIT_NOT_AUTHORIZED
    assert 'polkit wants authentication for io.github.seatgate.manage' in r.stderr
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def _read_until(fd, text, timeout):
    seen = b''
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0, left))
        if not ready:
            raise LabError(f'no {text!r} on the terminal within {timeout} s; it shows: {seen!r}')
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b''
        if not chunk:
            raise LabError(f'the terminal closed before {text!r}; it showed: {seen!r}')
        seen += chunk
    return seen.decode(errors='replace')


def _wait_echo_off(fd, timeout):
    import termios
    deadline = time.monotonic() + timeout
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        if time.monotonic() >= deadline:
            raise LabError(f'the terminal still echoes {timeout} s after the password prompt')
        time.sleep(0.01)


def test_real_polkit_revoke_from_a_terminal_asks_for_the_password_through_pkttyagent(real_lab):
    lab = real_lab(rules=[GROUP], groups={'vmusers': [CONSOLE_UID]})
    lab.start_helper()
    assert lab.actor(CONSOLE_UID).grant().ok
    master, slave = pty.openpty()
    os.fchown(slave, ADMIN_UID, ADMIN_UID)

    def controlling_tty():
        import fcntl
        import termios
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    proc = subprocess.Popen(ctl.command(lab, ['revoke', str(CONSOLE_UID)], uid=ADMIN_UID),
                            env=ctl.env(lab), stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=controlling_tty, cwd='/')
    os.close(slave)
    try:
        screen = _read_until(master, 'Password:', 15)
        assert 'AUTHENTICATING FOR io.github.seatgate.manage' in screen
        assert 'revoke another user' in screen   # the action's message
        # pkttyagent turns echo off after its prompt, flushing pending input
        # (TCSAFLUSH): a password typed before that is lost.
        _wait_echo_off(master, 10)
        os.write(master, b'not-the-password\n')
        _read_until(master, 'AUTHENTICATION FAILED', 20)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == ctl.EXIT_NOT_AUTHORIZED
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
