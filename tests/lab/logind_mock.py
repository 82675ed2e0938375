'''systemd-logind stand-in for seatgate's test lab (a python-dbusmock template)

Offers what real logind offers to seatgate, the way real logind does it
(systemd src/login/logind-{seat,session}.c and their -dbus.c files):

- Manager: GetSession, GetSessionByPID, GetSeat, GetUser, ListSessions,
  ListSeats, ListUsers, ActivateSession; signals SessionNew/SessionRemoved,
  SeatNew, UserNew/UserRemoved.
- Seat: Id, ActiveSession (so), Sessions a(so), CanGraphical, CanTTY,
  CanMultiSession, IdleHint.
- Session: Id, User (uo), Name, Seat (so), Remote, RemoteHost, Class, Type,
  Active, State, Leader, VTNr, TTY, Display, Service, ...
- Object paths are escaped as logind escapes them (session "2" lives at
  /org/freedesktop/login1/session/_32, user 1000 at .../user/_1000), so a
  client that builds paths by hand instead of asking GetSession breaks here
  as it would on a real system.
- A session without a seat (e.g. a remote one) has Active=true and
  State=active, as in logind (session_is_active() is true without a seat).
- PropertiesChanged carries Session.Active, Seat.ActiveSession and
  Seat.Sessions; State changes send nothing.
- On a seat switch the order is: old session Active, new session Active,
  seat ActiveSession. On removal: SessionRemoved, then (if it was active)
  its Active and the seat's ActiveSession (now ("", "/")), then Sessions.

Control methods for tests (interface org.freedesktop.DBus.Mock on
/org/freedesktop/login1):

  AddSeat(s id) -> o
  AddSession(s id, u uid, a{sv} options) -> o
      options: seat s (default "": no seat), remote b (false),
      class s ("user"), type s ("wayland" on a seat, else "tty"),
      active b (false; ignored without a seat: such a session is always
      active, like in logind), state s (derived: active/online),
      leader u (0), name s ("user<uid>"), remote_host s, service s,
      pids au (further pids that belong to the session)
  SetActiveSession(s seat, s session_id)   session_id "" = none (greeter)
  RemoveSession(s id)
  SetSessionState(s id, s state)           no signal, like logind ("closing" = StopSession)
  StopSession(s id)                        logged out, processes linger (see below)
  AddSessionPid(s id, u pid)
  SetSessionProperty(s id, s name, v value, b emit)   anything else

GetSessionByPID(pid) finds the session whose leader or registered pids are
pid or one of its ancestors (a stand-in for logind's cgroup lookup:
children inherit their parent's cgroup, and a process started elsewhere,
e.g. by a user's service manager, belongs to no session); pid 0 means the
caller. GetSession("auto") answers the caller's session, else the Display
session of the caller's user; "" and "self" only the caller's own session
(logind-dbus.c manager_get_session_from_creds / get_sender_session).

Each User's Display is elected as logind-user.c user_elect_display does
(kept stable, replaced only by a strictly better session: not stopping,
class user, graphical over tty over unspecified); its changes are announced.

Session classes are free text, so the systemd >= 256 ones (user-early,
user-incomplete, ...) can be given; Class never changes (no signal).

A session that is logged out while processes linger (StopSession, or
SetSessionState(id, "closing")) keeps Active and stays its seat's
ActiveSession; logind-session.c session_stop() sends no D-Bus signal for
it, but rewrites the session's file.

Files: when the environment names SEATGATE_LAB_LOGIND_RUNDIR (the lab's
private tmpfs mounted on /run/systemd, see tests/lab/netns-run), the mock
writes sessions/ID, users/UID and seats/ID there as logind's session_save,
user_save and seat_save do (a temporary file renamed into place), whenever
logind would: libsystemd's sd-login (sd_session_get_state,
sd_login_monitor) and polkitd read these files, not D-Bus.
'''


import os
import tempfile
import time

import dbus
import dbus.lowlevel

