'''seatgatectl revoke (mock polkit; the real polkitd's answers are in
test_polkit_real.py).'''

import pwd

import ctl
from seatgate_lab import ACTION_GRANT, ADMIN_UID, CONSOLE_UID


def test_ctl_revoke_ends_the_grant_and_its_connections(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    conn = alice.open('127.0.0.1')
    since = lab.gate.mark()
    r = ctl.run(lab, ['revoke', str(CONSOLE_UID)])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert r.stdout.startswith('Revoked ') and f'({CONSOLE_UID})' in r.stdout
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'admin'), since=since)
    assert lab.gate.grants() == []
    assert conn.wait_closed(2)


def test_ctl_revoke_takes_a_user_name(lab, helper):
    name = pwd.getpwuid(CONSOLE_UID).pw_name
    assert lab.actor(CONSOLE_UID).grant().ok
    r = ctl.run(lab, ['revoke', name])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert lab.gate.grants() == []


def test_ctl_revoke_json_names_the_user(lab, helper):
    assert lab.actor(CONSOLE_UID).grant().ok
    status, doc = ctl.run_json(lab, ['revoke', str(CONSOLE_UID)])
    assert status == ctl.EXIT_OK
    assert doc == {'ok': True, 'uid': CONSOLE_UID, 'user': pwd.getpwuid(CONSOLE_UID).pw_name}


def test_ctl_revoke_exits_5_when_polkit_refuses(lab, helper):
    assert lab.actor(CONSOLE_UID).grant().ok
    lab.polkit.set_allowed([ACTION_GRANT])
    r = ctl.run(lab, ['revoke', '--no-ask-password', str(CONSOLE_UID)], uid=ADMIN_UID)
    assert r.returncode == ctl.EXIT_NOT_AUTHORIZED
    assert 'io.github.seatgate.manage' in r.stderr
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def test_ctl_revoke_of_a_user_without_grant_exits_1(lab, helper):
    r = ctl.run(lab, ['revoke', str(CONSOLE_UID)])
    assert r.returncode == ctl.EXIT_FAILURE
    assert 'holds no grant' in r.stderr


def test_ctl_revoke_of_an_unknown_user_is_a_usage_error(lab, helper):
    r = ctl.run(lab, ['revoke', 'no-such-user-here'])
    assert r.returncode == ctl.EXIT_USAGE
    assert "no user named 'no-such-user-here'" in r.stderr
