'''The helper killed (kill -9) while a grant is held (issue 4, fault 1).

The deny stays in place the whole time (a denied uid hammering the port
never gets in); after the unit's stop action (`seatgate-helper --reset`) or
the helper's next start the old grant and its connections are gone; the
real agent asks the new helper by itself and the console user is let in
again. The time from the restart to the console user's access is measured.'''

import signal
import time

import pytest

from faults_lab import LOOPBACKS, SETTLE, report
from seatgate_lab import CONSOLE_UID, INACTIVE_UID, NOBODY_UID, wait_until

GRANTED = [('seat0', CONSOLE_UID, [5930])]
# The console user's access is back within this after the restart: generous,
# it takes well under a second.
ACCESS_BACK_WITHIN = 10.0


def access_back(runs, restarted):
    '''From a console prober's runs: (how long it was refused after the
    restart, when it got in again). With --reset it is refused from the
    reset on; without, the old helper's kernel element lets it in until the
    new helper's reset, a gap the prober may be too slow to see.'''
    last_refused = None
    for i, (outcome, first, last, _n) in enumerate(runs):
        if outcome != 'ok' and last >= restarted:
            last_refused = i
    if last_refused is None:
        ok_after = [first for outcome, first, _l, _n in runs if outcome == 'ok' and first >= restarted]
        return 0.0, (ok_after[0] if ok_after else (restarted if runs and runs[-1][0] == 'ok' else None))
    if last_refused + 1 >= len(runs):
        return None, None
    _o, first, last, _n = runs[last_refused]
    return last - max(first, restarted), runs[last_refused + 1][1]


@pytest.mark.parametrize('stop_action', ['reset', 'restart-only'])
@pytest.mark.parametrize('mode', ['auto', 'plain'])
def test_killed_helper_keeps_the_deny_and_the_agent_gets_access_back(lab, mode, stop_action):
    config = lab.write_config(table_mode=mode)
    helper = lab.start_helper(config)
    lab.start_agent(CONSOLE_UID)
    wait_until(lambda: lab.gate.grants() == GRANTED, SETTLE, what='the agent\'s grant')
    alice = lab.actor(CONSOLE_UID, bus=False)
    alice_conn = alice.open('::1')
    hammer = lab.prober(INACTIVE_UID, hold=16)

    helper.stop(signal.SIGKILL)
    assert lab.nft_table() is not None, f'the table went with the helper (TableMode={mode})'
    nobody = lab.actor(NOBODY_UID, bus=False)
    for host in LOOPBACKS:
        assert nobody.connect(host) == 'refused'

    if stop_action == 'reset':
        r = lab.run_helper(config, args=('--reset',))
        assert r.returncode == 0, r
        assert lab.granted_set() == set(), 'the old grant outlived --reset'
        assert lab.nft_table() is not None, '--reset removed the table'
        for host in LOOPBACKS:
            assert alice.connect(host) == 'refused', 'the console user kept access after --reset'
        assert alice_conn.wait_closed(2.0), 'the old grant\'s connection outlived --reset'

    console = lab.prober(CONSOLE_UID)
    restarted = time.monotonic()
    new_helper = lab.start_helper(config, wait=False)
    new_helper.wait_ready(SETTLE)
    ready = time.monotonic()
    wait_until(lambda: lab.gate.grants() == GRANTED, ACCESS_BACK_WITHIN,
               what='the agent to ask the new helper')
    time.sleep(0.1)
    gap, access = access_back(console.stop()['runs'], restarted)
    assert access is not None, f'the console user is still refused: {console.result["runs"]}'
    report(f'helper kill -9 TableMode={mode} stop-action={stop_action}',
           restart_to_name_owned_s=ready - restarted, restart_to_console_access_s=access - restarted,
           refused_after_restart_s=gap)
    assert access - restarted < ACCESS_BACK_WITHIN
    # The connection made under the old helper's grant did not survive it.
    assert alice_conn.wait_closed(2.0), 'a connection from the old grant is still open'
    assert lab.granted_set() == {(CONSOLE_UID, 5930)}
    for host in LOOPBACKS:
        assert alice.connect(host) == 'ok'
        assert nobody.connect(host) == 'refused'

    windows = hammer.windows()
    assert windows == [], f'uid {INACTIVE_UID} got in during the crash and restart: {windows}'
    assert set(hammer.outcomes()) == {'refused'}, hammer.outcomes()
    assert new_helper.running()
