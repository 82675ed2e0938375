'''The lab checks itself: if these fail, the helper tests prove nothing.'''

import os
import stat
import subprocess

from gi.repository import GLib

from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID,
                          LOGIND_NAME, LOGIND_PATH, POLKIT_NAME, POLKIT_PATH, REMOTE_SESSION,
                          REMOTE_UID, OutsideHost, in_private_netns, session_path)

MANAGER = 'org.freedesktop.login1.Manager'
SESSION = 'org.freedesktop.login1.Session'
SEAT = 'org.freedesktop.login1.Seat'
PROPS = 'org.freedesktop.DBus.Properties'


def login1_call(actor, method, signature='', args=()):
    return actor.call(method, signature, args, dest=LOGIND_NAME, path=LOGIND_PATH, iface=MANAGER)


def test_lab_runs_in_its_own_network_namespace(bare_lab):
    assert in_private_netns()
    links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True, check=True).stdout
    assert [line.split(':')[1].strip() for line in links.splitlines()] == ['lo']
    assert 'table' not in bare_lab.nft_ruleset()


def test_lab_bus_is_a_private_system_bus_reachable_by_users(bare_lab):
    address = bare_lab.bus_address
    assert address.startswith('unix:path=' + bare_lab.dir)
    assert stat.S_IMODE(os.stat(bare_lab.dir).st_mode) == 0o755
    person = bare_lab.actor(CONSOLE_UID)
    assert person.unique_name.startswith(':')
    uid = bare_lab.client.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                               'GetConnectionUnixUser', 's', (person.unique_name,))[0]
    assert uid == CONSOLE_UID


def test_lab_bus_policy_denies_users_what_the_system_bus_denies(bare_lab):
    person = bare_lab.actor(CONSOLE_UID)
    # driving the stand-ins is for root only
    r = person.call('AddSeat', 's', ['seat9'], dest=LOGIND_NAME, path=LOGIND_PATH,
                    iface='org.freedesktop.DBus.Mock')
    assert r.error == 'org.freedesktop.DBus.Error.AccessDenied', r
    # nobody but root may own a name (default deny own)
    r = person.call('RequestName', 'su', ['io.github.seatgate.Gate1', 4], dest='org.freedesktop.DBus',
                    path='/org/freedesktop/DBus', iface='org.freedesktop.DBus')
    assert r.error == 'org.freedesktop.DBus.Error.AccessDenied', r
    # but logind and polkit answer anyone
    assert login1_call(person, 'ListSeats').ok


def test_lab_logind_offers_the_standard_world(lab):
    person = lab.actor(REMOTE_UID)
    r = login1_call(person, 'GetSession', 's', [CONSOLE_SESSION])
    assert r.ok and r.value == '/org/freedesktop/login1/session/_32', r
    r = login1_call(person, 'GetSeat', 's', ['seat0'])
    assert r.ok and r.value == '/org/freedesktop/login1/seat/seat0', r
    r = login1_call(person, 'GetSession', 's', ['99'])
    assert r.error == 'org.freedesktop.login1.NoSuchSession', r
    sessions = sorted(login1_call(person, 'ListSessions').value)
    assert [(s[0], s[1], s[3]) for s in sessions] == [
        (CONSOLE_SESSION, CONSOLE_UID, 'seat0'), (REMOTE_SESSION, REMOTE_UID, ''),
        (INACTIVE_SESSION, INACTIVE_UID, 'seat0')]

    seat = lab.logind.seat_props('seat0')
    assert seat['Id'] == 'seat0'
    assert seat['ActiveSession'] == (CONSOLE_SESSION, session_path(CONSOLE_SESSION))
    assert sorted(seat['Sessions']) == sorted([(CONSOLE_SESSION, session_path(CONSOLE_SESSION)),
                                               (INACTIVE_SESSION, session_path(INACTIVE_SESSION))])
    console = lab.logind.session_props(CONSOLE_SESSION)
    assert (console['User'][0], console['Seat'][0], console['Remote'], console['Class'],
            console['Active'], console['State']) == (CONSOLE_UID, 'seat0', False, 'user', True, 'active')
    remote = lab.logind.session_props(REMOTE_SESSION)
    # like logind: no seat, so "active"
    assert (remote['User'][0], remote['Seat'], remote['Remote'], remote['Active'], remote['State']) == \
        (REMOTE_UID, ('', '/'), True, True, 'active')
    background = lab.logind.session_props(INACTIVE_SESSION)
    assert (background['Seat'][0], background['Remote'], background['Active'], background['State']) == \
        ('seat0', False, False, 'online')


