'''Starting, restarting and resetting the helper; its config; multiseat.'''

import os
import re
import signal

import pytest

from seatgate_lab import (CONSOLE_UID, GATE_NAME, INACTIVE_UID, NOBODY_UID, REMOTE_UID, SEAT1_UID,
                          assert_connects, assert_refused, project_version)


BROKEN = {
    # key: (file text, line of the fault, key it names)
    'bad-port': ('[Gate]\nAlwaysAllow=\n\n[Seat seat0]\nPorts=59x30\n', 5, 'Ports'),
    'port-out-of-range': ('[Gate]\n[Seat seat0]\nPorts=5930;70000\n', 3, 'Ports'),
    'bad-uid': ('# who may always connect\n[Gate]\nAlwaysAllow=1000;bob\n[Seat seat0]\nPorts=5930\n',
                3, 'AlwaysAllow'),
    'bad-table-mode': ('[Gate]\nTableMode=sometimes\n[Seat seat0]\nPorts=5930\n', 2, 'TableMode'),
}


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_broken_config_refuses_to_start_naming_file_line_and_key(lab, case):
    text, line, key = BROKEN[case]
    path = lab.write_file('broken.conf', text)
    r = lab.run_helper(path, args=('--verbose',))
    assert r.returncode == 1, f'exit status {r.returncode}; stderr:\n{r.stderr}'
    assert path in r.stderr, r.stderr
    assert key in r.stderr, r.stderr
    assert re.search(rf'(\b[Ll]ine {line}\b|:{line}\b)', r.stderr), \
        f'stderr does not name line {line}:\n{r.stderr}'
    assert lab.client.name_owner(GATE_NAME) is None


def test_broken_config_keeps_the_previous_deny(lab, helper):
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert helper.stop(signal.SIGTERM) == 0
    r = lab.run_helper(lab.write_file('broken.conf', '[Seat seat0]\nPorts=nope\n'))
    assert r.returncode == 1, r
    assert lab.nft_table() is not None, 'the broken start removed the table'
    assert_refused(alice)
    assert_refused(lab.actor(INACTIVE_UID, bus=False))


def test_broken_config_at_boot_still_installs_a_deny(lab):
    # After a boot there is no table to keep: the built-in port is closed.
    assert lab.nft_table() is None
    assert lab.actor(INACTIVE_UID, bus=False).connect('127.0.0.1', 5930) == 'ok'
    r = lab.run_helper(lab.write_file('broken.conf', '[Seat seat0]\nPorts=59x30\n'))
    assert r.returncode == 1, r
    assert 'deny-only table' in r.stderr, r.stderr
    assert lab.nft_table() is not None, 'a broken config at boot left no table'
    for uid in (CONSOLE_UID, INACTIVE_UID, 0):
        assert_refused(lab.actor(uid, bus=False))


def test_missing_config_file_refuses_to_start(lab):
    r = lab.run_helper(os.path.join(lab.dir, 'no-such.conf'))
    assert r.returncode != 0, r
    assert 'no-such.conf' in r.stderr, r.stderr
    assert lab.client.name_owner(GATE_NAME) is None


def kernel_at_least(major, minor):
    release = os.uname().release.split('.')
    return (int(release[0]), int(re.match(r'\d+', release[1]).group())) >= (major, minor)


TABLE_MODES = ['auto', 'plain', pytest.param('persistent', marks=pytest.mark.skipif(
    not kernel_at_least(6, 9), reason='persistent tables need Linux >= 6.9'))]


@pytest.mark.parametrize('mode', TABLE_MODES)
def test_crash_keeps_the_deny_for_everyone_without_a_grant(lab, mode):
    helper = lab.start_helper(lab.write_config(table_mode=mode))
    assert lab.actor(CONSOLE_UID).grant().ok
    helper.stop(signal.SIGKILL)
    assert lab.nft_table() is not None, f'the table went away with the helper (TableMode={mode})'
    for uid in (INACTIVE_UID, NOBODY_UID, REMOTE_UID):
        assert_refused(lab.actor(uid, bus=False))


@pytest.mark.parametrize('mode', TABLE_MODES)
def test_restart_after_a_crash_leaves_only_the_deny(lab, mode):
    config = lab.write_config(table_mode=mode)
    helper = lab.start_helper(config)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert_connects(alice)
    helper.stop(signal.SIGKILL)
    lab.start_helper(config)
    # alice is still on the bus, but her grant was the old helper's
    assert_refused(alice)
    assert lab.gate.grants() == []
    reply = alice.grant()
    assert reply.ok, reply
    assert_connects(alice)


def test_reset_option_leaves_only_the_deny(lab):
    config = lab.write_config()
    helper = lab.start_helper(config)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    helper.stop(signal.SIGKILL)
    r = lab.run_helper(config, args=('--reset',))
    assert r.returncode == 0, r
    assert lab.nft_table() is not None, '--reset removed the table instead of resetting it'
    assert_refused(alice)


def test_version_option_prints_the_version(lab):
    r = lab.run_helper(config='', args=('--version',))
    assert r.returncode == 0, r
    assert project_version() in r.stdout + r.stderr, r


def multiseat(lab):
    lab.logind.add_seat('seat1')
    lab.logind.add_session('10', SEAT1_UID, seat='seat1', active=True)
    for port in (5940, 5941):
        lab.listen(port)
    return lab.start_helper(lab.write_config(seats={'seat0': '5930', 'seat1': '5940-5941'}))


def test_multiseat_grant_covers_only_the_owners_seat_ports(lab):
    multiseat(lab)
    assert lab.gate.seats() == [('seat0', [5930]), ('seat1', [5940, 5941])]
    alice = lab.actor(CONSOLE_UID)
    dave = lab.actor(SEAT1_UID)
    assert alice.grant().ok
    reply = dave.grant()
    assert reply.ok, reply
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930]), ('seat1', SEAT1_UID, [5940, 5941])]
    assert_connects(alice, 5930)
    assert_refused(alice, 5940)
    assert_refused(alice, 5941)
    assert_connects(dave, 5940)
    assert_connects(dave, 5941)
    assert_refused(dave, 5930)


def test_multiseat_revocation_on_one_seat_leaves_the_other_alone(lab):
    multiseat(lab)
    alice = lab.actor(CONSOLE_UID)
    dave = lab.actor(SEAT1_UID)
    assert alice.grant().ok and dave.grant().ok
    alice_conn = alice.open('::1', 5930)
    dave_conn = dave.open('::1', 5940)
    mark = lab.gate.mark()
    lab.logind.deactivate('seat1')
    assert lab.gate.wait_signal('Revoked', ('seat1', SEAT1_UID, 'session-changed'), since=mark)
    assert dave_conn.wait_closed(2.0), 'dave\'s connection to seat1\'s port is still open'
    assert_refused(dave, 5940)
    assert alice_conn.echo() == 'ok', 'alice\'s connection was cut by seat1\'s change'
    assert_connects(alice, 5930)
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert [s for s in lab.gate.signals('Revoked', since=mark) if s[1][1] == CONSOLE_UID] == []


def test_helper_takes_its_name_only_with_the_table_in_place(lab):
    # "name appeared" means ready: by then the port must already be gated
    helper = lab.start_helper()
    assert lab.nft_table() is not None
    assert_refused(lab.actor(CONSOLE_UID, bus=False))
    assert helper.running()

