'''seatgate-agent in the lab: the real agent as real uids, the real helper,
logind and polkit stand-ins on a private system bus, and a private session
bus with a StatusNotifierWatcher and a notification daemon stand-in.

Each test is one behaviour of the agent (issue 3), named for it.'''

import os
import signal
import subprocess
import time

from gi.repository import GLib

from agent_lab import SETTLE, agent_path
from seatgate_lab import (ACTION_GRANT, ACTION_MANAGE, ADMIN_UID, CONSOLE_SESSION, CONSOLE_UID,
                          INACTIVE_SESSION, INACTIVE_UID, REMOTE_SESSION, REMOTE_UID,
                          SEAT1_UID, wait_until)

GRANTED = 'seatgate-granted'
DENIED = 'seatgate-denied'
UNAVAILABLE = 'seatgate-unavailable'
URI = 'spice://127.0.0.1:5930'
# Grant/release cycles of other users that an agent must sleep through.
GRANT_CYCLES = 10

VIEWER_STUB = '''#!/bin/sh
# Records how the agent started it: uid, then one argument a line.
{ id -u; printf '%s\\n' "$@"; } > "$HOME/out/viewer.$$.tmp"
mv "$HOME/out/viewer.$$.tmp" "$HOME/out/viewer.$$"
exit "${VIEWER_STATUS:-0}"
'''


def viewer_runs(agent):
    '''[[uid, args...]] of each run of the viewer stub by this agent's user.'''
    out_dir = os.path.join(agent.home, 'out')
    runs = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith('viewer.') and not name.endswith('.tmp'):
            with open(os.path.join(out_dir, name), encoding='utf-8') as f:
                runs.append(f.read().splitlines())
    return runs


# A viewer that stays: records its argv, its pid and the connection file as
# it finds it (mode, owner, type, then the content), then waits until the
# test writes to the FIFO ~/out/release.
VV_VIEWER_STUB = '''#!/bin/sh
f="$1"
{ id -u; echo "$$"; printf '%s\\n' "$@"; echo --; stat -c '%a %u %F' "$f"; cat "$f"; } \\
    > "$HOME/out/vv.$$.tmp"
mv "$HOME/out/vv.$$.tmp" "$HOME/out/vv.$$"
read go < "$HOME/out/release"
'''


def vv_viewer(desk, uid):
    '''Installs VV_VIEWER_STUB as `vv-viewer` and its FIFO in uid's ~/out.'''
    desk.install_stub('vv-viewer', VV_VIEWER_STUB)
    fifo = os.path.join(desk.home(uid), 'out', 'release')
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, uid, uid)
    return fifo


def vv_runs(agent):
    '''[(uid, pid, argv, stat line, file content)] of each vv-viewer run.'''
    out_dir = os.path.join(agent.home, 'out')
    runs = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith('vv.') and not name.endswith('.tmp'):
            with open(os.path.join(out_dir, name), encoding='utf-8') as f:
                head, _, tail = f.read().partition('--\n')
            lines = head.splitlines()
            stat_line, _, content = tail.partition('\n')
            runs.append((lines[0], int(lines[1]), lines[2:], stat_line, content))
    return runs


def release_viewer(fifo):
    '''Lets a waiting vv-viewer exit (it has the FIFO open for reading).'''
    def writer():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
    fd = wait_until(writer, SETTLE, what='the viewer to wait on its FIFO')
    os.write(fd, b'go\n')
    os.close(fd)


def reason(props):
    '''The tooltip's description: the reason, or the address when granted.'''
    return props['ToolTip'][3]


def switch_away(lab):
    lab.logind.activate(INACTIVE_SESSION)


def switch_back(lab):
    lab.logind.activate(CONSOLE_SESSION)


def unrelated_events(lab):
    '''Things that change on the bus but not for the console agent.'''
    lab.logind.set_property(CONSOLE_SESSION, 'IdleHint', GLib.Variant('b', True), emit=True)
    lab.logind.add_session('9', INACTIVE_UID, seat='seat0', active=False)
    lab.logind.remove_session('9')
    lab.logind.set_property(CONSOLE_SESSION, 'IdleHint', GLib.Variant('b', False), emit=True)


# --- session logic ---------------------------------------------------------

def test_console_agent_obtains_the_grant_on_start(desk, helper, lab):
    console = lab.actor(CONSOLE_UID)
    assert console.connect('127.0.0.1') == 'refused'
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: ('seat0', CONSOLE_UID, [5930]) in lab.gate.grants(), SETTLE,
               what='the helper to grant uid 1000')
    assert console.connect('127.0.0.1') == 'ok'
    assert console.connect('::1') == 'ok'
    assert agent.grant_calls() == 1
    assert agent.wait_state(GRANTED)