from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = 'org.freedesktop.login1'
MAIN_OBJ = '/org/freedesktop/login1'
MAIN_IFACE = 'org.freedesktop.login1.Manager'
SEAT_IFACE = 'org.freedesktop.login1.Seat'
SESSION_IFACE = 'org.freedesktop.login1.Session'
USER_IFACE = 'org.freedesktop.login1.User'
SYSTEM_BUS = True

ERR = 'org.freedesktop.login1.'

# Method bodies of seat and session objects (dbusmock runs them with `self`
# the object and `objects` every mock object).
_STATE = 'objects["/org/freedesktop/login1"].sg'
_SEAT_ACTIVATE = _STATE + '.set_active(self.props["org.freedesktop.login1.Seat"]["Id"], args[0])'
_SESSION_ACTIVATE = _STATE + '.activate(self.props["org.freedesktop.login1.Session"]["Id"])'
_SESSION_TERMINATE = _STATE + '.remove_session(self.props["org.freedesktop.login1.Session"]["Id"])'
NO_PATH = dbus.ObjectPath('/')

# logind-user.c elect_display_compare(): lower is preferred.
_TYPE_RANKS = {'unspecified': 0, 'tty': -2, 'x11': -3, 'wayland': -3, 'mir': -3, 'web': -1}
# logind-session.h SESSION_CLASS_CAN_DISPLAY() (systemd 257; 252 takes "user" only).
_DISPLAY_CLASSES = ('user', 'user-early', 'greeter')


def _escape(label):
    # sd-bus's bus_label_escape(): [A-Za-z0-9] stay, except a leading digit;
    # everything else becomes _xx.
    if not label:
        return '_'
    out = []
    for i, ch in enumerate(label):
        if (ch.isascii() and ch.isalpha()) or (ch.isascii() and ch.isdigit() and i > 0):
            out.append(ch)
        else:
            out.extend('_%02x' % b for b in ch.encode())
    return ''.join(out)


def seat_path(seat_id):
    return dbus.ObjectPath('/org/freedesktop/login1/seat/' + _escape(seat_id))


def session_path(session_id):
    return dbus.ObjectPath('/org/freedesktop/login1/session/' + _escape(session_id))


def user_path(uid):
    return dbus.ObjectPath(f'/org/freedesktop/login1/user/_{uid}')


def _so(name, path):
    return dbus.Struct((dbus.String(name), dbus.ObjectPath(path)), signature='so')


def _send_signal(obj, iface, member, signature, *args):
    msg = dbus.lowlevel.SignalMessage(obj.path, iface, member)
    msg.append(*args, signature=signature)
    for location in obj.locations:
        location[0].send_message(msg)
    obj.log(f'emit {obj.path} {iface}.{member}{args!r}')


def _set_prop(obj, iface, name, value, emit):
    obj.props[iface][name] = value
    if emit:
        _send_signal(obj, dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                     iface, dbus.Dictionary({name: value}, signature='sv'),
                     dbus.Array([], signature='s'))


