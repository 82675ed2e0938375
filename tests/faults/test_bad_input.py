'''Bad input (issue 4, fault 7): D-Bus calls with wrong signatures, unknown
methods and interfaces, property writes, Revoke of uids that hold nothing;
configs that are empty, binary, huge, with bad ports, overlapping seats,
unknown keys or duplicate groups. Each gets a clear error, and the gate
stays as it was: closed to everyone without a grant.

The parser's own cases are unit-tested (tests/unit/test-config.c) and fuzzed
(tests/fuzz/); here it is the helper's behaviour with them: it exits
non-zero naming the file, line and key, and the deny stays, with no grant
left from the helper before.'''

import json
import os
import re
import signal
import subprocess
import time

import pytest

from faults_lab import FAULTS_DIR, LOOPBACKS
from seatgate_lab import (ACTION_GRANT, ACTION_MANAGE, CONSOLE_UID, ERR_FAILED,
                          ERR_NOT_AUTHORIZED, ERR_NOT_SEAT_OWNER, GATE_NAME, INACTIVE_UID,
                          NOBODY_UID, PYTHON)

INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod'
PROPERTIES = 'org.freedesktop.DBus.Properties'
GRANTED = [('seat0', CONSOLE_UID, [5930])]
GRANTED_PROPERTY = [('seat0', CONSOLE_UID, [5930])]


def assert_gate_unchanged(lab, helper, alice):
    assert helper.running(), helper.log()
    assert lab.gate.grants() == GRANTED
    assert lab.granted_set() == {(CONSOLE_UID, 5930)}
    for host in LOOPBACKS:
        assert alice.connect(host) == 'ok'
    carol = lab.actor(INACTIVE_UID, bus=False)
    for host in LOOPBACKS:
        assert carol.connect(host) == 'refused'


def granted(lab, helper):
    '''The console user holds a grant, and the lab has heard all of it (so
    that what comes after a mark is what the test did).'''
    mark = lab.gate.mark()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert lab.gate.wait_signal('Granted', ('seat0', CONSOLE_UID), since=mark)
    assert lab.gate.wait_property_change('Grants', since=mark) == GRANTED_PROPERTY
    return alice


# --- D-Bus ---------------------------------------------------------------------

BAD_CALLS = {
    # name: (method, signature, args, iface, path, error name, text in the message)
    'grant-with-an-argument': ('Grant', 's', ('1002',), None, None, INVALID_ARGS, None),
    'grant-with-a-uid': ('Grant', 'u', (INACTIVE_UID,), None, None, INVALID_ARGS, None),
    'release-with-an-argument': ('Release', 'u', (CONSOLE_UID,), None, None, INVALID_ARGS, None),
    'revoke-without-a-uid': ('Revoke', '', (), None, None, INVALID_ARGS, None),
    'revoke-with-a-string': ('Revoke', 's', ('1000',), None, None, INVALID_ARGS, None),
    'revoke-with-two-uids': ('Revoke', 'uu', (CONSOLE_UID, CONSOLE_UID), None, None, INVALID_ARGS,
                             None),
    'unknown-method': ('GrantTo', 'u', (INACTIVE_UID,), None, None, UNKNOWN_METHOD, None),
    'unknown-interface': ('Grant', '', (), 'io.github.seatgate.Gate2', None,
                          'org.freedesktop.DBus.Error.AccessDenied', None),
    # GDBus answers UnknownMethod, "Object does not exist at path ...".
    'unknown-object': ('Grant', '', (), None, '/io/github/seatgate/Gate1/other', UNKNOWN_METHOD,
                       'does not exist'),
}


def test_malformed_calls_get_a_clear_error_and_change_nothing(lab, helper):
    alice = granted(lab, helper)
    carol = lab.actor(INACTIVE_UID)
    mark = lab.gate.mark()
    for name, (method, sig, args, iface, path, error, text) in sorted(BAD_CALLS.items()):
        kw = {}
        if iface:
            kw['iface'] = iface
        if path:
            kw['path'] = path
        for who in (carol, alice):
            reply = who.call(method, sig, args, **kw)
            assert not reply.ok, f'{name} from uid {who.uid} succeeded: {reply}'
            assert reply.error == error, f'{name}: {reply}'
            assert reply.message, f'{name}: no message'
            if text:
                assert text in reply.message, f'{name}: {reply.message}'
    assert lab.gate.signals(since=mark) == []
    assert_gate_unchanged(lab, helper, alice)


PROPERTY_WRITES = {
    # property: GVariant text of the value written
    'Grants': f"<[('seat0', uint32 {INACTIVE_UID}, [uint16 5930])]>",
    'Seats': "<[('seat0', @aq [])]>",
    'Version': "<'0'>",
    'Open': '<true>',
}


