'''Who gets a grant, who does not, and what a grant opens.'''

import pytest

from seatgate_lab import (ACTION_GRANT, ALWAYS_UID, CONSOLE_SESSION, CONSOLE_UID, ERR_NOT_AUTHORIZED,
                          ERR_NOT_SEAT_OWNER, INACTIVE_UID, NOBODY_UID, REMOTE_UID, SEAT1_UID,
                          OutsideHost, assert_connects, assert_refused, project_version)


def assert_says(message, *phrases):
    '''Each phrase a person needs to read in @message, word for word.'''
    for phrase in phrases:
        assert phrase in message, f'{phrase!r} missing from the message: {message!r}'


def test_console_user_is_refused_before_grant_and_connects_after_on_v4_and_v6(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert_refused(alice)
    mark = lab.gate.mark()
    reply = alice.grant()
    assert reply.ok, reply
    assert lab.gate.wait_signal('Granted', ('seat0', CONSOLE_UID), since=mark)
    assert_connects(alice)
    # the grant is the uid's: another process of hers, not on the bus, connects too
    assert_connects(lab.actor(CONSOLE_UID, bus=False))


def test_uids_without_a_grant_stay_refused_while_the_console_user_holds_one(lab, helper):
    assert lab.actor(CONSOLE_UID).grant().ok
    for uid in (REMOTE_UID, INACTIVE_UID, NOBODY_UID, 0):
        assert_refused(lab.actor(uid, bus=False))


def test_remote_session_user_is_refused_with_not_seat_owner(lab, helper):
    bob = lab.actor(REMOTE_UID)
    mark = lab.gate.mark()
    reply = bob.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    # the message tells a person why: whose request, what it lacks, and whose
    # session the seat's active one is
    assert_says(reply.message, f'uid {REMOTE_UID} does not own the active local session',
                f'the active session of seat0 is session {CONSOLE_SESSION} of uid {CONSOLE_UID}')
    assert_refused(bob)
    assert lab.gate.grants() == []
    assert lab.gate.signals('Granted', since=mark) == []


def test_inactive_session_user_is_refused_with_not_seat_owner(lab, helper):
    carol = lab.actor(INACTIVE_UID)
    reply = carol.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert_says(reply.message, f'uid {INACTIVE_UID} does not own the active local session',
                f'the active session of seat0 is session {CONSOLE_SESSION} of uid {CONSOLE_UID}')
    assert_refused(carol)
    assert lab.gate.grants() == []


def test_user_without_a_session_is_refused_with_not_seat_owner(lab, helper):
    reply = lab.actor(NOBODY_UID).grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert_says(reply.message, f'uid {NOBODY_UID} does not own the active local session',
                f'the active session of seat0 is session {CONSOLE_SESSION} of uid {CONSOLE_UID}')


def test_closing_console_session_is_not_granted(lab, helper):
    # logind changes State without a signal: the helper must look at Grant time
    lab.logind.set_state(CONSOLE_SESSION, 'closing')
    alice = lab.actor(CONSOLE_UID)
    reply = alice.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert_refused(alice)


def test_greeter_class_session_at_the_seat_is_not_granted(lab, helper):
    lab.logind.add_session('c1', 1007, seat='seat0', cls='greeter', active=True)
    reply = lab.actor(1007).grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert lab.gate.grants() == []


def test_remote_flagged_session_at_the_seat_is_not_granted(lab, helper):
    # whatever else logind says, Remote=true is never the console
    lab.logind.add_session('r1', 1007, seat='seat0', remote=True, active=True)
    reply = lab.actor(1007).grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert lab.gate.grants() == []


def test_active_user_of_an_unconfigured_seat_is_not_granted(lab, helper):
    lab.logind.add_session('11', SEAT1_UID, seat='seat1', active=True)
    reply = lab.actor(SEAT1_UID).grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    # seat1 is not gated: the message names the seats seatgate does gate
    assert_says(reply.message, f'uid {SEAT1_UID} does not own the active local session of any seat '
                'seatgate gates', 'the active session of seat0 is')
    assert lab.gate.grants() == []


def test_polkit_saying_no_gives_not_authorized(lab, helper):
    lab.polkit.set_allowed([])
    alice = lab.actor(CONSOLE_UID)
    reply = alice.grant()
    assert reply.error == ERR_NOT_AUTHORIZED, reply
    # what polkit refused, and what the person can do about it
    assert_says(reply.message, f'uid {CONSOLE_UID} owns the active local session of the seat',
                'polkit does not allow io.github.seatgate.grant',
                'Start the request from inside the desktop session')
    assert_refused(alice)
    assert lab.gate.grants() == []


def test_grant_asks_polkit_about_the_callers_bus_name(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    lab.polkit.clear_calls()
    assert alice.grant().ok
    checks = lab.polkit.checks()
    assert checks, 'polkit was never asked'
    for kind, details, action, _details, _flags in checks:
        assert kind == 'system-bus-name', checks
        assert details.get('name') == alice.unique_name, checks
    assert ACTION_GRANT in [c[2] for c in checks]


def test_grant_is_idempotent(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    reply = alice.grant()
    assert reply.ok, reply
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert_connects(alice)


def test_grants_seats_version_properties_and_signals_tell_what_happened(lab, helper):
    assert lab.gate.seats() == [('seat0', [5930])]
    assert lab.gate.grants() == []
    assert lab.gate.version() == project_version()
    alice = lab.actor(CONSOLE_UID)

    mark = lab.gate.mark()
    assert alice.grant().ok
    assert lab.gate.wait_signal('Granted', ('seat0', CONSOLE_UID), since=mark)
    changed = lab.gate.wait_property_change('Grants', since=mark)
    assert changed is not None, 'no PropertiesChanged for Grants after Grant()'
    if changed != '<invalidated>':
        assert [(s, u, list(p)) for s, u, p in changed] == [('seat0', CONSOLE_UID, [5930])]
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]

    mark = lab.gate.mark()
    assert alice.release().ok
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'released'), since=mark)
    changed = lab.gate.wait_property_change('Grants', since=mark)
    assert changed is not None, 'no PropertiesChanged for Grants after Release()'
    if changed != '<invalidated>':
        assert list(changed) == []
    assert lab.gate.grants() == []
    assert lab.gate.signals('Granted', since=mark) == []