def test_remote_agent_does_not_ask_and_shows_why(desk, helper, lab):
    agent = desk.agent(REMOTE_UID, REMOTE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'remote session'
    assert props['Status'] == 'Passive'
    assert agent.grant_calls() == 0
    assert lab.gate.grants() == []


def test_inactive_agent_does_not_ask_and_shows_why(desk, helper, lab):
    agent = desk.agent(INACTIVE_UID, INACTIVE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    assert agent.grant_calls() == 0
    assert lab.gate.grants() == []


def test_agent_on_a_seat_without_gated_ports_does_not_ask(desk, helper, lab):
    lab.logind.add_session('7', SEAT1_UID, seat='seat1', active=True)
    agent = desk.agent(SEAT1_UID, '7')
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no VM port is gated on seat1'
    assert props['Status'] == 'NeedsAttention'
    assert agent.grant_calls() == 0


def test_seat_switch_away_and_back_is_followed_without_restart(desk, helper, lab):
    console = lab.actor(CONSOLE_UID)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)

    switch_away(lab)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    assert props['Status'] == 'Passive'
    assert lab.gate.grants() == []
    assert console.connect('127.0.0.1') == 'refused'

    switch_back(lab)
    props = agent.wait_state(GRANTED)
    assert props['Status'] == 'Active'
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert console.connect('127.0.0.1') == 'ok'
    assert agent.running()
    assert agent.grant_calls() == 2


def test_helper_killed_and_restarted_is_asked_again(desk, helper, lab):
    console = lab.actor(CONSOLE_UID)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)

    helper.stop(signal.SIGKILL)
    props = agent.wait_state(UNAVAILABLE)
    assert 'not running' in reason(props)

    lab.start_helper()
    agent.wait_state(GRANTED)
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], SETTLE,
               what='the new helper to grant uid 1000')
    assert console.connect('127.0.0.1') == 'ok'
    assert agent.grant_calls() == 2


def test_agent_started_before_the_helper_waits_for_it(desk, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(UNAVAILABLE)
    assert agent.grant_calls() == 0
    lab.start_helper()
    agent.wait_state(GRANTED)
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]


def test_killed_agent_loses_the_grant(desk, helper, lab):
    console = lab.actor(CONSOLE_UID)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    mark = lab.gate.mark()

    agent.kill(signal.SIGKILL)
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'disconnected'), since=mark,
                                timeout=SETTLE)
    assert lab.gate.grants() == []
    assert console.connect('127.0.0.1') == 'refused'


def test_agent_exits_when_its_session_is_removed(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    lab.logind.remove_session(CONSOLE_SESSION)
    assert agent.wait_exit() == 0
    assert 'Session 2 ended' in agent.log()


def test_agent_exits_when_its_session_is_closing(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    # Logout: logind marks the session closing (no signal) and the seat
    # moves to the greeter (Active changes, with a signal).
    lab.logind.set_state(CONSOLE_SESSION, 'closing')
    lab.logind.deactivate('seat0')
    assert agent.wait_exit() == 0


def test_agent_without_a_session_bus_still_obtains_the_grant(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION,
                       env={'DBUS_SESSION_BUS_ADDRESS': 'unix:path=/nonexistent/bus'})
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], SETTLE,
               what='the grant')
    assert agent.running()
    assert 'No session bus' in agent.log()


def test_agent_exits_when_the_session_bus_goes(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    desk.bus.proc.terminate()
    assert agent.wait_exit() == 0
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the grant to end')


def test_agent_finds_its_session_by_pid_alone(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, None, hold=True)
    lab.logind.add_pid(CONSOLE_SESSION, agent.pid)
    agent.release_hold()
    agent.wait_state(GRANTED)
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert 'runs in login session /org/freedesktop/login1/session/_32' in agent.log()


def test_agent_of_a_uid_without_sessions_does_not_ask(desk, helper, lab):
    agent = desk.unit_agent(SEAT1_UID)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no login session'
    assert agent.grant_calls() == 0
    assert agent.running()


def test_refused_grant_is_not_retried_until_something_changes(desk, helper, lab):
    lab.polkit.set_allowed([])
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_state(DENIED)
    assert 'not the active session' not in reason(props)
    assert props['Status'] == 'NeedsAttention'
    refusal = reason(props)

    unrelated_events(lab)
    # The switch comes after those events on the bus: once the agent shows
    # it, it has seen them all.
    switch_away(lab)
    agent.wait_item(lambda p: reason(p) == 'not the active session on seat0')
    assert agent.grant_calls() == 1

    # Becoming active again is a change: asked once more, refused once more.
    switch_back(lab)
    agent.wait_item(lambda p: reason(p) == refusal)
    wait_until(lambda: agent.grant_calls() == 2, SETTLE, what='the second Grant ()')

    # polkit alone changing is not seen; a helper restart is.
    lab.polkit.set_allowed([ACTION_GRANT])
    lab.helper.stop()
    agent.wait_state(UNAVAILABLE)
    lab.start_helper()
    agent.wait_state(GRANTED)
    assert agent.grant_calls() == 3


def test_revoked_grant_is_shown_and_not_asked_again(desk, helper, lab):
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE])
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    admin = lab.actor(ADMIN_UID)
    assert admin.revoke(CONSOLE_UID).ok

    props = agent.wait_state(DENIED)
    assert reason(props) == 'an administrator ended the grant'
    assert props['Status'] == 'NeedsAttention'
    unrelated_events(lab)
    switch_away(lab)
    agent.wait_item(lambda p: reason(p) == 'not the active session on seat0')
    assert agent.grant_calls() == 1
    assert lab.gate.grants() == []

    switch_back(lab)
    agent.wait_state(GRANTED)
    assert agent.grant_calls() == 2