def gdbus_set(lab, uid, prop, value):
    '''Properties.Set from a process of uid: (exit status, stderr).'''
    proc = lab.spawn_as(uid, ['gdbus', 'call', '--system', '--dest', GATE_NAME, '--object-path',
                              '/io/github/seatgate/Gate1', '--method', PROPERTIES + '.Set',
                              'io.github.seatgate.Gate1', prop, value],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


def test_property_writes_are_refused_and_change_nothing(lab, helper):
    alice = granted(lab, helper)
    mark = lab.gate.mark()
    for prop, value in sorted(PROPERTY_WRITES.items()):
        for uid in (INACTIVE_UID, CONSOLE_UID, 0):
            status, err = gdbus_set(lab, uid, prop, value)
            assert status != 0, f'uid {uid} wrote {prop}'
            assert INVALID_ARGS in err, f'{prop} by uid {uid}: {err}'
            if prop != 'Open':
                assert 'not writable' in err, err
    assert lab.gate.properties_changed(since=mark) == []
    assert lab.gate.seats() == [('seat0', [5930])]
    assert_gate_unchanged(lab, helper, alice)


@pytest.mark.parametrize('manage', [False, True], ids=['not-admin', 'admin'])
def test_revoke_of_uids_that_hold_nothing_changes_nothing(lab, helper, manage):
    alice = granted(lab, helper)
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE] if manage else [ACTION_GRANT])
    admin = lab.actor(NOBODY_UID)
    mark = lab.gate.mark()
    for uid in (0, 0xFFFFFFFF, 0xFFFFFFFE, INACTIVE_UID, NOBODY_UID):
        reply = admin.revoke(uid)
        assert not reply.ok, f'Revoke({uid}): {reply}'
        if manage:
            assert reply.error == ERR_FAILED, reply
            assert f'uid {uid} holds no grant' in reply.message, reply.message
        else:
            assert reply.error == ERR_NOT_AUTHORIZED, reply
            assert 'io.github.seatgate.manage' in reply.message, reply.message
    if not manage:
        # Revoking someone who does hold a grant needs the admin right too.
        reply = admin.revoke(CONSOLE_UID)
        assert reply.error == ERR_NOT_AUTHORIZED, reply
    assert lab.gate.signals('Revoked', since=mark) == []
    assert_gate_unchanged(lab, helper, alice)


def test_grant_from_callers_not_at_the_console_names_why(lab, helper):
    alice = granted(lab, helper)
    for uid in (0, INACTIVE_UID, NOBODY_UID, 1001):
        reply = lab.actor(uid).grant()
        assert not reply.ok and reply.error == ERR_NOT_SEAT_OWNER, f'uid {uid}: {reply}'
        assert f'uid {uid}' in reply.message and 'seat0' in reply.message, reply.message
    assert_gate_unchanged(lab, helper, alice)


