'''How the agent finds its login session, each way desktops start it
(issue 11, items 1 and 5), with the real agent and helper on the lab's bus.

Started inside the session (a VT login, a desktop without systemd startup):
its pid is in the session (logind's cgroup lookup) and XDG_SESSION_ID is set.
Started as a user unit (GNOME's app-gnome-*.scope, systemd's xdg-autostart
generator): in no session's pids, with no XDG_SESSION_ID, or with a stale
one from the user manager's environment naming another of the user's
sessions. Each is granted exactly when its seat session may hold the port.'''

import json
import os
import subprocess
import time

import pytest
from gi.repository import GLib

from agent_lab import SETTLE
from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID,
                          NOBODY_UID, PYTHON, REMOTE_SESSION, REMOTE_UID, SEAT1_UID, SOURCE_DIR,
                          session_path, wait_until)

GRANTED = 'seatgate-granted'
DENIED = 'seatgate-denied'
CONSOLE_GRANT = ('seat0', CONSOLE_UID, [5930])
FORGE = os.path.join(SOURCE_DIR, 'tests', 'faults', 'forge.py')
# A stale XDG_SESSION_ID: uid 1000's earlier xrdp session.
XRDP_SESSION = '12'


def reason(props):
    return props['ToolTip'][3]


def start(desk, way, uid=CONSOLE_UID, session_id=CONSOLE_SESSION, **kw):
    '''The agent started inside session_id, or as a user unit (no
    XDG_SESSION_ID).'''
    if way == 'in-session':
        return desk.agent(uid, session_id, **kw)
    return desk.unit_agent(uid, **kw)


def granted_to(lab, grant):
    wait_until(lambda: lab.gate.grants() == [grant], SETTLE, what=f'the grant {grant}')
    return True


def add_xrdp_session(lab, session_id, uid, remote=False):
    '''xrdp on Debian 12: no seat, graphical, and Remote=false when the PAM
    stack sets no PAM_RHOST.'''
    lab.logind.add_session(session_id, uid, remote=remote, type='x11', name=f'user{uid}')


WAYS = ['in-session', 'user-unit']


# --- granted exactly when it should be --------------------------------------

@pytest.mark.parametrize('way', WAYS)
def test_console_agent_is_granted_either_way(desk, helper, lab, way):
    console = lab.actor(CONSOLE_UID)
    assert console.connect('127.0.0.1') == 'refused'
    agent = start(desk, way)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert console.connect('127.0.0.1') == 'ok'
    assert agent.grant_calls() == 1
    if way == 'user-unit':
        assert 'runs outside any login session' in agent.log()
    else:
        assert 'runs in login session' in agent.log()


def test_unit_agent_with_a_stale_xdg_session_id_is_granted_for_its_seat_session(desk, helper,
                                                                                lab):
    # KDE's systemd startup: XDG_SESSION_ID from the user manager names the
    # user's earlier xrdp session, not the seat session it now runs for.
    add_xrdp_session(lab, XRDP_SESSION, CONSOLE_UID)
    agent = desk.unit_agent(CONSOLE_UID, XRDP_SESSION)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert agent.grant_calls() == 1
    assert f'XDG_SESSION_ID={XRDP_SESSION} is not the session this agent speaks for' in agent.log()


def test_in_session_agent_trusts_its_pid_over_its_xdg_session_id(desk, helper, lab):
    add_xrdp_session(lab, XRDP_SESSION, CONSOLE_UID)
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, env={'XDG_SESSION_ID': XRDP_SESSION})
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert f'XDG_SESSION_ID={XRDP_SESSION} is not the session' in agent.log()