# --- tray --------------------------------------------------------------------

def test_item_registers_with_the_watcher(desk, helper, lab):
    watcher = desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_state(GRANTED)
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE,
               what='the item to register')
    owner = desk.bus.client.name_owner(agent.item_name)
    assert (owner, '/StatusNotifierItem') in [tuple(r) for r in watcher.mock('GetRegistrations')[0]]
    assert props['Id'] == 'seatgate-agent'
    assert props['Category'] == 'SystemServices'
    assert props['Menu'] == '/MenuBar'
    assert props['ItemIsMenu'] is False
    # The build's datadir (/usr/local/share) is on the default XDG_DATA_DIRS.
    assert props['IconThemePath'] == ''


def test_item_names_its_icon_dir_when_outside_the_theme_path(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, env={'XDG_DATA_DIRS': '/usr/share'})
    props = agent.wait_state(GRANTED)
    assert props['IconThemePath'].endswith('/share/icons')
    assert props['IconThemePath'] != '/usr/share/icons'


def test_item_properties_and_signals_follow_each_state(desk, helper, lab):
    desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_state(GRANTED)
    assert (props['Status'], props['IconName']) == ('Active', GRANTED)
    assert props['Title'] == 'VM console: yours (port 5930)'
    assert props['ToolTip'][0] == GRANTED
    assert props['ToolTip'][2] == 'VM console: yours (port 5930)'
    assert URI in props['ToolTip'][3]
    owner = desk.bus.client.name_owner(agent.item_name)

    def signals_since(mark):
        return [(s.member, tuple(s.args)) for s in
                desk.bus.client.find_signals(interface='org.kde.StatusNotifierItem', since=mark)
                if s.sender == owner]

    mark = desk.bus.client.mark()
    switch_away(lab)
    props = agent.wait_state(DENIED)
    assert (props['Status'], props['Title']) == ('Passive', 'VM console: not yours')
    assert props['ToolTip'][2] == 'VM console: not yours'
    assert props['ToolTip'][3] == 'not the active session on seat0'
    wait_until(lambda: {'NewIcon', 'NewStatus', 'NewToolTip', 'NewTitle'} <=
               {m for m, _a in signals_since(mark)}, SETTLE, what='the change signals')
    assert ('NewStatus', ('Passive',)) in signals_since(mark)

    mark = desk.bus.client.mark()
    lab.helper.stop()
    props = agent.wait_state(UNAVAILABLE)
    assert (props['Status'], props['Title']) == ('Active', 'VM console: gate unavailable')
    assert props['ToolTip'][3] == 'the seatgate helper is not running'
    wait_until(lambda: ('NewStatus', ('Active',)) in signals_since(mark), SETTLE,
               what='NewStatus Active')


def test_item_reregisters_after_the_watcher_restarts(desk, helper, lab):
    first = desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE, what='registration')

    first.stop()
    second = desk.start_watcher()
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE,
               what='registration with the new watcher')
    assert [r[1] for r in second.mock('GetRegistrations')[0]] == ['/StatusNotifierItem']


def test_item_registers_again_when_the_watcher_drops_it_three_times_at_most(desk, helper, lab):
    # GNOME's AppIndicator extension 46 drops about one item in three as it
    # takes it in (tests/desktop/README.md): without a new registration the
    # session has no icon.
    watcher = desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE, what='registration')

    def registrations():
        return [r[1] for r in watcher.mock('GetRegistrations')[0]]
    for n in range(2, 5):
        watcher.mock('DropItem', 's', (agent.watcher_id,))
        wait_until(lambda: len(registrations()) == n, SETTLE, what=f'registration {n}')
        assert agent.watcher_id in desk.registered_items()
    watcher.mock('DropItem', 's', (agent.watcher_id,))
    wait_until(lambda: 'it stays dropped' in agent.log(), SETTLE, what='the agent to give up')
    assert registrations() == ['/StatusNotifierItem'] * 4
    assert agent.watcher_id not in desk.registered_items()
    # Dropped for good, it falls back to notifications: the tray is hidden.
    wait_until(lambda: 'Tray: hidden' in agent.log(), SETTLE, what='the tray hidden')