class _State:
    '''What the mock knows; kept on the main mock object as `sg`.'''

    def __init__(self, manager):
        self.manager = manager
        self.seats = {}       # id -> {'active': session id or None, 'sessions': [ids]}
        self.sessions = {}    # id -> {'uid', 'seat', 'pids': set, 'leader'}
        self.users = {}       # uid -> [session ids]
        self.display = {}     # uid -> the user's Display session id, or None
        self.rundir = os.environ.get('SEATGATE_LAB_LOGIND_RUNDIR') or None
        if self.rundir:
            # logind's run(): the directories sd-login watches always exist;
            # and a restarted logind starts from what is there, a new lab
            # from nothing.
            for sub in ('sessions', 'users', 'seats'):
                d = os.path.join(self.rundir, sub)
                os.makedirs(d, mode=0o755, exist_ok=True)
                for name in os.listdir(d):
                    os.unlink(os.path.join(d, name))

    def obj(self, path):
        return mockobject.objects[path]

    # --- files under /run/systemd --------------------------------------------
    def _write(self, sub, name, fields):
        '''fopen_temporary() + rename(), as session_save() & co. do: a reader
        sees the old file or the new one, and inotify reports IN_MOVED_TO.'''
        if not self.rundir:
            return
        d = os.path.join(self.rundir, sub)
        fd, tmp = tempfile.mkstemp(dir=d, prefix='.#' + name)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write('# This is private data. Do not parse.\n')
            for key, value in fields:
                if value is None or value == '':
                    continue
                f.write(f'{key}={value}\n')
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(d, name))

    def _unlink(self, sub, name):
        if self.rundir:
            try:
                os.unlink(os.path.join(self.rundir, sub, name))
            except FileNotFoundError:
                pass

    def session_state(self, session_id):
        '''session_get_state(): closing once stopped, else active or online.'''
        sess = self.sessions[session_id]
        if sess['stopping']:
            return 'closing'
        return str(self.obj(session_path(session_id)).props[SESSION_IFACE]['State'])

    def save_session(self, session_id):
        '''logind-session.c session_save().'''
        sess = self.sessions[session_id]
        if sess.get('finalized'):
            return  # session_save() returns early once started is false
        props = self.obj(session_path(session_id)).props[SESSION_IFACE]
        seat_id = sess['seat']
        self._write('sessions', session_id, [
            ('UID', sess['uid']),
            ('USER', props['Name']),
            ('ACTIVE', int(bool(props['Active']))),
            ('IS_DISPLAY', int(self.display.get(sess['uid']) == session_id)),
            ('STATE', self.session_state(session_id)),
            ('REMOTE', int(bool(props['Remote']))),
            ('SCOPE', props['Scope']),
            ('FIFO', f'/run/systemd/sessions/{session_id}.ref'),
            ('SEAT', seat_id or ''),
            ('TTY', props['TTY']),
            ('REMOTE_HOST', props['RemoteHost']),
            ('SERVICE', props['Service']),
            ('VTNR', int(props['VTNr']) if seat_id else 0),
            ('LEADER', int(props['Leader']) or ''),
            ('TYPE', props['Type']),
            ('ORIGINAL_TYPE', props['Type']),
            ('CLASS', props['Class']),
            ('REALTIME', sess['realtime']),
            ('MONOTONIC', sess['realtime']),
        ])

    def save_user(self, uid):
        '''logind-user.c user_save_internal(); STATE as user_get_state().'''
        if uid not in self.users:
            self._unlink('users', str(uid))
            return
        ids = self.users[uid]
        states = [self.session_state(i) for i in ids]
        if 'active' in states:
            state = 'active'
        elif states and all(st == 'closing' for st in states):
            state = 'closing'
        else:
            state = 'online'
        user = self.obj(user_path(uid)).props[USER_IFACE]
        user['State'] = dbus.String(state)
        seats = [self.sessions[i]['seat'] for i in ids if self.sessions[i]['seat']]
        active = [i for i, st in zip(ids, states) if st == 'active']
        online = [i for i, st in zip(ids, states) if st in ('active', 'online')]
        self._write('users', str(uid), [
            ('NAME', user['Name']),
            ('STATE', state),
            ('STOPPING', 'no'),
            ('RUNTIME', user['RuntimePath']),
            ('SLICE', f'user-{uid}.slice'),
            ('DISPLAY', self.display.get(uid) or ''),
            ('SESSIONS', ' '.join(ids)),
            ('SEATS', ' '.join(dict.fromkeys(seats))),
            ('ACTIVE_SESSIONS', ' '.join(active)),
            ('ONLINE_SESSIONS', ' '.join(online)),
            ('ACTIVE_SEATS', ' '.join(dict.fromkeys(self.sessions[i]['seat'] for i in active
                                                    if self.sessions[i]['seat']))),
            ('ONLINE_SEATS', ' '.join(dict.fromkeys(self.sessions[i]['seat'] for i in online
                                                    if self.sessions[i]['seat']))),
        ])

    def save_seat(self, seat_id):
        '''logind-seat.c seat_save().'''
        seat = self.seats[seat_id]
        active = seat['active']
        self._write('seats', seat_id, [
            ('IS_SEAT0', int(seat_id == 'seat0')),
            ('CAN_MULTI_SESSION', 1),
            ('CAN_TTY', int(seat_id == 'seat0')),
            ('CAN_GRAPHICAL', 1),
            ('ACTIVE', active or ''),
            ('ACTIVE_UID', self.sessions[active]['uid'] if active else ''),
            ('SESSIONS', ' '.join(seat['sessions'])),
            ('UIDS', ' '.join(str(self.sessions[i]['uid']) for i in seat['sessions'])),
        ])

    # --- the user's display ------------------------------------------------
    def _display_key(self, session_id):
        '''elect_display_compare()'s order as a sort key.'''
        sess = self.sessions[session_id]
        props = self.obj(session_path(session_id)).props[SESSION_IFACE]
        stype = str(props['Type'])
        return (sess['stopping'], str(props['Class']) != 'user', stype not in _TYPE_RANKS,
                _TYPE_RANKS.get(stype, 0))

    def elect_display(self, uid, emit=True):
        '''user_elect_display(): keep the Display unless a candidate is
        strictly better (a stopping Display is bettered by any candidate).'''
        current = self.display.get(uid)
        if current is not None and current not in self.sessions:
            current = None
        best = current
        for sid in self.users.get(uid, []):
            sess = self.sessions[sid]
            props = self.obj(session_path(sid)).props[SESSION_IFACE]
            if sess['stopping'] or str(props['Class']) not in _DISPLAY_CLASSES:
                continue
            if best is None or self._display_key(sid) < self._display_key(best):
                best = sid
        if best == self.display.get(uid):
            return
        self.display[uid] = best
        if uid in self.users:
            value = _so(best, session_path(best)) if best else _so('', NO_PATH)
            _set_prop(self.obj(user_path(uid)), USER_IFACE, 'Display', value, emit)

    # --- seats -------------------------------------------------------------
    def add_seat(self, seat_id):
        if seat_id in self.seats:
            raise dbus.exceptions.DBusException(f'Seat {seat_id} already exists',
                                                name=MOCK_IFACE + '.SeatExists')
        path = seat_path(seat_id)
        self.manager.AddObject(path, SEAT_IFACE, {
            'Id': dbus.String(seat_id),
            'ActiveSession': _so('', NO_PATH),
            'Sessions': dbus.Array([], signature='(so)'),
            'CanMultiSession': dbus.Boolean(True),
            'CanTTY': dbus.Boolean(seat_id == 'seat0'),
            'CanGraphical': dbus.Boolean(True),
            'IdleHint': dbus.Boolean(False),
            'IdleSinceHint': dbus.UInt64(0),
            'IdleSinceHintMonotonic': dbus.UInt64(0),
        }, [
            ('ActivateSession', 's', '', _SEAT_ACTIVATE),
            ('Terminate', '', '', ''),
        ])
        self.seats[seat_id] = {'active': None, 'sessions': []}
        _send_signal(self.manager, MAIN_IFACE, 'SeatNew', 'so', seat_id, path)
        self.save_seat(seat_id)
        return path

    def _seat_sessions_changed(self, seat_id, emit=True):
        seat = self.seats[seat_id]
        value = dbus.Array([_so(s, session_path(s)) for s in seat['sessions']], signature='(so)')
        _set_prop(self.obj(seat_path(seat_id)), SEAT_IFACE, 'Sessions', value, emit)

    def set_active(self, seat_id, session_id):
        '''seat_set_active(): switch the seat's foreground session.'''
        if seat_id not in self.seats:
            raise dbus.exceptions.DBusException(f'No seat {seat_id}', name=ERR + 'NoSuchSeat')
        seat = self.seats[seat_id]
        if session_id:
            sess = self.sessions.get(session_id)
            if sess is None:
                raise dbus.exceptions.DBusException(f'No session {session_id}', name=ERR + 'NoSuchSession')
            if sess['seat'] != seat_id:
                raise dbus.exceptions.DBusException(f'Session {session_id} is not on seat {seat_id}',
                                                    name='org.freedesktop.DBus.Error.InvalidArgs')
        else:
            session_id = None
        old = seat['active']
        if old == session_id:
            return
        seat['active'] = session_id
        if old is not None:
            o = self.obj(session_path(old))
            _set_prop(o, SESSION_IFACE, 'Active', dbus.Boolean(False), True)
            if o.props[SESSION_IFACE]['State'] == 'active':
                _set_prop(o, SESSION_IFACE, 'State', dbus.String('online'), False)
        if session_id is not None:
            n = self.obj(session_path(session_id))
            _set_prop(n, SESSION_IFACE, 'Active', dbus.Boolean(True), True)
            if n.props[SESSION_IFACE]['State'] == 'online':
                _set_prop(n, SESSION_IFACE, 'State', dbus.String('active'), False)
            value = _so(session_id, session_path(session_id))
        else:
            value = _so('', NO_PATH)
        _set_prop(self.obj(seat_path(seat_id)), SEAT_IFACE, 'ActiveSession', value, True)
        # seat_set_active(): seat_save(), then the new and the old session's
        # and user's files.
        self.save_seat(seat_id)
        for sid in (session_id, old):
            if sid is not None and sid in self.sessions:
                self.save_session(sid)
                self.save_user(self.sessions[sid]['uid'])

    # --- users -------------------------------------------------------------
    def _ensure_user(self, uid, name):
        if uid in self.users:
            return user_path(uid)
        path = user_path(uid)
        self.manager.AddObject(path, USER_IFACE, {
            'UID': dbus.UInt32(uid),
            'GID': dbus.UInt32(uid),
            'Name': dbus.String(name),
            'State': dbus.String('online'),
            'Sessions': dbus.Array([], signature='(so)'),
            'Display': _so('', NO_PATH),
            'RuntimePath': dbus.String(f'/run/user/{uid}'),
            'Linger': dbus.Boolean(False),
            'IdleHint': dbus.Boolean(False),
        }, [('Terminate', '', '', ''), ('Kill', 'i', '', '')])
        self.users[uid] = []
        self.display[uid] = None
        _send_signal(self.manager, MAIN_IFACE, 'UserNew', 'uo', dbus.UInt32(uid), path)
        return path

    def _user_sessions_changed(self, uid):
        # logind-user-dbus.c user_vtable: Sessions carries no EMITS_CHANGE
        # flag, so real logind never announces it; neither does the mock.
        value = dbus.Array([_so(s, session_path(s)) for s in self.users[uid]], signature='(so)')
        _set_prop(self.obj(user_path(uid)), USER_IFACE, 'Sessions', value, False)

    # --- sessions ----------------------------------------------------------
    def add_session(self, session_id, uid, options):
        if session_id in self.sessions:
            raise dbus.exceptions.DBusException(f'Session {session_id} already exists',
                                                name=MOCK_IFACE + '.SessionExists')
        seat_id = str(options.get('seat', ''))
        if seat_id and seat_id not in self.seats:
            self.add_seat(seat_id)
        remote = bool(options.get('remote', False))
        active = bool(options.get('active', False)) if seat_id else True
        state = str(options.get('state', 'active' if active else 'online'))
        name = str(options.get('name', f'user{uid}'))
        leader = int(options.get('leader', 0))
        stype = str(options.get('type', 'wayland' if seat_id else 'tty'))
        upath = self._ensure_user(uid, name)
        path = session_path(session_id)
        self.manager.AddObject(path, SESSION_IFACE, {
            'Id': dbus.String(session_id),
            'User': dbus.Struct((dbus.UInt32(uid), upath), signature='uo'),
            'Name': dbus.String(name),
            'Timestamp': dbus.UInt64(42),
            'TimestampMonotonic': dbus.UInt64(42),
            'VTNr': dbus.UInt32(2 if seat_id == 'seat0' else 0),
            'Seat': _so(seat_id, seat_path(seat_id) if seat_id else NO_PATH),
            'TTY': dbus.String('' if seat_id else 'pts/0'),
            'Display': dbus.String(''),
            'Remote': dbus.Boolean(remote),
            'RemoteHost': dbus.String(str(options.get('remote_host', '192.0.2.7' if remote else ''))),
            'RemoteUser': dbus.String(''),
            'Service': dbus.String(str(options.get('service', 'sshd' if remote else 'gdm-password'))),
            'Desktop': dbus.String(''),
            'Scope': dbus.String(f'session-{session_id}.scope'),
            'Leader': dbus.UInt32(leader),
            'Audit': dbus.UInt32(0),
            'Type': dbus.String(stype),
            'Class': dbus.String(str(options.get('class', 'user'))),
            'Active': dbus.Boolean(active),
            'State': dbus.String(state),
            'IdleHint': dbus.Boolean(False),
            'IdleSinceHint': dbus.UInt64(0),
            'IdleSinceHintMonotonic': dbus.UInt64(0),
            'LockedHint': dbus.Boolean(False),
        }, [
            ('Activate', '', '', _SESSION_ACTIVATE),
            ('Terminate', '', '', _SESSION_TERMINATE),
            ('Kill', 'si', '', ''),
            ('Lock', '', '', ''),
            ('Unlock', '', '', ''),
            ('SetIdleHint', 'b', '', ''),
            ('SetLockedHint', 'b', '', ''),
        ])
        pids = {int(p) for p in options.get('pids', [])}
        if leader:
            pids.add(leader)
        self.sessions[session_id] = {'uid': uid, 'seat': seat_id or None, 'pids': pids,
                                     'stopping': False, 'realtime': int(time.time() * 1e6)}
        self.users[uid].append(session_id)
        self._user_sessions_changed(uid)

        old_active = None
        if seat_id:
            seat = self.seats[seat_id]
            seat['sessions'].append(session_id)
            self._seat_sessions_changed(seat_id)
            if active:
                old_active = seat['active']
                seat['active'] = session_id
                if old_active is not None:
                    o = self.obj(session_path(old_active))
                    _set_prop(o, SESSION_IFACE, 'Active', dbus.Boolean(False), True)
                    if o.props[SESSION_IFACE]['State'] == 'active':
                        _set_prop(o, SESSION_IFACE, 'State', dbus.String('online'), False)

        # session_start(): user_elect_display(), then session_save(),
        # user_save(), seat_save(), then the signals.
        self.elect_display(uid, emit=False)
        self.save_session(session_id)
        if old_active is not None:
            self.save_session(old_active)
            self.save_user(self.sessions[old_active]['uid'])
        self.save_user(uid)
        if seat_id:
            self.save_seat(seat_id)
        _send_signal(self.manager, MAIN_IFACE, 'SessionNew', 'so', session_id, path)
        _send_signal(self.obj(user_path(uid)), dbus.PROPERTIES_IFACE, 'PropertiesChanged',
                     'sa{sv}as', USER_IFACE,
                     dbus.Dictionary({'Display': self.obj(user_path(uid)).props[USER_IFACE]['Display']},
                                     signature='sv'),
                     dbus.Array([], signature='s'))
        if seat_id and active:
            _set_prop(self.obj(seat_path(seat_id)), SEAT_IFACE, 'ActiveSession',
                      _so(session_id, path), True)
        return path

    def activate(self, session_id):
        sess = self._session(session_id)
        if not sess['seat']:
            raise dbus.exceptions.DBusException(f'Session {session_id} has no seat',
                                                name='org.freedesktop.DBus.Error.NotSupported')
        self.set_active(sess['seat'], session_id)

    def _session(self, session_id):
        try:
            return self.sessions[session_id]
        except KeyError as e:
            raise dbus.exceptions.DBusException(f'No session \'{session_id}\' known',
                                                name=ERR + 'NoSuchSession') from e

    def stop_session(self, session_id):
        '''session_stop() without killing (KillUserProcesses=no): the session
        is logged out but lingers, "closing", still Active and still its
        seat's ActiveSession; the Display is elected anew; the files are
        rewritten; no D-Bus signal.'''
        sess = self._session(session_id)
        if sess['stopping']:
            return
        sess['stopping'] = True
        _set_prop(self.obj(session_path(session_id)), SESSION_IFACE, 'State',
                  dbus.String('closing'), False)
        uid = sess['uid']
        self.elect_display(uid, emit=False)
        self.save_session(session_id)
        self.save_user(uid)

    def remove_session(self, session_id):
        '''session_stop() + session_finalize() + GC.'''
        sess = self._session(session_id)
        path = session_path(session_id)
        obj = self.obj(path)
        self.stop_session(session_id)
        # session_finalize(): the file goes, then SessionRemoved.
        self._unlink('sessions', session_id)
        sess['finalized'] = True
        _send_signal(self.manager, MAIN_IFACE, 'SessionRemoved', 'so', session_id, path)
        seat_id = sess['seat']
        if seat_id:
            seat = self.seats[seat_id]
            if seat['active'] == session_id:
                self.set_active(seat_id, '')
            seat['sessions'].remove(session_id)
            self._seat_sessions_changed(seat_id)
        uid = sess['uid']
        self.users[uid].remove(session_id)
        del self.sessions[session_id]
        self.manager.RemoveObject(path)
        if self.display.get(uid) == session_id:
            self.display[uid] = None
        self.elect_display(uid, emit=False)
        self._user_sessions_changed(uid)   # with "Display", as session_finalize()
        user = self.obj(user_path(uid))
        _send_signal(user, dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as', USER_IFACE,
                     dbus.Dictionary({'Display': user.props[USER_IFACE]['Display']}, signature='sv'),
                     dbus.Array([], signature='s'))
        self.save_user(uid)
        if seat_id:
            self.save_seat(seat_id)

    def set_state(self, session_id, state):
        '''State changes without a signal; "closing" is session_stop().'''
        self._session(session_id)
        if state == 'closing':
            self.stop_session(session_id)
            return
        _set_prop(self.obj(session_path(session_id)), SESSION_IFACE, 'State', dbus.String(state), False)
        self.save_session(session_id)
        self.save_user(self.sessions[session_id]['uid'])

    def add_pid(self, session_id, pid):
        self._session(session_id)['pids'].add(int(pid))

    def session_of_pid(self, pid):
        chain = []
        p = pid
        while p > 0 and len(chain) < 4096:
            chain.append(p)
            try:
                with open(f'/proc/{p}/stat', encoding='ascii', errors='replace') as f:
                    stat = f.read()
            except OSError:
                break
            # the comm field may hold spaces and parentheses: split after the last ')'
            p = int(stat.rsplit(')', 1)[1].split()[1])
        for candidate in chain:
            for sid, sess in self.sessions.items():
                if candidate in sess['pids']:
                    return sid
        return None


