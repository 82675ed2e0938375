'''logind leaves the bus and comes back (issue 4, fault 4).

While logind is gone nobody can be told to be the console user: every grant
ends (connections included) and none is given. When it is back, the real
agent of the active console user asks again by itself and gets the port;
if someone else is at the seat by then, nobody gets it.'''

import time

from faults_lab import LOOPBACKS, SETTLE, report
from seatgate_lab import CONSOLE_UID, ERR_NOT_SEAT_OWNER, INACTIVE_SESSION, INACTIVE_UID, wait_until

GRANTED = [('seat0', CONSOLE_UID, [5930])]
# Revocation when logind goes: part of the promise, so bounded, generously.
REVOKED_WITHIN = 2.0


def first_refused_after(runs, t):
    for outcome, first, _last, _n in runs:
        if outcome != 'ok' and first >= t:
            return first
    return None


def granted_agent(lab):
    helper = lab.start_helper()
    lab.start_agent(CONSOLE_UID)
    wait_until(lambda: lab.gate.grants() == GRANTED, SETTLE, what='the agent\'s grant')
    alice = lab.actor(CONSOLE_UID)
    conns = [alice.open(host) for host in LOOPBACKS]
    return helper, alice, conns


def logind_goes(lab, alice, conns):
    console = lab.prober(CONSOLE_UID, interval=0.001)
    mark = lab.gate.mark()
    gone = time.monotonic()
    lab.stop_logind()
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'session-changed'), since=mark,
                                timeout=SETTLE)
    for conn in conns:
        assert conn.wait_closed(REVOKED_WITHIN), f'the connection to {conn.host} outlived logind'
    assert lab.gate.grants() == []
    assert lab.granted_set() == set()
    time.sleep(0.05)
    refused_at = first_refused_after(console.stop()['runs'], gone)
    assert refused_at is not None and refused_at - gone < REVOKED_WITHIN
    # Nobody is granted while logind is away, the console user included.
    reply = alice.grant()
    assert not reply.ok and reply.error == ERR_NOT_SEAT_OWNER, reply
    assert 'logind' in reply.message, reply.message
    for host in LOOPBACKS:
        assert alice.connect(host) == 'refused'
    return refused_at - gone


# logind goes and comes back this many times: the agent's asking and the
# helper's reading of the seats race differently each time.
CYCLES = 5


def test_grants_end_while_logind_is_gone_and_come_back_with_it(lab):
    helper, alice, conns = granted_agent(lab)
    hammer = lab.prober(INACTIVE_UID, hold=16)
    revoked, back = [], []
    for cycle in range(CYCLES):
        revoked.append(logind_goes(lab, alice, conns))
        time.sleep(0.5)
        assert lab.gate.grants() == [], 'a grant was given while logind was away'
        for host in LOOPBACKS:
            assert alice.connect(host) == 'refused'

        console = lab.prober(CONSOLE_UID, until_ok=True, interval=0.001)
        returned = time.monotonic()
        lab.start_logind()
        access = console.wait_ok(SETTLE)
        back.append(access - returned)
        wait_until(lambda: lab.gate.grants() == GRANTED, SETTLE, what='the agent to ask again')
        assert lab.granted_set() == {(CONSOLE_UID, 5930)}
        conns = [alice.open(host) for host in LOOPBACKS]
    report('logind restart', cycles=CYCLES, logind_gone_to_console_refused_max_s=max(revoked),
           logind_back_to_console_access_max_s=max(back),
           logind_back_to_console_access_min_s=min(back))
    assert hammer.windows() == [], f'uid {INACTIVE_UID} got in: {hammer.windows()}'
    assert helper.running()


def test_logind_back_with_another_user_at_the_seat_grants_nobody(lab):
    helper, alice, conns = granted_agent(lab)
    logind_goes(lab, alice, conns)
    mark = lab.gate.mark()
    lab.start_logind(active=INACTIVE_SESSION)
    # The console agent looks again and finds its session in the background.
    time.sleep(1.0)
    assert lab.gate.signals('Granted', since=mark) == []
    assert lab.gate.grants() == []
    assert lab.granted_set() == set()
    for host in LOOPBACKS:
        assert alice.connect(host) == 'refused'
    carol = lab.actor(INACTIVE_UID)
    reply = carol.grant()
    assert reply.ok, reply
    assert lab.gate.grants() == [('seat0', INACTIVE_UID, [5930])]
    assert helper.running()
