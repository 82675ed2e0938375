'''seatgatectl monitor: a line per event until Ctrl-C.'''

import json
import pwd
import re

import ctl
from seatgate_lab import CONSOLE_UID, INACTIVE_SESSION

TIME = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'


def label(uid):
    return f'{pwd.getpwuid(uid).pw_name} ({uid})'


def test_ctl_monitor_prints_grant_and_revoke_with_time_seat_user_reason(lab, helper):
    mon = ctl.spawn(lab, ['monitor'])
    try:
        assert re.fullmatch(TIME + r' seatgate-helper is running \(:\d+\.\d+\)', ctl.read_line(mon))
        alice = lab.actor(CONSOLE_UID)
        assert alice.grant().ok
        assert re.fullmatch(TIME + re.escape(f' seat0 granted {label(CONSOLE_UID)}'),
                            ctl.read_line(mon))
        lab.logind.activate(INACTIVE_SESSION)
        assert re.fullmatch(TIME + re.escape(f' seat0 revoked {label(CONSOLE_UID)}: session-changed'),
                            ctl.read_line(mon))
    finally:
        status, _out, _err = ctl.stop(mon)
    assert status == 0


def test_ctl_monitor_json_prints_one_object_per_event(lab, helper):
    mon = ctl.spawn(lab, ['monitor', '--json'])
    try:
        first = json.loads(ctl.read_line(mon))
        assert first['event'] == 'helper-is-running'
        assert first['bus_name'] == lab.helper.unique_name
        alice = lab.actor(CONSOLE_UID)
        assert alice.grant().ok
        granted = json.loads(ctl.read_line(mon))
        assert alice.release().ok
        revoked = json.loads(ctl.read_line(mon))
    finally:
        ctl.stop(mon)
    assert {k: granted[k] for k in ('event', 'seat', 'uid')} == \
        {'event': 'granted', 'seat': 'seat0', 'uid': CONSOLE_UID}
    assert {k: revoked[k] for k in ('event', 'seat', 'uid', 'reason')} == \
        {'event': 'revoked', 'seat': 'seat0', 'uid': CONSOLE_UID, 'reason': 'released'}
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*', revoked['time'])


def test_ctl_monitor_reports_the_helper_stopping_and_starting(lab, helper):
    mon = ctl.spawn(lab, ['monitor'])
    try:
        assert 'seatgate-helper is running' in ctl.read_line(mon)
        old = lab.helper.unique_name
        lab.helper.stop()
        assert ctl.read_line(mon).endswith(f'seatgate-helper stopped ({old})')
        new = lab.start_helper().unique_name
        assert ctl.read_line(mon).endswith(f'seatgate-helper started ({new})')
    finally:
        ctl.stop(mon)


def test_ctl_monitor_says_when_the_helper_is_not_running(lab):
    mon = ctl.spawn(lab, ['monitor'])
    try:
        assert ctl.read_line(mon).endswith('seatgate-helper is not running')
    finally:
        ctl.stop(mon)