def test_in_session_agent_of_a_background_session_is_not_granted(desk, helper, lab):
    # Its own session decides, though the same uid might have another.
    agent = desk.agent(INACTIVE_UID, INACTIVE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    assert agent.grant_calls() == 0


def test_unit_agent_prefers_its_seat_session_to_older_remote_ones(desk, helper, lab):
    lab.logind.add_session('1', CONSOLE_UID, remote=True, type='tty')
    add_xrdp_session(lab, XRDP_SESSION, CONSOLE_UID)
    agent = desk.unit_agent(CONSOLE_UID)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)


def test_unit_agent_of_a_background_user_is_granted_when_its_session_comes_forward(desk, helper,
                                                                                   lab):
    agent = desk.unit_agent(INACTIVE_UID)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    assert agent.grant_calls() == 0
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_state(GRANTED)
    assert granted_to(lab, ('seat0', INACTIVE_UID, [5930]))


@pytest.mark.parametrize('way', WAYS)
def test_agent_follows_a_seat_switch_away_and_back(desk, helper, lab, way):
    console = lab.actor(CONSOLE_UID)
    agent = start(desk, way)
    agent.wait_state(GRANTED)

    lab.logind.activate(INACTIVE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the revoke')
    assert console.connect('127.0.0.1') == 'refused'

    lab.logind.activate(CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert console.connect('127.0.0.1') == 'ok'
    assert agent.grant_calls() == 2
    assert agent.running()


def test_unit_agent_of_a_user_at_two_vts_follows_the_one_in_front(desk, helper, lab):
    # The same person logged in on two VTs of seat0: a user-unit agent speaks
    # for whichever is the seat's active session, and keeps her the port.
    lab.logind.add_session('22', CONSOLE_UID, seat='seat0', active=False)
    agent = desk.unit_agent(CONSOLE_UID)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    lab.logind.activate('22')
    wait_until(lambda: agent.grant_calls() == 2, SETTLE, what='a Grant () for session 22')
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'ok'
    lab.logind.activate(INACTIVE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the revoke')


# --- logout -------------------------------------------------------------------

def test_in_session_agent_exits_at_a_logout_that_leaves_it_running(desk, helper, lab):
    # KillUserProcesses=no: the session goes "closing" but stays Active and
    # the seat's ActiveSession, and logind signals nothing; only its file
    # under /run/systemd/sessions is rewritten. The agent, which keeps the
    # session alive, must see it and go.
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_state(GRANTED)
    lab.logind.stop_session(CONSOLE_SESSION)
    assert agent.wait_exit() == 0
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the grant to end')
    assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'refused'


def test_in_session_agent_sees_a_lingering_logout_by_itself(desk, lab):
    # Without a helper to revoke (and so to prompt a read), the session's
    # file is all that tells: the agent must still go, or the session it
    # keeps alive never ends.
    agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
    agent.wait_item(lambda p: reason(p) == 'the seatgate helper is not running', 'unavailable')
    lab.logind.stop_session(CONSOLE_SESSION)
    assert agent.wait_exit() == 0
    assert 'Session 2 ended' in agent.log()


def test_unit_agent_sees_a_lingering_logout_of_a_background_session(desk, helper, lab):
    # Nothing is granted, so the helper has nothing to revoke: only the
    # session's file changes.
    agent = desk.unit_agent(INACTIVE_UID)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'not the active session on seat0'
    lab.logind.stop_session(INACTIVE_SESSION)
    agent.wait_item(lambda p: reason(p) == 'no login session', 'the logout')
    assert agent.running()


def test_unit_agent_releases_at_logout_and_is_granted_at_the_next_login(desk, helper, lab):
    console = lab.actor(CONSOLE_UID, bus=False)
    agent = desk.unit_agent(CONSOLE_UID)
    agent.wait_state(GRANTED)

    lab.logind.remove_session(CONSOLE_SESSION)
    # The helper's Revoked (session-removed) and logind's SessionRemoved race:
    # the agent may say "the session ended" first; it settles on this.
    props = agent.wait_item(lambda p: reason(p) == 'no login session', 'the logout')
    assert props['IconName'] == DENIED
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the grant to end')
    assert console.connect('127.0.0.1') == 'refused'
    assert agent.running(), 'a user unit outlives the session'

    lab.logind.add_session('20', CONSOLE_UID, seat='seat0', active=True)
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    assert console.connect('127.0.0.1') == 'ok'
    assert agent.grant_calls() == 2


def test_unit_agent_gives_the_grant_up_at_a_logout_that_leaves_processes(desk, helper, lab):
    agent = desk.unit_agent(CONSOLE_UID)
    agent.wait_state(GRANTED)
    lab.logind.stop_session(CONSOLE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no login session'
    wait_until(lambda: lab.gate.grants() == [], SETTLE, what='the grant to end')
    assert lab.actor(CONSOLE_UID, bus=False).connect('127.0.0.1') == 'refused'
    assert agent.running()
    assert agent.grant_calls() == 1


def test_unit_agent_sees_a_first_login_after_it_started(desk, helper, lab):
    # Lingering, or started before the session registered: nothing to ask.
    agent = desk.unit_agent(SEAT1_UID)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no login session'
    lab.logind.add_session('21', SEAT1_UID, seat='seat0', active=True)
    agent.wait_state(GRANTED)
    assert granted_to(lab, ('seat0', SEAT1_UID, [5930]))


# --- what the tray says for sessions that may not hold the port ---------------

@pytest.mark.parametrize('way', WAYS)
def test_ssh_session_shows_remote_session(desk, helper, lab, way):
    agent = start(desk, way, REMOTE_UID, REMOTE_SESSION)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'remote session'
    assert agent.grant_calls() == 0


@pytest.mark.parametrize('way', WAYS)
def test_xrdp_session_without_remote_flag_shows_no_seat(desk, helper, lab, way):
    add_xrdp_session(lab, '15', SEAT1_UID, remote=False)
    agent = start(desk, way, SEAT1_UID, '15')
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no seat'
    assert agent.grant_calls() == 0
    assert lab.gate.grants() == []


@pytest.mark.parametrize('way', WAYS)
def test_xrdp_session_with_remote_flag_shows_remote_session(desk, helper, lab, way):
    add_xrdp_session(lab, '15', SEAT1_UID, remote=True)
    agent = start(desk, way, SEAT1_UID, '15')
    props = agent.wait_state(DENIED)
    assert reason(props) == 'remote session'
    assert agent.grant_calls() == 0


def test_unit_agent_explains_by_the_users_display_session(desk, helper, lab):
    # ssh first (the oldest), then xrdp: logind elects the graphical xrdp
    # session the Display (user_elect_display), and the tray speaks of it.
    lab.logind.add_session('16', SEAT1_UID, remote=True, type='tty')
    add_xrdp_session(lab, '17', SEAT1_UID, remote=False)
    assert lab.logind.user_props(SEAT1_UID)['Display'][0] == '17'
    agent = desk.unit_agent(SEAT1_UID)
    props = agent.wait_state(DENIED)
    assert reason(props) == 'no seat'
    # The xrdp session ends: the ssh one is all there is left to explain by.
    lab.logind.remove_session('17')
    agent.wait_item(lambda p: reason(p) == 'remote session', 'the ssh explanation')
    assert agent.grant_calls() == 0


# --- forged signals -------------------------------------------------------------

@pytest.mark.parametrize('way', WAYS)
def test_forged_logind_signals_change_nothing_for_the_agent(desk, helper, lab, way):
    '''Local users send the agent, unicast, what logind would send at a
    logout or a seat switch. The agent believes logind's unique name only
    (on a GLib without the CVE-2024-34397 fix, a subscription to the
    well-known name would believe anyone).'''
    agent = start(desk, way)
    agent.wait_state(GRANTED)
    console = session_path(CONSOLE_SESSION)
    signals = [
        ['/org/freedesktop/login1', 'org.freedesktop.login1.Manager', 'SessionRemoved', '(so)',
         [CONSOLE_SESSION, console]],
        [console, 'org.freedesktop.DBus.Properties', 'PropertiesChanged', '(sa{sv}as)',
         ['org.freedesktop.login1.Session', {'Active': ['b', False]}, []]],
        ['/org/freedesktop/login1', 'org.freedesktop.login1.Manager', 'SessionNew', '(so)',
         [INACTIVE_SESSION, session_path(INACTIVE_SESSION)]],
        [f'/org/freedesktop/login1/user/_{CONSOLE_UID}', 'org.freedesktop.DBus.Properties',
         'PropertiesChanged', '(sa{sv}as)',
         ['org.freedesktop.login1.User', {'Display': ['(so)', [REMOTE_SESSION,
                                                                session_path(REMOTE_SESSION)]]},
          []]],
    ]
    names = agent.system_names()
    assert len(names) == 1, names
    for uid in (INACTIVE_UID, NOBODY_UID):
        proc = lab.spawn_as(uid, [PYTHON, FORGE, names[0], json.dumps(signals)],
                            env={'PYTHONDONTWRITEBYTECODE': '1'}, stdout=subprocess.PIPE)
        proc.communicate(timeout=30)
        assert proc.returncode == 0, lab.read(proc.lab_log_path)
    # forge.py returns once the bus has routed them; a moment for the agent.
    time.sleep(0.5)
    assert agent.running()
    props = agent.item_props()
    assert props['IconName'] == GRANTED, props
    assert lab.gate.grants() == [CONSOLE_GRANT]
    assert agent.grant_calls() == 1
    assert 'ended' not in agent.log() and 'Giving the grant up' not in agent.log()

    # Not deaf: logind's own switch is followed.
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_state(DENIED)


# --- as a service: no terminal, no wake-ups ---------------------------------------

def test_unit_agent_with_stdio_closed_is_granted(desk, helper, lab):
    # A user unit or a session manager may start it with no stdin, stdout
    # or stderr: its bus connections must not take those numbers.
    agent = desk.unit_agent(CONSOLE_UID, closed_stdio=True, args=('--verbose',))
    agent.wait_state(GRANTED)
    assert granted_to(lab, CONSOLE_GRANT)
    # Logging (--verbose logs every step) went nowhere harmful: still on the bus.
    lab.logind.activate(INACTIVE_SESSION)
    agent.wait_state(DENIED)
    assert agent.running()


@pytest.mark.parametrize('way', WAYS)
def test_idle_agent_makes_no_wakeups_either_way(desk, helper, lab, way):
    desk.start_watcher()
    agent = start(desk, way, args=())
    agent.wait_state(GRANTED)
    time.sleep(0.5)
    before = agent.context_switches()
    time.sleep(3)
    assert agent.context_switches() == before, 'an idle agent woke up: a timer or a poll?'


def test_other_sessions_file_changes_do_not_wake_the_agent(desk, helper, lab):
    # The agent watches its own sessions' files, not logind's whole folder:
    # another user's logout rewrites only that user's files.
    desk.start_watcher()
    agent = desk.unit_agent(CONSOLE_UID, args=())
    agent.wait_state(GRANTED)
    lab.logind.add_session('30', NOBODY_UID, seat='seat0', active=False)
    time.sleep(0.5)
    before = agent.context_switches()
    for state in ('online', 'active', 'online'):
        lab.logind.set_state('30', state)
    lab.logind.stop_session('30')
    assert lab.logind.session_file('30')['STATE'] == 'closing'
    time.sleep(0.5)
    assert agent.context_switches() == before, "another user's session file woke the agent"
    # Its own does.
    lab.logind.set_property(CONSOLE_SESSION, 'IdleHint', GLib.Variant('b', True), emit=False)
    lab.logind.stop_session(CONSOLE_SESSION)
    agent.wait_state(DENIED)