def test_another_items_drop_and_a_forged_one_change_nothing(desk, helper, lab):
    watcher = desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE, what='registration')
    # Another app's item, registered by path from another connection, dropped.
    desk.bus.client.call('org.kde.StatusNotifierWatcher', '/StatusNotifierWatcher',
                         'org.kde.StatusNotifierWatcher', 'RegisterStatusNotifierItem', 's',
                         ('/StatusNotifierItem',))
    other = desk.bus.client.conn.get_unique_name() + '/StatusNotifierItem'
    watcher.mock('DropItem', 's', (other,))
    # The same signal from someone who is not the watcher.
    desk.bus.client.conn.emit_signal(None, '/StatusNotifierWatcher',
                                     'org.kde.StatusNotifierWatcher',
                                     'StatusNotifierItemUnregistered',
                                     GLib.Variant('(s)', (agent.watcher_id,)))
    desk.bus.client.conn.flush_sync(None)
    time.sleep(1.0)
    owner = desk.bus.client.name_owner(agent.item_name)
    assert [tuple(r) for r in watcher.mock('GetRegistrations')[0] if r[0] == owner] == \
        [(owner, '/StatusNotifierItem')]
    assert agent.watcher_id in desk.registered_items()
    assert 'dropped' not in agent.log()


def test_item_names_the_state_and_the_reason_for_screen_readers(desk, helper, lab):
    # GNOME's AppIndicator extension names the icon from IconAccessibleDesc
    # (AttentionAccessibleDesc in NeedsAttention) and reads them again on
    # NewIcon / NewAttentionIcon.
    desk.start_watcher()
    lab.polkit.set_allowed([])
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: p['Status'] == 'NeedsAttention', 'the refusal')
    assert props['IconAccessibleDesc'] == 'VM console: not yours: ' + reason(props)
    assert 'polkit' in props['IconAccessibleDesc']
    assert props['AttentionAccessibleDesc'] == props['IconAccessibleDesc']
    owner = desk.bus.client.name_owner(agent.item_name)
    mark = desk.bus.client.mark()
    lab.polkit.set_allowed([ACTION_GRANT])
    lab.helper.stop()
    props = agent.wait_state(UNAVAILABLE)
    assert props['IconAccessibleDesc'] == \
        'VM console: gate unavailable: the seatgate helper is not running'
    lab.start_helper()
    props = agent.wait_state(GRANTED)
    assert props['IconAccessibleDesc'] == 'VM console: yours (port 5930)'
    assert props['AttentionAccessibleDesc'] == props['IconAccessibleDesc']
    wait_until(lambda: len([s for s in desk.bus.client.find_signals(
        member='NewAttentionIcon', interface='org.kde.StatusNotifierItem', since=mark)
        if s.sender == owner]) >= 2, SETTLE, what='NewAttentionIcon at each change')


def test_menu_offers_what_the_user_can_use(desk, helper, lab):
    desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    revision, root, items = agent.menu_layout()
    assert root == {'children-display': 'submenu'}
    # No clipboard tool on this desk: no "Copy address".
    assert items == [(1, {'label': '_Open VM console', 'enabled': True}),
                     (2, {'label': 'Yours: ' + URI, 'enabled': False})]
    assert agent.menu_call('AboutToShow', 'i', (0,)) == (False,)
    assert agent.menu_call('GetGroupProperties', 'aias', ([1, 2], ['enabled'])) == \
        ([(1, {'enabled': True}), (2, {'enabled': False})],)
    version = desk.bus.client.get_property(agent.item_name, '/MenuBar', 'com.canonical.dbusmenu',
                                           'Version')
    assert version >= 3

    owner = desk.bus.client.name_owner(agent.item_name)
    mark = desk.bus.client.mark()
    switch_away(lab)
    agent.wait_state(DENIED)
    new_revision, _root, items = agent.menu_layout()
    assert new_revision > revision
    assert items == [(1, {'label': '_Open VM console', 'enabled': False}),
                     (2, {'label': 'Not yours: not the active session on seat0', 'enabled': False})]
    wait_until(lambda: desk.bus.client.find_signals('LayoutUpdated', 'com.canonical.dbusmenu',
                                                    since=mark,
                                                    match=lambda s: s.sender == owner),
               SETTLE, what='LayoutUpdated')


