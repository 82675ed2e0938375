'''seatgatectl release.'''

import signal

import ctl
from seatgate_lab import CONSOLE_UID, REMOTE_UID


def test_ctl_release_says_when_nothing_is_held(lab, helper):
    r = ctl.run(lab, ['release'], uid=REMOTE_UID)
    assert r.returncode == ctl.EXIT_OK
    assert r.stdout.endswith('held no grant.\n')


def test_ctl_release_tells_which_program_still_holds_the_grant(lab, helper):
    # The grant is held by the connection that asked (here a running
    # seatgatectl grant, in life the agent); a second process cannot end it.
    holder = ctl.spawn(lab, ['grant'], uid=CONSOLE_UID)
    try:
        assert 'Granted' in ctl.read_line(holder)
        r = ctl.run(lab, ['release'], uid=CONSOLE_UID)
        assert r.returncode == ctl.EXIT_FAILURE
        assert 'still holds the grant on seat0' in r.stderr
        assert 'seatgatectl grant' in r.stderr
        assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    finally:
        ctl.stop(holder, signal.SIGINT)


def test_ctl_release_json_counts_what_is_still_held(lab, helper):
    holder = ctl.spawn(lab, ['grant'], uid=CONSOLE_UID)
    try:
        assert 'Granted' in ctl.read_line(holder)
        status, doc = ctl.run_json(lab, ['release'], uid=CONSOLE_UID)
    finally:
        ctl.stop(holder, signal.SIGINT)
    assert status == ctl.EXIT_FAILURE
    assert doc == {'ok': False, 'uid': CONSOLE_UID, 'released': 0, 'still_held': 1}


def test_ctl_release_exits_3_without_helper(lab):
    r = ctl.run(lab, ['release'], uid=CONSOLE_UID)
    assert r.returncode == ctl.EXIT_NO_HELPER
    assert 'seatgate-helper is not on the system bus' in r.stderr