def _changes(lab, since):
    out = []
    for s in lab.client.find_signals('PropertiesChanged', PROPS, since=since):
        if s.sender != lab.client.name_owner(LOGIND_NAME):
            continue
        for name, value in s.args[1].items():
            out.append((s.path, name, value))
    return out


def test_lab_logind_seat_switch_signals_like_logind(lab):
    mark = lab.client.mark()
    lab.logind.activate(INACTIVE_SESSION)
    lab.client.wait_signal('PropertiesChanged', PROPS, '/org/freedesktop/login1/seat/seat0', since=mark)
    changes = [c for c in _changes(lab, mark) if c[1] != 'Sessions']
    assert changes == [
        (session_path(CONSOLE_SESSION), 'Active', False),
        (session_path(INACTIVE_SESSION), 'Active', True),
        ('/org/freedesktop/login1/seat/seat0', 'ActiveSession',
         (INACTIVE_SESSION, session_path(INACTIVE_SESSION))),
    ]
    assert lab.logind.session_props(CONSOLE_SESSION)['State'] == 'online'
    assert lab.logind.session_props(INACTIVE_SESSION)['State'] == 'active'
    # State changes send nothing
    mark = lab.client.mark()
    lab.logind.set_state(INACTIVE_SESSION, 'closing')
    assert lab.logind.session_props(INACTIVE_SESSION)['State'] == 'closing'
    assert lab.client.wait_signal('PropertiesChanged', PROPS, since=mark, timeout=0.3) is None


def test_lab_logind_session_removal_signals_like_logind(lab):
    mark = lab.client.mark()
    lab.logind.remove_session(CONSOLE_SESSION)
    removed = lab.client.wait_signal('SessionRemoved', MANAGER, LOGIND_PATH, since=mark)
    assert removed.args == (CONSOLE_SESSION, session_path(CONSOLE_SESSION))
    assert lab.client.wait_signal('PropertiesChanged', PROPS, '/org/freedesktop/login1/seat/seat0',
                                  since=mark, match=lambda s: 'ActiveSession' in s.args[1])
    # SessionRemoved comes before the seat lets go of it, as in logind
    seen = [s.member for s in lab.client.find_signals(since=mark)
            if s.member == 'SessionRemoved' or (s.member == 'PropertiesChanged' and 'ActiveSession' in s.args[1])]
    assert seen == ['SessionRemoved', 'PropertiesChanged']
    assert lab.logind.seat_props('seat0')['ActiveSession'] == ('', '/')
    try:
        lab.logind.session_props(CONSOLE_SESSION)
        raise AssertionError('the removed session is still on the bus')
    except GLib.Error:
        pass

    mark = lab.client.mark()
    lab.logind.add_session('7', CONSOLE_UID, seat='seat0', active=True)
    new = lab.client.wait_signal('SessionNew', MANAGER, LOGIND_PATH, since=mark)
    assert new.args == ('7', session_path('7'))
    assert lab.logind.seat_props('seat0')['ActiveSession'] == ('7', session_path('7'))


def test_lab_logind_finds_sessions_by_pid_and_child_pid(lab):
    person = lab.actor(CONSOLE_UID)
    r = login1_call(person, 'GetSessionByPID', 'u', [0])
    assert r.error == 'org.freedesktop.login1.NoSessionForPID', r
    lab.logind.add_pid(CONSOLE_SESSION, person.pid)
    r = login1_call(person, 'GetSessionByPID', 'u', [0])
    assert r.ok and r.value == session_path(CONSOLE_SESSION), r
    child = person.spawn_child()
    r = login1_call(person, 'GetSessionByPID', 'u', [child])
    assert r.ok and r.value == session_path(CONSOLE_SESSION), r
    r = login1_call(person, 'GetSession', 's', ['self'])
    assert r.ok and r.value == session_path(CONSOLE_SESSION), r
    r = login1_call(person, 'GetSessionByPID', 'u', [os.getpid()])
    assert r.error == 'org.freedesktop.login1.NoSessionForPID', r