def test_menu_open_runs_the_configured_viewer(desk, helper, lab):
    desk.install_stub('fake-viewer', VIEWER_STUB)
    desk.write_agent_conf(CONSOLE_UID, '[Agent]\nViewerCommand=fake-viewer --uri %u --port %p "a b"\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.menu_call('Event', 'isvu', (1, 'clicked', GLib.Variant('s', ''), 0))
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert runs == [[str(CONSOLE_UID), '--uri', URI, '--port', '5930', 'a b']]


def assert_default_viewer_run(desk, runs):
    '''remote-viewer %f: one argument, a connection file in the runtime dir.'''
    assert len(runs) == 1 and len(runs[0]) == 2 and runs[0][0] == str(CONSOLE_UID)
    path = runs[0][1]
    assert os.path.dirname(path) == desk.runtime_dir(CONSOLE_UID)
    assert os.path.basename(path).startswith('seatgate-console-') and path.endswith('.vv')


def test_activate_runs_the_default_viewer(desk, helper, lab):
    desk.install_stub('remote-viewer', VIEWER_STUB)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)


def test_menu_open_hands_the_viewer_a_private_connection_file(desk, helper, lab):
    fifo = vv_viewer(desk, CONSOLE_UID)
    desk.write_agent_conf(CONSOLE_UID, '[Agent]\nViewerCommand=vv-viewer %f\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.menu_call('Event', 'isvu', (1, 'clicked', GLib.Variant('s', ''), 0))
    runs = wait_until(lambda: vv_runs(agent), SETTLE, what='the viewer to run')
    # The agent asked the helper, from its connection, the one holding the grant.
    calls = desk.monitor.calls('OpenConsole')
    assert len(calls) == 1 and calls[0][0] in agent.system_names()

    uid, pid, argv, stat_line, content = runs[0]
    assert uid == str(CONSOLE_UID) and len(argv) == 1
    path = argv[0]
    assert os.path.dirname(path) == desk.runtime_dir(CONSOLE_UID)
    # 0600, the person's own, a plain file.
    assert stat_line == f'600 {CONSOLE_UID} regular file'
    st = os.lstat(path)
    assert (st.st_mode & 0o7777, st.st_uid) == (0o600, CONSOLE_UID)
    assert content.splitlines() == [
        '[virt-viewer]', 'type=spice', 'host=127.0.0.1', 'port=5930',
        'title=VM console of seat0', 'delete-this-file=1']
    # No VM binding in the lab, so no ticket: nothing secret anywhere.
    assert 'password' not in content
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
        assert f.read().split(b'\0')[1:] == [os.path.join(desk.bin_dir, 'vv-viewer').encode(),
                                             path.encode(), b'']

    # The viewer did not remove it (remote-viewer would): the agent does, once
    # the viewer exits.
    release_viewer(fifo)
    wait_until(lambda: not os.path.exists(path), SETTLE, what='the connection file to go')
    assert agent.running()
    assert os.listdir(desk.runtime_dir(CONSOLE_UID)) == []


def test_connection_file_is_removed_when_the_agent_exits(desk, helper, lab):
    fifo = vv_viewer(desk, CONSOLE_UID)
    desk.write_agent_conf(CONSOLE_UID, '[Agent]\nViewerCommand=vv-viewer %f\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    _uid, pid, argv, _stat, _content = wait_until(lambda: vv_runs(agent), SETTLE,
                                                  what='the viewer to run')[0]
    assert os.path.exists(argv[0])
    agent.kill(signal.SIGTERM)
    # The viewer goes on; the ticket's file does not outlive the agent.
    assert not os.path.exists(argv[0])
    assert os.path.exists(f'/proc/{pid}')
    release_viewer(fifo)


def test_percent_f_without_a_runtime_dir_starts_no_viewer_and_says_why(desk, helper, lab):
    desk.start_watcher()
    desk.start_notifications()
    desk.install_stub('remote-viewer', VIEWER_STUB)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, env={'XDG_RUNTIME_DIR': None})
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert [s[0] for s in sent] == ['The VM viewer could not start']
    assert 'XDG_RUNTIME_DIR is not set' in sent[0][1] and '%f' in sent[0][1]
    assert 'XDG_RUNTIME_DIR is not set' in agent.log()
    assert viewer_runs(agent) == []


def test_open_console_refused_is_notified_and_starts_no_viewer(desk, helper, lab):
    # uid 1000 misses the Revoked signal (the bus drops it), so its agent
    # still shows "yours" when the helper no longer holds a grant for it:
    # OpenConsole is then refused, and the helper's word is what counts.
    lab.add_bus_policy(f'''  <policy user="{CONSOLE_UID}">
    <deny receive_interface="io.github.seatgate.Gate1" receive_member="Revoked"/>
  </policy>
''')
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE])
    desk.start_watcher()
    desk.start_notifications()
    desk.install_stub('remote-viewer', VIEWER_STUB)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    assert lab.actor(ADMIN_UID).revoke(CONSOLE_UID).ok
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the grant to end')
    assert agent.item_props()['IconName'] == GRANTED

    agent.menu_call('Event', 'isvu', (1, 'clicked', GLib.Variant('s', ''), 0))
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert len(sent) == 1
    summary, body, _replaces, _actions = sent[0]
    assert summary == 'The VM console could not be opened'
    assert body.startswith('This connection holds no grant, so it may not open a VM console')
    props = agent.wait_state(DENIED)
    assert reason(props).startswith('This connection holds no grant')
    assert viewer_runs(agent) == []
    assert os.listdir(desk.runtime_dir(CONSOLE_UID)) == []
    # (A ticket-carrying OpenConsole, and its absence from argv, the log and
    # other uids' reach, needs the helper's VM binding: tests/e2e, later.)


