'''How Grant() checks its caller: polkit asked with interaction only about
seats the caller owns; on a machine with many seats, only the seats whose
active session may be the caller's are read from logind; a Release() while
the checks are on their way leaves nothing granted.'''

import json
import os
import re
import subprocess

from seatgate_lab import (ACTION_GRANT, CONSOLE_UID, ERR_FAILED, ERR_NOT_SEAT_OWNER, NOBODY_UID,
                          PYTHON, REMOTE_UID, assert_connects, assert_refused, session_path,
                          wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOW_USER_INTERACTION = 1   # polkit's CheckAuthorization flag


# --- interaction -----------------------------------------------------------------

def test_interactive_grant_asks_polkit_with_interaction_for_the_owners_seat(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    lab.polkit.clear_calls()
    reply = alice.grant(interactive=True)
    assert reply.ok, reply
    checks = lab.polkit.checks()
    assert [(c[2], c[3].get('seat'), c[4]) for c in checks] == \
        [(ACTION_GRANT, 'seat0', ALLOW_USER_INTERACTION)], checks
    assert_connects(alice, 5930)


def test_interactive_grant_from_someone_not_at_the_seat_never_asks_polkit(lab, helper):
    '''polkit might ask them to authenticate for a seat that is not theirs.'''
    bob = lab.actor(REMOTE_UID)
    lab.polkit.clear_calls()
    reply = bob.grant(interactive=True)
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert lab.polkit.checks() == []
    assert lab.gate.grants() == []
    assert_refused(bob, 5930)


def test_a_yes_from_polkit_does_not_grant_someone_not_at_the_seat(lab, helper):
    '''Without interaction polkit may be asked before logind has answered;
    its yes counts only for a seat logind says the caller owns.'''
    lab.polkit.set_allowed([ACTION_GRANT])
    for uid in (REMOTE_UID, NOBODY_UID):
        person = lab.actor(uid)
        reply = person.grant()
        assert reply.error == ERR_NOT_SEAT_OWNER, reply
        assert f'session 2 of uid {CONSOLE_UID}' in reply.message, reply.message
        assert_refused(person, 5930)
    assert lab.gate.grants() == []


# --- many seats -------------------------------------------------------------------

# seat0 is the standard world's; seat1..seat5 each have one user (1003-1007),
# active. 1008 is at no seat.
MANY_SEATS = {f'seat{k}': (1002 + k, str(10 + k), 5940 + k) for k in range(1, 6)}
SEATLESS_UID = 1008


def logind_log(lab):
    with open(os.path.join(lab.dir, 'logind.log'), encoding='utf-8', errors='replace') as f:
        return f.read()


def session_reads(text):
    '''Object paths of the sessions whose properties were read (GetAll).'''
    return re.findall(r'GetAll (\S+) org\.freedesktop\.login1\.Session', text)


def many_seats(lab):
    seats = {'seat0': '5930'}
    for seat, (uid, session, port) in MANY_SEATS.items():
        lab.logind.add_seat(seat)
        lab.logind.add_session(session, uid, seat=seat, active=True)
        lab.listen(port)
        seats[seat] = str(port)
    helper = lab.start_helper(lab.write_config(seats=seats))
    # The helper learns who is at each seat once, right after reading it.
    paths = [session_path('2')] + [session_path(s) for _u, s, _p in MANY_SEATS.values()]
    wait_until(lambda: all(f'Get {p} org.freedesktop.login1.Session.User' in logind_log(lab)
                           for p in paths), 5, what='the helper to read the users at the seats')
    return helper


def test_many_seats_grant_reads_only_the_seat_the_caller_is_at(lab):
    many_seats(lab)
    uid, session, port = MANY_SEATS['seat3']
    carol = lab.actor(uid)
    before = len(logind_log(lab))
    reply = carol.grant()
    assert reply.ok, reply
    assert session_reads(logind_log(lab)[before:]) == [session_path(session)]
    assert lab.gate.grants() == [('seat3', uid, [port])]
    assert_connects(carol, port)
    assert_refused(carol, 5930)
    assert_refused(lab.actor(MANY_SEATS['seat4'][0]), port)


def test_many_seats_someone_at_no_seat_is_refused_naming_every_seat(lab):
    many_seats(lab)
    frank = lab.actor(SEATLESS_UID)
    before = len(logind_log(lab))
    reply = frank.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert f'the active session of seat0 is session 2 of uid {CONSOLE_UID}' in reply.message
    for seat, (uid, session, _port) in MANY_SEATS.items():
        assert f'the active session of {seat} is session {session} of uid {uid}' in reply.message, \
            reply.message
    # Known from before: nothing had to be read.
    assert session_reads(logind_log(lab)[before:]) == []
    assert lab.gate.grants() == []


def test_many_seats_a_seat_switched_to_a_new_session_is_granted_to_its_user(lab):
    '''Right after the switch the helper may not know the new session's user
    yet: it reads the seat rather than guess.'''
    many_seats(lab)
    lab.logind.add_session('30', SEATLESS_UID, seat='seat2')
    lab.logind.activate('30')
    frank = lab.actor(SEATLESS_UID)
    reply = frank.grant()
    assert reply.ok, reply
    port = MANY_SEATS['seat2'][2]
    assert lab.gate.grants() == [('seat2', SEATLESS_UID, [port])]
    assert_connects(frank, port)
    # The seat's former user is not at it any more.
    former = lab.actor(MANY_SEATS['seat2'][0])
    reply = former.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert f'the active session of seat2 is session 30 of uid {SEATLESS_UID}' in reply.message


# --- a Release() overtaking the checks -------------------------------------------

def test_release_while_the_grant_is_checked_leaves_nothing_granted(lab, helper):
    lab.polkit.set_delay(0.5)
    mark = lab.gate.mark()
    proc = lab.spawn_as(CONSOLE_UID, [PYTHON, os.path.join(HERE, 'grant_then_release.py')],
                        env={'PYTHONDONTWRITEBYTECODE': '1'}, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, lab.read(proc.lab_log_path)
    grant = json.loads(out)
    assert grant['error'] == ERR_FAILED, grant
    assert grant['message'] == 'not granted: the caller released while seatgate was checking', grant
    assert lab.gate.grants() == []
    assert lab.gate.signals('Granted', since=mark) == []
    assert_refused(lab.actor(CONSOLE_UID, bus=False), 5930)


def test_the_classes_of_systemd_256_are_not_granted(lab):
    # user-incomplete: a homed user's session before the home is unlocked;
    # user-early: root at a console before its service manager runs.
    lab.logind.add_session('30', 1003, seat='seat0', active=True, cls='user-incomplete')
    lab.start_helper()
    person = lab.actor(1003)
    reply = person.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert 'still being set up (class user-incomplete' in reply.message, reply.message
    assert_refused(person, 5930)
    lab.logind.add_session('31', 1004, seat='seat0', active=True, cls='user-early')
    early = lab.actor(1004)
    reply = early.grant()
    assert reply.error == ERR_NOT_SEAT_OWNER, reply
    assert 'not a user session (class user-early)' in reply.message, reply.message
    assert_refused(early, 5930)