def load(mock, _parameters):
    mock.sg = _State(mock)
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary({
        'NAutoVTs': dbus.UInt32(6),
        'KillUserProcesses': dbus.Boolean(False),
        'IdleHint': dbus.Boolean(False),
        'IdleAction': dbus.String('ignore'),
        'PreparingForShutdown': dbus.Boolean(False),
        'PreparingForSleep': dbus.Boolean(False),
    }, signature='sv'))


def _caller_pid(self, sender):
    return int(self.connection.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                             'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                             's', [sender]))


def _caller_session(self, sender):
    pid = _caller_pid(self, sender)
    sid = self.sg.session_of_pid(pid)
    if sid is None:
        raise dbus.exceptions.DBusException(f'Caller does not belong to any known session (PID {pid})',
                                            name=ERR + 'NoSessionForPID')
    return sid


# --- Manager ----------------------------------------------------------------

def _caller_uid(self, sender):
    return int(self.connection.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                             'org.freedesktop.DBus', 'GetConnectionUnixUser',
                                             's', [sender]))


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o', sender_keyword='sender')
def GetSession(self, session_id, sender=None):
    '''manager_get_session_from_creds(): "" and "self" are the caller's own
    session; "auto" that, else its user's Display (get_sender_session with
    consult_display). logind takes the "owner uid" from the caller's cgroup
    (user-UID.slice); a lab process's uid stands in for it, except root's,
    whose processes here are system services with no owner.'''
    if session_id in ('', 'self'):
        session_id = _caller_session(self, sender)
    elif session_id == 'auto':
        pid = _caller_pid(self, sender)
        sid = self.sg.session_of_pid(pid)
        if sid is None:
            uid = _caller_uid(self, sender)
            sid = self.sg.display.get(uid) if uid != 0 else None
        if sid is None:
            raise dbus.exceptions.DBusException(
                'Caller does not belong to any known session and doesn\'t own any suitable session.',
                name=ERR + 'NoSessionForPID')
        session_id = sid
    self.sg._session(session_id)
    return session_path(session_id)