def test_open_does_nothing_without_the_grant(desk, helper, lab):
    desk.install_stub('remote-viewer', VIEWER_STUB)
    agent = desk.agent(INACTIVE_UID, INACTIVE_SESSION)
    agent.wait_state(DENIED)
    agent.item_call('Activate', 'ii', (0, 0))
    agent.menu_call('Event', 'isvu', (1, 'clicked', GLib.Variant('s', ''), 0))
    wait_until(lambda: agent.log().count('Not opening the VM console') == 2, SETTLE,
               what='the agent to decline')
    assert viewer_runs(agent) == []


def test_viewer_that_fails_to_start_is_notified(desk, helper, lab):
    desk.start_watcher()
    desk.start_notifications()
    desk.write_agent_conf(CONSOLE_UID, '[Agent]\nViewerCommand=/nonexistent/viewer %u\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert len(sent) == 1
    summary, body, _replaces, _actions = sent[0]
    assert summary == 'The VM viewer could not start'
    assert '/nonexistent/viewer' in body


def test_viewer_that_fails_is_notified(desk, helper, lab):
    desk.start_watcher()
    desk.start_notifications()
    desk.install_stub('fake-viewer', VIEWER_STUB)
    desk.write_agent_conf(CONSOLE_UID, '[Agent]\nViewerCommand=env VIEWER_STATUS=3 fake-viewer\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert [(s[0], s[1]) for s in sent] == [('The VM viewer failed', 'env exited with status 3.')]


def test_broken_agent_conf_is_reported_and_the_default_used(desk, helper, lab):
    desk.start_watcher()
    desk.start_notifications()
    desk.install_stub('remote-viewer', VIEWER_STUB)
    desk.write_agent_conf(CONSOLE_UID, '[Gate]\nAlwaysAllow=1000\n')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    agent.item_call('Activate', 'ii', (0, 0))
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)
    sent = desk.notifications_sent()
    assert len(sent) == 1 and 'agent.conf' in sent[0][0] and 'agent.conf' in sent[0][1]


def test_copy_address_hands_the_uri_to_the_clipboard_tool(desk, helper, lab):
    desk.install_stub('xclip', '''#!/bin/sh
{ printf '%s\\n' "$*"; cat; } > "$HOME/out/clip.tmp" && mv "$HOME/out/clip.tmp" "$HOME/out/clip"
''')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, env={'DISPLAY': ':99'})
    agent.wait_state(GRANTED)
    _rev, _root, items = agent.menu_layout()
    assert (3, {'label': '_Copy address', 'enabled': True}) in items
    agent.menu_call('Event', 'isvu', (3, 'clicked', GLib.Variant('s', ''), 0))
    clip = os.path.join(agent.home, 'out', 'clip')
    wait_until(lambda: os.path.exists(clip), SETTLE, what='the clipboard tool to run')
    with open(clip, encoding='utf-8') as f:
        assert f.read() == '-selection clipboard\n' + URI


# --- notifications -----------------------------------------------------------

def test_without_watcher_one_notification_per_state_change(desk, helper, lab):
    desk.start_notifications()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)

    def wait_count(n):
        return wait_until(lambda: len(desk.notifications_sent()) >= n and desk.notifications_sent(),
                          SETTLE, what=f'{n} notifications')

    sent = wait_count(1)
    assert sent[0][0] == 'VM console: yours (port 5930)'
    assert URI in sent[0][1]
    assert sent[0][3] == ['default', 'Open VM console']

    # Each step below is announced once; what comes between is not.
    unrelated_events(lab)
    switch_away(lab)
    sent = wait_count(2)
    assert (sent[1][0], sent[1][1]) == ('VM console: not yours', 'not the active session on seat0')
    assert sent[1][2] != 0, 'a state notification replaces the one before'

    unrelated_events(lab)
    switch_back(lab)
    sent = wait_count(3)
    assert sent[2][0] == 'VM console: yours (port 5930)'

    lab.helper.stop()
    sent = wait_count(4)
    assert (sent[3][0], sent[3][1]) == ('VM console: gate unavailable',
                                        'the seatgate helper is not running')
    lab.start_helper()
    sent = wait_count(5)
    assert sent[4][0] == 'VM console: yours (port 5930)'

    unrelated_events(lab)
    switch_away(lab)
    sent = wait_count(6)
    assert len(sent) == 6
    assert agent.running()


