'''How grants end: every way ends them at once, connections included.'''

import signal

from seatgate_lab import (ACTION_GRANT, ACTION_MANAGE, ADMIN_UID, CONSOLE_SESSION, CONSOLE_UID,
                          ERR_NOT_AUTHORIZED, INACTIVE_SESSION, INACTIVE_UID, LOOPBACKS, REMOTE_UID,
                          assert_connects, assert_refused)

CLOSE_WITHIN = 2.0     # seconds for a cut connection to end, both sides


def granted_console_user(lab):
    '''Alice at seat0 holds a grant and an established connection on v4 and v6.'''
    alice = lab.actor(CONSOLE_UID)
    reply = alice.grant()
    assert reply.ok, reply
    conns = [alice.open(host) for host in LOOPBACKS]
    return alice, conns


def assert_cut(lab, conns):
    listener = lab.listeners[0]
    for conn in conns:
        assert conn.wait_closed(CLOSE_WITHIN), \
            f'uid {conn.actor.uid}\'s connection to {conn.host}:{conn.port} is still open'
        assert listener.wait_server_closed(conn.local_port, CLOSE_WITHIN), \
            f'the server still holds uid {conn.actor.uid}\'s connection from {conn.host}:{conn.port}'


def assert_revoked(lab, since, uid, reason, seat='seat0'):
    got = lab.gate.wait_signal('Revoked', (seat, uid, reason), since=since)
    assert got, f'no Revoked({seat}, {uid}, {reason}); got {lab.gate.signals("Revoked", since=since)}'


def test_seat_switch_revokes_the_old_user_and_lets_the_new_owner_in(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    lab.logind.activate(INACTIVE_SESSION)      # fast user switching to 1002
    assert_revoked(lab, mark, CONSOLE_UID, 'session-changed')
    assert_cut(lab, conns)
    assert_refused(alice)
    carol = lab.actor(INACTIVE_UID)
    assert_refused(carol)          # the seat's new owner still has to ask
    reply = carol.grant()
    assert reply.ok, reply
    assert_connects(carol)
    assert_refused(alice)
    assert lab.gate.grants() == [('seat0', INACTIVE_UID, [5930])]


def test_seat_showing_no_session_revokes(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    lab.logind.deactivate('seat0')             # e.g. back to the greeter's VT
    assert_revoked(lab, mark, CONSOLE_UID, 'session-changed')
    assert_cut(lab, conns)
    assert_refused(alice)


def test_session_removal_revokes(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    lab.logind.remove_session(CONSOLE_SESSION)
    assert_revoked(lab, mark, CONSOLE_UID, 'session-removed')
    assert_cut(lab, conns)
    assert_refused(alice)
    assert lab.gate.grants() == []


def test_holder_leaving_the_bus_revokes(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    # another process of hers, not on the bus, holds connections
    alice_viewer = lab.actor(CONSOLE_UID, bus=False)
    conns = [alice_viewer.open(host) for host in LOOPBACKS]
    mark = lab.gate.mark()
    alice.kill()
    assert_revoked(lab, mark, CONSOLE_UID, 'disconnected')
    assert_cut(lab, conns)
    assert_refused(alice_viewer)
    assert lab.gate.grants() == []


def test_release_ends_the_grant(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    reply = alice.release()
    assert reply.ok, reply
    assert_revoked(lab, mark, CONSOLE_UID, 'released')
    assert_cut(lab, conns)
    assert_refused(alice)
    assert lab.gate.grants() == []


def test_revoke_without_manage_authorization_is_not_authorized(lab, helper):
    alice, conns = granted_console_user(lab)
    admin = lab.actor(ADMIN_UID)
    mark = lab.gate.mark()
    reply = admin.revoke(CONSOLE_UID)
    assert reply.error == ERR_NOT_AUTHORIZED, reply
    assert lab.gate.signals('Revoked', since=mark) == []
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert all(conn.echo() == 'ok' for conn in conns)
    assert_connects(alice)


def test_admin_revoke_ends_the_grant(lab, helper):
    alice, conns = granted_console_user(lab)
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE])
    admin = lab.actor(ADMIN_UID)
    lab.polkit.clear_calls()
    mark = lab.gate.mark()
    reply = admin.revoke(CONSOLE_UID)
    assert reply.ok, reply
    assert_revoked(lab, mark, CONSOLE_UID, 'admin')
    assert_cut(lab, conns)
    assert_refused(alice)
    assert lab.gate.grants() == []
    checks = [(c[0], c[1].get('name'), c[2]) for c in lab.polkit.checks()]
    assert ('system-bus-name', admin.unique_name, ACTION_MANAGE) in checks, checks


def test_unrelated_session_changes_keep_the_grant(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    lab.logind.remove_session(INACTIVE_SESSION)
    lab.logind.add_session('8', REMOTE_UID, remote=True)
    lab.logind.add_session('9', INACTIVE_UID, seat='seat0', active=False)
    other = lab.actor(REMOTE_UID)
    assert other.grant().error is not None
    lab.client.wait_signal('SessionNew', since=mark, match=lambda s: s.args[0] == '9')
    assert lab.gate.signals('Revoked', since=mark) == []
    assert all(not conn.wait_closed(0.3) for conn in conns)
    assert all(conn.echo() == 'ok' for conn in conns)
    assert_connects(alice)
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def test_sigterm_revokes_all_with_reason_shutdown_and_the_deny_stays(lab, helper):
    alice, conns = granted_console_user(lab)
    mark = lab.gate.mark()
    status = helper.stop(signal.SIGTERM)
    assert status == 0, f'seatgate-helper exited with {status} on SIGTERM'
    assert_revoked(lab, mark, CONSOLE_UID, 'shutdown')
    assert_cut(lab, conns)
    assert lab.nft_table() is not None, 'the table went away with the helper'
    assert_refused(alice)
    assert_refused(lab.actor(INACTIVE_UID, bus=False))
    assert_refused(lab.actor(REMOTE_UID, bus=False))


def test_logout_that_leaves_a_process_running_revokes_at_once(lab, helper):
    # KillUserProcesses=no: the session goes "closing" but stays Active and
    # the seat's ActiveSession, and logind sends nothing on the bus; only its
    # file under /run/systemd/sessions says so.
    alice, conns = granted_console_user(lab)
    assert f'{CONSOLE_UID} . 5930' in lab.nft_table()
    mark = lab.gate.mark()
    lab.logind.stop_session(CONSOLE_SESSION)
    assert lab.logind.seat_props('seat0')['ActiveSession'][0] == CONSOLE_SESSION
    assert_revoked(lab, mark, CONSOLE_UID, 'session-removed')
    assert_cut(lab, conns)
    assert_refused(alice)
    assert lab.gate.grants() == []
    assert f'{CONSOLE_UID} . 5930' not in lab.nft_table()


def test_a_logged_out_session_that_lingers_is_not_granted_again(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    lab.logind.stop_session(CONSOLE_SESSION)
    reply = alice.grant()
    assert reply.error == 'io.github.seatgate.Error.NotSeatOwner', reply
    assert 'session 2 of uid 1000: logged out' in reply.message, reply.message
    assert_refused(alice)