@dbus.service.method(MAIN_IFACE, in_signature='u', out_signature='o', sender_keyword='sender')
def GetSessionByPID(self, pid, sender=None):
    if pid == 0:
        pid = _caller_pid(self, sender)
    sid = self.sg.session_of_pid(int(pid))
    if sid is None:
        raise dbus.exceptions.DBusException(f'PID {pid} does not belong to any known session',
                                            name=ERR + 'NoSessionForPID')
    return session_path(sid)


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o', sender_keyword='sender')
def GetSeat(self, seat_id, sender=None):
    if seat_id in ('', 'self', 'auto'):
        seat_id = self.sg.sessions[_caller_session(self, sender)]['seat'] or ''
    if seat_id not in self.sg.seats:
        raise dbus.exceptions.DBusException(f'No seat \'{seat_id}\' known', name=ERR + 'NoSuchSeat')
    return seat_path(seat_id)


@dbus.service.method(MAIN_IFACE, in_signature='u', out_signature='o')
def GetUser(self, uid):
    if int(uid) not in self.sg.users:
        raise dbus.exceptions.DBusException(f'User ID {uid} is not logged in', name=ERR + 'NoSuchUser')
    return user_path(int(uid))


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='a(susso)')
def ListSessions(self):
    ret = []
    for sid, sess in self.sg.sessions.items():
        props = mockobject.objects[session_path(sid)].props[SESSION_IFACE]
        ret.append((sid, dbus.UInt32(sess['uid']), props['Name'], sess['seat'] or '', session_path(sid)))
    return dbus.Array(ret, signature='(susso)')


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='a(so)')
def ListSeats(self):
    return dbus.Array([(s, seat_path(s)) for s in self.sg.seats], signature='(so)')


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='a(uso)')
def ListUsers(self):
    ret = []
    for uid in self.sg.users:
        name = mockobject.objects[user_path(uid)].props[USER_IFACE]['Name']
        ret.append((dbus.UInt32(uid), name, user_path(uid)))
    return dbus.Array(ret, signature='(uso)')


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='')
def ActivateSession(self, session_id):
    self.sg.activate(session_id)


