'''seatgatectl status: helper, config, table, seats, sessions and grants.'''

import json
import pwd
import subprocess

import ctl
from seatgate_lab import CONSOLE_UID, CONSOLE_SESSION, REMOTE_UID


def user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def nft_table_flags():
    r = subprocess.run(['nft', '-j', 'list', 'table', 'inet', 'seatgate'],
                       capture_output=True, text=True, check=True)
    for item in json.loads(r.stdout)['nftables']:
        if 'table' in item:
            return set(item['table'].get('flags', []))
    raise AssertionError('no table in nft -j output')


def test_ctl_status_shows_helper_seat_session_and_grant(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    r = ctl.run(lab, ['status'])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    out = r.stdout
    assert f'Helper:  running, version {lab.gate.version()}' in out
    assert 'Seat seat0: port 5930\n' in out
    assert f'active session: {CONSOLE_SESSION} of {user(CONSOLE_UID)} ({CONSOLE_UID}), local' in out
    assert f'granted to:     {user(CONSOLE_UID)} ({CONSOLE_UID})' in out
    assert 'Table:   inet seatgate present' in out


def test_ctl_status_json_matches_helper_logind_and_kernel(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    status, doc = ctl.run_json(lab, ['status', '--config', lab.config_path])
    assert status == ctl.EXIT_OK
    assert doc['helper']['running'] is True
    assert doc['helper']['version'] == lab.gate.version()
    assert doc['helper']['bus_name'] == lab.helper.unique_name
    assert doc['config'] == {'path': lab.config_path, 'exists': True}
    assert doc['seats_from'] == 'helper'
    [seat] = doc['seats']
    assert seat['seat'] == 'seat0' and seat['ports'] == [5930]
    assert seat['granted_uid'] == CONSOLE_UID
    session = seat['active_session']
    assert (session['id'], session['uid'], session['remote'], session['class'], session['state']) \
        == (CONSOLE_SESSION, CONSOLE_UID, False, 'user', 'active')
    assert doc['grants'] == [{'seat': 'seat0', 'uid': CONSOLE_UID, 'user': user(CONSOLE_UID),
                              'ports': [5930]}]
    table = doc['table']
    assert table['readable'] and table['present']
    assert table['layout'] == 'persistent'
    assert table['gated_ports'] == [5930]
    assert table['granted'] == [{'uid': CONSOLE_UID, 'port': 5930}]


def test_ctl_status_reports_the_table_flags_the_kernel_holds(lab, helper):
    _, doc = ctl.run_json(lab, ['status'])
    flags = nft_table_flags()
    assert doc['table']['owned'] == ('owner' in flags)
    # Debian 12's nft (1.0.6) predates the persist flag (0x4) and prints
    # it as "unknown"; dormant and owner it names.
    assert doc['table']['persistent'] == ('persist' in flags or 'unknown' in flags)


def test_ctl_status_reports_a_plain_table_as_not_owned(lab):
    lab.start_helper(config=lab.write_config(table_mode='plain'))
    _, doc = ctl.run_json(lab, ['status'])
    assert doc['table']['present'] is True
    assert doc['table']['owned'] is False
    assert doc['table']['persistent'] is False
    assert doc['table']['layout'] == 'plain'


def test_ctl_status_describes_the_owned_table_and_its_backstop(lab):
    # The layout of Linux 5.12-6.8: inet seatgate_owned enforces, the plain
    # inet seatgate is only the backstop; status must not call the gate
    # "not owned", and its sets are the owned table's.
    lab.start_helper(config=lab.write_config(table_mode='backstop'))
    assert lab.actor(CONSOLE_UID).grant().ok
    r = ctl.run(lab, ['status'])
    assert ('Table:   inet seatgate_owned present, owned by the helper, with the plain backstop '
            'inet seatgate\n') in r.stdout, r.stdout
    assert f'granted: {user(CONSOLE_UID)} ({CONSOLE_UID}) on 5930' in r.stdout, r.stdout
    assert 'not owned' not in r.stdout
    _, doc = ctl.run_json(lab, ['status'])
    assert doc['table']['layout'] == 'owned+backstop'
    assert doc['table']['granted'] == [{'uid': CONSOLE_UID, 'port': 5930}]


def test_ctl_status_shows_a_seat_without_active_session(lab, helper):
    lab.logind.deactivate('seat0')
    r = ctl.run(lab, ['status'])
    assert 'active session: none' in r.stdout
    _, doc = ctl.run_json(lab, ['status'])
    assert doc['seats'][0]['active_session'] is None


def test_ctl_status_without_helper_exits_3_and_shows_the_config(lab):
    path = lab.write_config(seats={'seat0': '5930', 'seat1': '5931'})
    r = ctl.run(lab, ['status', '--config', path])
    assert r.returncode == ctl.EXIT_NO_HELPER
    assert 'Helper:  NOT RUNNING' in r.stdout
    assert 'Seat seat1: port 5931 (from the config file)' in r.stdout
    status, doc = ctl.run_json(lab, ['status', '--config', path])
    assert status == ctl.EXIT_NO_HELPER
    assert doc['helper']['running'] is False
    assert doc['seats_from'] == 'config'
    assert [s['seat'] for s in doc['seats']] == ['seat0', 'seat1']


def test_ctl_status_as_a_user_says_the_table_needs_root(lab, helper):
    r = ctl.run(lab, ['status'], uid=REMOTE_UID)
    assert r.returncode == ctl.EXIT_OK
    assert 'Table:   unknown (reading the nftables table needs root' in r.stdout
    _, doc = ctl.run_json(lab, ['status'], uid=REMOTE_UID)
    assert doc['table']['readable'] is False
    assert doc['grants'] == []