def test_forged_signals_from_a_user_change_nothing(lab, helper):
    '''A user sends the helper, unicast, the signals that would end or move
    grants if they came from the bus or from logind: the helper believes
    only the bus and logind's own unique name (GLib before 2.80.1 without
    the CVE-2024-34397 fix would not check).'''
    alice = granted(lab, helper)
    seat0 = '/org/freedesktop/login1/seat/seat0'
    console = '/org/freedesktop/login1/session/_32'
    inactive = '/org/freedesktop/login1/session/_34'
    signals = [
        ['/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameOwnerChanged', '(sss)',
         [alice.unique_name, alice.unique_name, '']],
        ['/org/freedesktop/login1', 'org.freedesktop.login1.Manager', 'SessionRemoved', '(so)',
         ['2', console]],
        [console, 'org.freedesktop.DBus.Properties', 'PropertiesChanged', '(sa{sv}as)',
         ['org.freedesktop.login1.Session', {'Active': ['b', False]}, []]],
        [seat0, 'org.freedesktop.DBus.Properties', 'PropertiesChanged', '(sa{sv}as)',
         ['org.freedesktop.login1.Seat', {'ActiveSession': ['(so)', ['4', inactive]]}, []]],
    ]
    mark = lab.gate.mark()
    for uid in (INACTIVE_UID, NOBODY_UID):
        proc = lab.spawn_as(uid, [PYTHON, os.path.join(FAULTS_DIR, 'forge.py'), helper.unique_name,
                                  json.dumps(signals)],
                            env={'PYTHONDONTWRITEBYTECODE': '1'}, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, lab.read(proc.lab_log_path)
    # The helper has read everything sent before this answer.
    assert lab.gate.version()
    assert lab.gate.signals('Revoked', since=mark) == []
    assert_gate_unchanged(lab, helper, alice)
    # Nor did it believe uid 1002 is at the seat now.
    reply = lab.actor(INACTIVE_UID).grant()
    assert not reply.ok and reply.error == ERR_NOT_SEAT_OWNER, reply
    assert_gate_unchanged(lab, helper, alice)


@pytest.mark.parametrize('polkit_delay', [0.0, 0.5], ids=['at-once', 'while-polkit-answers'])
def test_caller_leaving_during_its_grant_leaves_no_grant(lab, helper, polkit_delay):
    '''The console user's callers that leave the bus before Grant() is
    answered (at once, or while polkit is being asked) hold nothing: a grant
    is held by a caller still on the bus.'''
    lab.polkit.set_delay(polkit_delay)
    mark = lab.gate.mark()
    proc = lab.spawn_as(CONSOLE_UID, [PYTHON, os.path.join(FAULTS_DIR, 'call_and_leave.py'), '20'],
                        env={'PYTHONDONTWRITEBYTECODE': '1'})
    assert proc.wait(30) == 0, lab.read(proc.lab_log_path)
    time.sleep(polkit_delay + 1.0)
    assert lab.gate.grants() == [], lab.gate.grants()
    assert lab.granted_set() == set()
    granted_then = [s for s in lab.gate.signals('Granted', since=mark)]
    revoked_then = [s for s in lab.gate.signals('Revoked', since=mark)]
    # Any grant given before the caller was seen leaving ended with it.
    assert len(granted_then) == len(revoked_then), (granted_then, revoked_then)
    alice = lab.actor(CONSOLE_UID, bus=False)
    for host in LOOPBACKS:
        assert alice.connect(host) == 'refused'
    assert helper.running()


# --- configs -----------------------------------------------------------------------

def seat(ports, name='seat0'):
    return f'[Seat {name}]\nPorts={ports}\n'


BAD_CONFIGS = {
    # name: (file content, line named, key or group named)
    'empty': ('', 1, 'Seat'),
    'only-comments': ('# nothing here\n\n', 1, 'Seat'),
    'binary': (bytes(range(256)) * 16, 1, None),
    'not-utf8': ('[Gate]\nAlwaysAllow=\n'.encode() + b'\xff\xfe\n' + seat(5930).encode(), 3, None),
    'huge': ('# padding\n' * 200_000 + seat(5930), 1, None),
    'port-0': ('[Gate]\n' + seat('0'), 3, 'Ports'),
    'port-65536': ('[Gate]\n' + seat('5930;65536'), 3, 'Ports'),
    'port-abc': (seat('abc'), 2, 'Ports'),
    'port-negative': (seat('-5930'), 2, 'Ports'),
    'port-hex': (seat('0x172a'), 2, 'Ports'),
    'reversed-range': (seat('5935-5931'), 2, 'Ports'),
    'no-ports': ('[Seat seat0]\n', 1, 'Ports'),
    'overlapping-seats': (seat('5930-5935') + seat('5934', 'seat1'), 4, 'Ports'),
    'unknown-key': ('[Gate]\nAlwaysAlow=1000\n' + seat(5930), 2, 'AlwaysAlow'),
    'unknown-group': ('[Gates]\n' + seat(5930), 1, 'Gates'),
    'duplicate-group': (seat(5930) + '[Gate]\n' + seat(5931), 4, 'seat0'),
    'duplicate-key': ('[Seat seat0]\nPorts=5930\nPorts=5931\n', 3, 'Ports'),
    'bad-seat-name': (seat(5930, 'console'), 1, 'console'),
    'key-before-group': ('Ports=5930\n' + seat(5930), 1, 'Ports'),
    'not-a-line': (seat(5930) + 'open sesame\n', 3, 'open sesame'),
}


def names_line(stderr, path, line):
    return re.search(rf'{re.escape(path)}:{line}\b', stderr) is not None


def test_broken_configs_stop_the_helper_and_the_deny_stays(lab):
    config = lab.write_config()
    helper = lab.start_helper(config)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    helper.stop(signal.SIGKILL)
    carol = lab.actor(INACTIVE_UID, bus=False)
    failures = []
    for name, (content, line, key) in sorted(BAD_CONFIGS.items()):
        # A grant left by the helper before, as after a crash.
        subprocess.run(['nft', 'add', 'element', 'inet', 'seatgate', 'granted',
                        f'{{ {CONSOLE_UID} . 5930 }}'], check=True, capture_output=True)
        path = f'{lab.dir}/bad-{name}.conf'
        with open(path, 'wb') as f:
            f.write(content.encode() if isinstance(content, str) else content)
        r = lab.run_helper(path, args=('--verbose',))
        problems = []
        if r.returncode == 0:
            problems.append('exit status 0')
        if not names_line(r.stderr, path, line):
            problems.append(f'does not name {path}:{line}')
        if key is not None and key not in r.stderr:
            problems.append(f'does not name {key}')
        if lab.client.name_owner(GATE_NAME) is not None:
            problems.append('the helper is on the bus')
        if lab.nft_table() is None:
            problems.append('the table is gone')
        if lab.granted_set() != set():
            problems.append(f'a grant outlived it: {lab.granted_set()}')
        for host in LOOPBACKS:
            for person in (alice, carol):
                result = person.connect(host)
                if result != 'refused':
                    problems.append(f'uid {person.uid} to {host}: {result}')
        if problems:
            failures.append(f'{name}: {"; ".join(problems)}\n  stderr: {r.stderr.strip()}')
    assert failures == [], '\n'.join(failures)
