'''seatgatectl grant and the grant it holds while it runs.'''

import json
import os
import signal
import subprocess
import time

from gi.repository import GLib

import ctl
from seatgate_lab import CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID, NOBODY_UID, REMOTE_UID, \
    PYTHON, SOURCE_DIR, wait_until

FORGE = os.path.join(SOURCE_DIR, 'tests', 'faults', 'forge.py')

# Exits 0 if 127.0.0.1:5930 answers an echo, 7 if the connection is refused.
CONNECT = [PYTHON, '-c', '''
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", 5930))
    s.sendall(b"ping")
    sys.exit(0 if s.recv(4) == b"ping" else 8)
except ConnectionRefusedError:
    sys.exit(7)
''']


def test_ctl_grant_opens_the_port_to_the_command_it_runs(lab, helper):
    r = ctl.run(lab, ['grant', '--'] + CONNECT, uid=CONSOLE_UID)
    assert r.returncode == 0, r.stderr
    assert "Granted seat0's VM console (port 5930)" in r.stdout


def test_ctl_grant_exits_with_the_command_status(lab, helper):
    r = ctl.run(lab, ['grant', '--quiet', '--', 'sh', '-c', 'exit 42'], uid=CONSOLE_UID)
    assert r.returncode == 42
    assert r.stdout == ''


def test_ctl_grant_ends_the_grant_when_the_command_exits(lab, helper):
    since = lab.gate.mark()
    r = ctl.run(lab, ['grant', '--', 'true'], uid=CONSOLE_UID)
    assert r.returncode == 0
    assert lab.gate.wait_signal('Granted', ('seat0', CONSOLE_UID), since=since)
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'released'), since=since)
    assert lab.gate.grants() == []
    # and the port is closed again to that user
    assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'refused'


def test_ctl_grant_json_lists_the_granted_seats(lab, helper):
    r = ctl.run(lab, ['grant', '--json', '--', 'true'], uid=CONSOLE_UID)
    assert r.returncode == 0
    doc = json.loads(r.stdout.splitlines()[0])
    assert doc['ok'] is True and doc['uid'] == CONSOLE_UID
    assert doc['seats'] == [{'seat': 'seat0', 'ports': [5930]}]


def test_ctl_grant_refuses_a_remote_user_with_exit_4(lab, helper):
    r = ctl.run(lab, ['grant', '--'] + CONNECT, uid=REMOTE_UID)
    assert r.returncode == ctl.EXIT_NOT_SEAT_OWNER
    assert 'not granted: uid 1001 does not own the active local session' in r.stderr
    assert 'session 2 of uid 1000' in r.stderr


def test_ctl_grant_json_reports_the_refusal(lab, helper):
    status, doc = ctl.run_json(lab, ['grant'], uid=INACTIVE_UID)
    assert status == ctl.EXIT_NOT_SEAT_OWNER
    assert doc['ok'] is False
    assert doc['error'] == 'io.github.seatgate.Error.NotSeatOwner'
    assert 'uid 1002' in doc['message']
    assert doc['exit_status'] == ctl.EXIT_NOT_SEAT_OWNER


def test_ctl_grant_exits_5_when_polkit_says_no(lab, helper):
    lab.polkit.set_allowed([])
    r = ctl.run(lab, ['grant', '--', 'true'], uid=CONSOLE_UID)
    assert r.returncode == ctl.EXIT_NOT_AUTHORIZED
    assert 'polkit' in r.stderr


def test_ctl_grant_exits_3_without_helper(lab):
    r = ctl.run(lab, ['grant', '--', 'true'], uid=CONSOLE_UID)
    assert r.returncode == ctl.EXIT_NO_HELPER


def test_ctl_grant_without_command_holds_until_ctrl_c(lab, helper):
    proc = ctl.spawn(lab, ['grant'], uid=CONSOLE_UID)
    try:
        assert 'Granted' in ctl.read_line(proc)
        assert ctl.read_line(proc) == 'Holding the grant until Ctrl-C.'
        assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
        assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'ok'
    finally:
        status, out, _err = ctl.stop(proc, signal.SIGINT)
    assert status == 0
    assert 'Released the grant.' in out
    wait_until(lambda: lab.gate.grants() == [], what='the grant to end')


def test_ctl_grant_without_command_exits_1_when_the_seat_switches(lab, helper):
    proc = ctl.spawn(lab, ['grant'], uid=CONSOLE_UID)
    try:
        assert 'Granted' in ctl.read_line(proc)
        lab.logind.activate(INACTIVE_SESSION)
        status, _out, err = ctl.stop(proc, sig=0, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == ctl.EXIT_FAILURE
    assert 'your grant on seat0 ended (session-changed)' in err


def test_ctl_grant_passes_sigterm_to_its_command(lab, helper):
    proc = ctl.spawn(lab, ['grant', '--', 'sleep', '30'], uid=CONSOLE_UID)
    assert 'Granted' in ctl.read_line(proc)
    status, _out, _err = ctl.stop(proc, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM
    wait_until(lambda: lab.gate.grants() == [], what='the grant to end')


def test_ctl_grant_reports_a_command_that_cannot_run(lab, helper):
    r = ctl.run(lab, ['grant', '--', '/nonexistent/viewer'], uid=CONSOLE_UID)
    assert r.returncode == 127
    assert 'cannot run /nonexistent/viewer' in r.stderr


def unique_names_of(lab, pid):
    '''The unique names pid holds on the lab's system bus.'''
    names = []
    for name in lab.client.call('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                'org.freedesktop.DBus', 'ListNames')[0]:
        if name.startswith(':'):
            try:
                owner = lab.client.call('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                        'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                        's', (name,))[0]
            except GLib.Error:
                continue
            if owner == pid:
                names.append(name)
    return names


def test_ctl_grant_believes_only_the_helper_that_it_was_revoked(lab, helper):
    '''Other local users send seatgatectl, unicast, the Revoked the helper
    would send at a seat switch: it keeps holding the grant; the helper's
    own Revoked still ends it. Debian 12's GLib (2.74.6-2+deb12u1 and later
    carry the CVE-2024-34397 fix) drops the forgery itself, so here this
    shows the promise; cmd-grant.c's own sender check is what keeps it on a
    GLib without the fix, where a subscription to the well-known name
    believed anyone (measured: without the check this test still passes
    on this GLib).'''
    proc = ctl.spawn(lab, ['grant'], uid=CONSOLE_UID)
    try:
        assert 'Granted' in ctl.read_line(proc)
        names = unique_names_of(lab, proc.pid)
        assert len(names) == 1, names
        forged = [['/io/github/seatgate/Gate1', 'io.github.seatgate.Gate1', 'Revoked', '(sus)',
                   ['seat0', CONSOLE_UID, 'session-changed']]]
        for uid in (INACTIVE_UID, NOBODY_UID):
            forger = lab.spawn_as(uid, [PYTHON, FORGE, names[0], json.dumps(forged)],
                                  env={'PYTHONDONTWRITEBYTECODE': '1'}, stdout=subprocess.PIPE)
            forger.communicate(timeout=30)
            assert forger.returncode == 0, lab.read(forger.lab_log_path)
        time.sleep(0.5)  # forge.py returns once the bus has routed them
        assert proc.poll() is None, proc.communicate()
        assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
        lab.logind.activate(INACTIVE_SESSION)
        status, _out, err = ctl.stop(proc, sig=0, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == ctl.EXIT_FAILURE
    assert err.count('your grant on seat0 ended') == 1, err