def test_lab_logind_auto_is_the_callers_session_else_its_users_display(lab):
    # logind-dbus.c get_sender_session(): "self" never consults the Display,
    # "auto" does; a process outside every session (as a user unit is) gets
    # the Display of its user.
    person = lab.actor(CONSOLE_UID)
    r = login1_call(person, 'GetSession', 's', ['self'])
    assert r.error == 'org.freedesktop.login1.NoSessionForPID', r
    r = login1_call(person, 'GetSession', 's', ['auto'])
    assert r.ok and r.value == session_path(CONSOLE_SESSION), r
    nobody = lab.actor(1009)
    r = login1_call(nobody, 'GetSession', 's', ['auto'])
    assert r.error == 'org.freedesktop.login1.NoSessionForPID', r


def test_lab_logind_display_is_stable_and_upgraded_only_to_better(lab):
    # user_elect_display(): an xrdp-like session first (graphical, no seat)
    # stays the Display when the same user logs in at the seat (equal rank);
    # a tty session does not displace a graphical one; stopping does.
    lab.logind.add_session('20', 1005, type='x11')
    assert lab.logind.user_props(1005)['Display'][0] == '20'
    lab.logind.add_session('21', 1005, seat='seat0', type='wayland', active=True)
    assert lab.logind.user_props(1005)['Display'][0] == '20'
    lab.logind.stop_session('20')
    assert lab.logind.user_props(1005)['Display'][0] == '21'
    lab.logind.add_session('22', 1006, type='tty')
    lab.logind.add_session('23', 1006, seat='seat0', type='x11')
    assert lab.logind.user_props(1006)['Display'][0] == '23'


def test_lab_logind_writes_the_files_sd_login_reads(lab):
    f = lab.logind.session_file(CONSOLE_SESSION)
    assert f['UID'] == str(CONSOLE_UID) and f['SEAT'] == 'seat0', f
    assert f['STATE'] == 'active' and f['ACTIVE'] == '1' and f['CLASS'] == 'user', f
    assert lab.logind.session_file(REMOTE_SESSION)['REMOTE'] == '1'
    lab.logind.activate(INACTIVE_SESSION)
    assert lab.logind.session_file(CONSOLE_SESSION)['STATE'] == 'online'
    assert lab.logind.session_file(INACTIVE_SESSION)['STATE'] == 'active'
    # a logout with a process left: closing, yet still the seat's active
    # session, and no signal on the bus, only the file
    since = lab.client.mark()
    lab.logind.stop_session(INACTIVE_SESSION)
    assert lab.logind.session_file(INACTIVE_SESSION)['STATE'] == 'closing'
    props = lab.logind.session_props(INACTIVE_SESSION)
    assert props['State'] == 'closing' and props['Active'], props
    assert lab.logind.seat_props('seat0')['ActiveSession'][0] == INACTIVE_SESSION
    assert lab.client.find_signals(None, 'org.freedesktop.DBus.Properties', None, since) == []
    lab.logind.remove_session(INACTIVE_SESSION)
    assert lab.logind.session_file(INACTIVE_SESSION) is None


def test_lab_polkit_answers_as_told(bare_lab):
    def check(action):
        subject = ('system-bus-name', {'name': GLib.Variant('s', bare_lab.client.conn.get_unique_name())})
        return bare_lab.client.call(POLKIT_NAME, POLKIT_PATH, 'org.freedesktop.PolicyKit1.Authority',
                                    'CheckAuthorization', '(sa{sv})sa{ss}us',
                                    (subject, action, {}, 0, ''))[0][0]
    assert check('io.github.seatgate.grant') is True
    assert check('io.github.seatgate.manage') is False
    bare_lab.polkit.set_allowed([])
    assert check('io.github.seatgate.grant') is False
    kinds = [(c[0], c[2]) for c in bare_lab.polkit.checks()]
    assert kinds[0] == ('system-bus-name', 'io.github.seatgate.grant')
    assert len(kinds) == 3


