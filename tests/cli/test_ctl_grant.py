'''seatgatectl grant and the grant it holds while it runs.'''

import json
import signal

import ctl
from seatgate_lab import CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID, REMOTE_UID, PYTHON, \
    wait_until

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