def test_port_ranges_in_config_are_all_gated_and_listed(lab):
    lab.listen(5931)
    lab.listen(5932)
    lab.start_helper(lab.write_config(seats={'seat0': '5930;5931-5932'}))
    assert lab.gate.seats() == [('seat0', [5930, 5931, 5932])]
    alice = lab.actor(CONSOLE_UID)
    carol = lab.actor(INACTIVE_UID, bus=False)
    for port in (5930, 5931, 5932):
        assert_refused(alice, port)
    assert alice.grant().ok
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930, 5931, 5932])]
    for port in (5930, 5931, 5932):
        assert_connects(alice, port)
        assert_refused(carol, port)


def test_ports_not_in_config_are_left_alone(lab, helper):
    lab.listen(6000)
    assert_connects(lab.actor(INACTIVE_UID, bus=False), 6000)


def test_always_allow_uid_connects_without_a_grant(lab):
    lab.start_helper(lab.write_config(always_allow=[ALWAYS_UID]))
    assert_connects(lab.actor(ALWAYS_UID, bus=False))
    assert_refused(lab.actor(CONSOLE_UID, bus=False))
    assert_refused(lab.actor(INACTIVE_UID, bus=False))


def test_local_connection_to_another_local_address_is_gated_too(lab):
    outside = lab.outside()     # gives the lab a second address, 10.77.0.1 / fd77::1
    hosts = (OutsideHost.HOST_V4, OutsideHost.HOST_V6)
    lab.listen(5930, hosts=hosts)
    lab.start_helper()
    carol = lab.actor(INACTIVE_UID, bus=False)
    assert_refused(carol, hosts=hosts)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert_connects(alice, hosts=hosts)
    del outside


@pytest.mark.parametrize('family', ['v4', 'v6'])
def test_connection_from_outside_the_host_to_a_gated_port_is_dropped(lab, family):
    outside = lab.outside()
    host = OutsideHost.HOST_V4 if family == 'v4' else OutsideHost.HOST_V6
    lab.listen(5930, hosts=(host,))
    lab.listen(6000, hosts=(host,))
    lab.start_helper()
    # even while the console user holds a grant
    assert lab.actor(CONSOLE_UID).grant().ok
    for uid in (0, CONSOLE_UID):
        stranger = outside.actor(uid)
        assert stranger.connect(host, 6000) == 'ok', 'the outside host cannot reach an ungated port'
        result = stranger.connect(host, 5930, timeout=0.5)
        assert result in ('refused', 'timeout'), f'outside uid {uid} to [{host}]:5930: {result}'


def test_open_console_tells_the_holder_where_its_seats_console_is(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    reply = alice.call('OpenConsole')
    assert reply.ok, reply
    # no VM binding in this lab's config: no ticket to hand out
    assert reply.value == {'seat': 'seat0', 'uri': 'spice://127.0.0.1:5930', 'host': '127.0.0.1',
                           'port': 5930}, reply.value


def test_open_console_is_refused_to_every_connection_that_holds_no_grant(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    # her other process, on the bus but without a grant of its own, must ask
    # for one (logind and polkit are asked again); so must everyone else
    for actor in (lab.actor(CONSOLE_UID), lab.actor(REMOTE_UID), lab.actor(NOBODY_UID)):
        reply = actor.call('OpenConsole')
        assert reply.error == ERR_NOT_SEAT_OWNER, reply
        assert_says(reply.message, 'This connection holds no grant', 'ask for the grant first')
    assert alice.release().ok
    reply = alice.call('OpenConsole')
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