def test_lab_actor_is_a_real_uid_and_tells_ok_refused_timeout(bare_lab):
    bare_lab.listen(5930)
    person = bare_lab.actor(CONSOLE_UID, bus=False)
    with open(f'/proc/{person.pid}/status', encoding='ascii') as f:
        status = f.read()
    assert f'Uid:\t{CONSOLE_UID}\t{CONSOLE_UID}\t{CONSOLE_UID}' in status
    groups = [line for line in status.splitlines() if line.startswith('Groups:')][0]
    assert groups.split(':')[1].split() == []
    assert person.connect('127.0.0.1', 5930) == 'ok'
    assert person.connect('::1', 5930) == 'ok'
    assert person.connect('127.0.0.1', 5931) == 'refused'
    # a table of the lab's own tells a reject from a drop
    subprocess.run(['nft', '-f', '-'], check=True, text=True, input='''
table inet labcheck {
  chain output {
    type filter hook output priority 0;
    tcp dport 5932 reject with tcp reset
    tcp dport 5933 drop
  }
}
''')
    bare_lab.listen(5932)
    bare_lab.listen(5933)
    assert person.connect('127.0.0.1', 5932) == 'refused'
    assert person.connect('127.0.0.1', 5933, timeout=0.3) == 'timeout'


def test_lab_held_connections_report_their_end(bare_lab):
    listener = bare_lab.listen(5930)
    person = bare_lab.actor(CONSOLE_UID, bus=False)
    conn = person.open('::1', 5930)
    assert conn.echo() == 'ok'
    assert conn.is_open()
    assert not conn.wait_closed(0.2)
    assert listener.server_side(conn.local_port)['open']
    listener.reset_all()
    assert conn.wait_closed(2)
    conn2 = person.open('127.0.0.1', 5930)
    conn2.close()
    assert listener.wait_server_closed(conn2.local_port, 2)


def test_lab_outside_host_reaches_the_lab_over_veth(bare_lab):
    bare_lab.listen(6000, hosts=('0.0.0.0', '::'))
    outside = bare_lab.outside()
    stranger = outside.actor()
    assert stranger.connect(OutsideHost.HOST_V4, 6000) == 'ok'
    assert stranger.connect(OutsideHost.HOST_V6, 6000) == 'ok'
    assert stranger.connect(OutsideHost.HOST_V4, 6001) == 'refused'


def test_lab_runs_programs_as_a_uid_on_the_lab_bus(bare_lab):
    proc = bare_lab.spawn_as(INACTIVE_UID, ['sh', '-c', 'id -u; id -G; echo "$DBUS_SYSTEM_BUS_ADDRESS"'])
    assert proc.wait(5) == 0
    with open(proc.lab_log_path, encoding='utf-8') as f:
        lines = f.read().split()
    assert lines == [str(INACTIVE_UID), str(INACTIVE_UID), bare_lab.bus_address]


def test_lab_stops_with_what_to_do_when_the_checkout_is_closed_to_its_uids():
    # a checkout in a `mktemp -d` folder (mode 0700) or a closed home: the
    # lab's uids could not run tests/lab/actor.py from it
    import shutil
    import tempfile
    import seatgate_lab
    closed = tempfile.mkdtemp(prefix='seatgate-closed-')
    try:
        script = os.path.join(closed, 'actor.py')
        with open(script, 'w', encoding='utf-8'):
            pass
        os.chmod(script, 0o644)
        try:
            seatgate_lab.check_readable_for_lab_uids([script])
        except seatgate_lab.LabError as e:
            message = str(e)
        else:
            raise AssertionError('a closed folder passed the check')
        assert f'{script} cannot be read by the test uids' in message, message
        assert 'Clone the tree to a readable place' in message, message
        os.chmod(closed, 0o755)
        seatgate_lab.check_readable_for_lab_uids([script])
    finally:
        shutil.rmtree(closed)