# --- test controls ----------------------------------------------------------

@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='o')
def AddSeat(self, seat_id):
    return self.sg.add_seat(seat_id)


@dbus.service.method(MOCK_IFACE, in_signature='sua{sv}', out_signature='o')
def AddSession(self, session_id, uid, options):
    return self.sg.add_session(str(session_id), int(uid), options)


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='')
def SetActiveSession(self, seat_id, session_id):
    self.sg.set_active(str(seat_id), str(session_id))


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='')
def RemoveSession(self, session_id):
    self.sg.remove_session(str(session_id))


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='')
def StopSession(self, session_id):
    self.sg.stop_session(str(session_id))


@dbus.service.method(MOCK_IFACE, in_signature='ss', out_signature='')
def SetSessionState(self, session_id, state):
    self.sg.set_state(str(session_id), str(state))


@dbus.service.method(MOCK_IFACE, in_signature='su', out_signature='')
def AddSessionPid(self, session_id, pid):
    self.sg.add_pid(str(session_id), int(pid))


@dbus.service.method(MOCK_IFACE, in_signature='ssvb', out_signature='')
def SetSessionProperty(self, session_id, name, value, emit):
    self.sg._session(str(session_id))
    obj = mockobject.objects[session_path(str(session_id))]
    if name not in obj.props[SESSION_IFACE]:
        raise dbus.exceptions.DBusException(f'no property {name}', name=MOCK_IFACE + '.NoSuchProperty')
    _set_prop(obj, SESSION_IFACE, str(name), value, bool(emit))