def test_watcher_appearing_takes_over_from_notifications(desk, helper, lab):
    desk.start_notifications()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(lambda: len(desk.notifications_sent()) == 1, SETTLE, what='the first notification')

    watcher = desk.start_watcher()
    wait_until(lambda: agent.watcher_id in desk.registered_items(), SETTLE, what='registration')
    switch_away(lab)
    agent.wait_state(DENIED)
    # The tray shows this change; then the tray goes and the next change is
    # a notification again, the only one since the first.
    watcher.stop()
    switch_back(lab)
    sent = wait_until(lambda: len(desk.notifications_sent()) >= 2 and desk.notifications_sent(),
                      SETTLE, what='the second notification')
    assert [s[0] for s in sent] == ['VM console: yours (port 5930)'] * 2


def test_watcher_without_a_host_falls_back_to_notifications(desk, helper, lab):
    desk.start_notifications()
    watcher = desk.start_watcher(host=False)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert sent[0][0] == 'VM console: yours (port 5930)'
    assert agent.watcher_id in desk.registered_items()

    # The host's coming and going (session bus) and the switches (system
    # bus) reach the agent in no set order: each is awaited in its log.
    def tray_now(state):
        n = agent.log().count(f'Tray: {state}')
        return lambda: agent.log().count(f'Tray: {state}') > n

    shown = tray_now('shown')
    watcher.mock('SetHostRegistered', 'b', (True,))
    wait_until(shown, SETTLE, what='the agent to see the tray host')
    switch_away(lab)
    agent.wait_state(DENIED)
    hidden = tray_now('hidden')
    watcher.mock('SetHostRegistered', 'b', (False,))
    wait_until(hidden, SETTLE, what='the agent to see the tray host gone')
    switch_back(lab)
    sent = wait_until(lambda: len(desk.notifications_sent()) >= 2 and desk.notifications_sent(),
                      SETTLE, what='the second notification')
    assert [s[0] for s in sent] == ['VM console: yours (port 5930)'] * 2


def test_no_tray_option_uses_notifications_only(desk, helper, lab):
    desk.start_watcher()
    desk.start_notifications()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, args=('--no-tray', '--verbose'))
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert sent[0][0] == 'VM console: yours (port 5930)'
    assert lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])]
    assert desk.registered_items() == []
    assert desk.bus.client.name_owner(agent.item_name) is None


def test_notification_action_opens_the_console(desk, helper, lab):
    notifications = desk.start_notifications()
    desk.install_stub('remote-viewer', VIEWER_STUB)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    wait_until(desk.notifications_sent, SETTLE, what='a notification')
    # The stand-in numbers notifications from 1.
    notifications.mock('EmitSignal', 'sssav',
                       ('org.freedesktop.Notifications', 'ActionInvoked', 'us',
                        [GLib.Variant('u', 1), GLib.Variant('s', 'default')]))
    runs = wait_until(lambda: viewer_runs(agent), SETTLE, what='the viewer to run')
    assert_default_viewer_run(desk, runs)


def test_notification_server_without_actions_is_sent_none(desk, helper, lab):
    desk.start_notifications(actions=False)
    desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    sent = wait_until(desk.notifications_sent, SETTLE, what='a notification')
    assert sent[0][0] == 'VM console: yours (port 5930)'
    assert sent[0][3] == []
    assert len(desk.notifications.method_calls('GetCapabilities')) == 1


# --- footprint ---------------------------------------------------------------

def test_idle_agent_makes_no_wakeups(desk, helper, lab):
    desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, args=())
    agent.wait_state(GRANTED)
    # A moment for the replies to the last start-up calls.
    time.sleep(0.5)
    before = agent.context_switches()
    time.sleep(3)
    assert agent.context_switches() == before, 'an idle agent woke up: a timer or a poll?'


def multiseat(lab):
    '''seat0 as in the standard world, and seat1 with uid 1003's active
    session "7"; the helper gates 5930 on seat0 and 5940 on seat1.'''
    lab.logind.add_seat('seat1')
    lab.logind.add_session('7', SEAT1_UID, seat='seat1', active=True)
    return lab.start_helper(lab.write_config(seats={'seat0': '5930', 'seat1': '5940'}))


def wakeups_over_grant_cycles(lab, agent, person, seat):
    """The agent's context switches while @person grants and releases @seat
    GRANT_CYCLES times (after one cycle to warm up), all signals delivered."""
    assert person.grant().ok and person.release().ok
    time.sleep(0.5)
    mark = lab.gate.mark()
    before = agent.context_switches()
    for _ in range(GRANT_CYCLES):
        assert person.grant().ok
        assert person.release().ok
    assert lab.gate.wait_signal('Revoked', (seat, person.uid, 'released'), since=mark)
    # Time for the last signals to reach an agent that would be woken.
    time.sleep(0.5)
    seen = lab.gate.signals(since=mark)
    assert seen.count(('Granted', (seat, person.uid))) == GRANT_CYCLES
    assert seen.count(('Revoked', (seat, person.uid, 'released'))) == GRANT_CYCLES
    return agent.context_switches() - before


def test_grant_changes_on_another_seat_do_not_wake_the_agent(desk, lab):
    # Issue 7: with a signal match on the helper's whole object, every grant
    # change woke every agent on the machine.
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE])
    multiseat(lab)
    desk.start_watcher()
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, args=())
    agent.wait_state(GRANTED)
    woken = wakeups_over_grant_cycles(lab, agent, lab.actor(SEAT1_UID), 'seat1')
    assert woken <= 3, (f'{GRANT_CYCLES} grant/release cycles on seat1 woke the seat0 '
                        f'agent {woken} times')

    # Not deaf: a revocation of its own grant still reaches it.
    assert lab.actor(ADMIN_UID).revoke(CONSOLE_UID).ok
    props = agent.wait_state(DENIED)
    assert reason(props) == 'an administrator ended the grant'
    assert props['Status'] == 'NeedsAttention'
    assert agent.grant_calls() == 1


def test_grant_changes_of_its_seats_user_do_not_wake_a_background_agent(desk, helper, lab):
    # Revoked is followed only while a grant is asked for or held: the bus
    # can filter it on the seat, not on the uid.
    desk.start_watcher()
    agent = desk.agent(INACTIVE_UID, INACTIVE_SESSION, args=())
    agent.wait_state(DENIED)
    woken = wakeups_over_grant_cycles(lab, agent, lab.actor(CONSOLE_UID), 'seat0')
    assert woken <= 3, (f'{GRANT_CYCLES} grant/release cycles of uid {CONSOLE_UID} woke '
                        f'the background agent of uid {INACTIVE_UID} on seat0 {woken} times')

    # It still takes the seat when its session becomes the active one.
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_state(GRANTED)
    assert lab.gate.grants() == [('seat0', INACTIVE_UID, [5930])]


# --- following the helper ---------------------------------------------------

def test_new_helper_is_asked_which_seats_it_gates(desk, helper, lab):
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_state(GRANTED)
    assert props['Title'] == 'VM console: yours (port 5930)'

    # The helper's seats are read again from each new owner of its name.
    helper.stop()
    agent.wait_state(UNAVAILABLE)
    lab.start_helper(lab.write_config(seats={'seat0': '5931-5932'}, name='moved.conf'))
    props = agent.wait_item(lambda p: p['Title'] == 'VM console: yours (port 5931)',
                            'the new port')
    assert URI.replace('5930', '5931') in reason(props)

    lab.helper.stop()
    agent.wait_state(UNAVAILABLE)
    lab.start_helper(lab.write_config(seats={'seat1': '5940'}, name='other-seat.conf'))
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no VM port is gated on seat0'
    assert agent.grant_calls() == 2


def test_helper_whose_seats_cannot_be_read_is_shown_unavailable(desk, helper, lab):
    # The bus refuses uid 1000's reads of the helper's properties: the agent
    # cannot tell whether its seat is gated, so it asks nothing (fail closed).
    lab.add_bus_policy(f'''  <policy user="{CONSOLE_UID}">
    <deny send_destination="io.github.seatgate.Gate1"
          send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
''')
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    props = agent.wait_item(lambda p: reason(p) == 'the seatgate helper did not say which seats '
                            'it gates', 'the unknown seats')
    assert props['IconName'] == UNAVAILABLE
    assert "Could not read the seatgate helper's Seats" in agent.log()
    assert agent.grant_calls() == 0
    assert lab.gate.grants() == []
    assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'refused'


# --- command line ------------------------------------------------------------

def run_agent(*args):
    env = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'}
    return subprocess.run([agent_path()] + list(args), capture_output=True, text=True, env=env,
                          timeout=SETTLE, stdin=subprocess.DEVNULL)


def test_command_line_version_help_and_bad_options():
    r = run_agent('--version')
    assert (r.returncode, r.stdout.split()[0]) == (0, 'seatgate-agent')
    r = run_agent('--help')
    assert r.returncode == 0
    for option in ('--no-tray', '--verbose', '--version', '--help'):
        assert option in r.stdout
    r = run_agent('--bogus')
    assert r.returncode == 2 and '--bogus' in r.stderr
    r = run_agent()
    assert r.returncode == 1 and 'system bus' in r.stderr
