'''The agent's part of the seatgate lab: a private session bus with a
StatusNotifierWatcher stand-in (sni_watcher_mock.py) and python-dbusmock's
notification_daemon, a monitor of the lab's system bus that records every
call to the helper, and seatgate-agent processes running as real uids.

    with AgentLab(lab) as desk:          # lab: a started seatgate_lab.Lab
        desk.start_watcher()
        desk.start_notifications()
        agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        item = agent.wait_item(lambda p: p['IconName'] == 'seatgate-granted')
'''

import os
import re
import select
import shutil
import signal
import subprocess
import time

from gi.repository import GLib

import seatgate_lab
from seatgate_lab import PYTHON, BusClient, LabError, wait_until

AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
SNI_IFACE = 'org.kde.StatusNotifierItem'
SNI_PATH = '/StatusNotifierItem'
MENU_IFACE = 'com.canonical.dbusmenu'
MENU_PATH = '/MenuBar'
WATCHER_NAME = 'org.kde.StatusNotifierWatcher'
WATCHER_PATH = '/StatusNotifierWatcher'
WATCHER_IFACE = 'org.kde.StatusNotifierWatcher'
NOTIFY_NAME = 'org.freedesktop.Notifications'
NOTIFY_PATH = '/org/freedesktop/Notifications'
NOTIFY_IFACE = 'org.freedesktop.Notifications'
MOCK_IFACE = 'org.freedesktop.DBus.Mock'

# Generous bounds: the agent reacts in milliseconds; these only stop a
# broken agent from hanging the suite.
SETTLE = 10.0


def agent_path():
    path = os.environ.get('SEATGATE_AGENT') or os.path.join(
        seatgate_lab.SOURCE_DIR, 'build', 'agent', 'seatgate-agent')
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise LabError(f'no seatgate-agent at {path}: set SEATGATE_AGENT')
    return path


class SystemBusMonitor:
    '''dbus-monitor on the lab's system bus, recording every method call to
    the helper's interface (root may become a monitor there).'''

    def __init__(self, lab):
        self.lab = lab
        self.log_path = os.path.join(lab.dir, 'gate-calls.monitor')
        self._out = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            ['dbus-monitor', '--address', lab.bus_address, '--monitor',
             "type='method_call',interface='io.github.seatgate.Gate1'"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)
        # The monitor is in place once the bus took its name away.
        wait_until(lambda: 'NameLost' in self.text(), 5, what='dbus-monitor to start')

    def text(self):
        self._out.flush()
        return seatgate_lab.Lab.read(self.log_path)

    def calls(self, member=None):
        '''[(sender, member)] of the calls to the helper seen so far.'''
        out = []
        for m in re.finditer(r'^method call .* sender=(\S+) -> destination=\S+ .*member=(\w+)',
                             self.text(), re.M):
            if member is None or m.group(2) == member:
                out.append((m.group(1), m.group(2)))
        return out

    def close(self):
        seatgate_lab.stop_process(self.proc)
        self._out.close()


class SessionBus:
    '''A private session bus any uid may use (the agent runs as a person,
    the stand-ins as root).'''

    def __init__(self, directory):
        self.dir = directory
        sock = os.path.join(directory, 'session_bus_socket')
        conf = os.path.join(directory, 'session-bus.conf')
        with open(conf, 'w', encoding='utf-8') as f:
            f.write(f'''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
''')
        r, w = os.pipe()
        self._log = open(os.path.join(directory, 'session-bus.log'), 'wb')
        self.proc = subprocess.Popen(['dbus-daemon', f'--config-file={conf}', '--nofork',
                                      f'--print-address={w}'], pass_fds=(w,),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        os.close(w)
        ready, _, _ = select.select([r], [], [], 5)
        data = os.read(r, 4096) if ready else b''
        os.close(r)
        if not data.strip():
            self.proc.kill()
            raise LabError('the session dbus-daemon did not start')
        self.address = data.decode().strip()
        self.client = BusClient(self.address)

    def close(self):
        self.client.close()
        seatgate_lab.stop_process(self.proc)
        self._log.close()


class SessionMock:
    '''One python-dbusmock process on the session bus.'''

    def __init__(self, desk, key, template, name, path, parameters=None):
        self.desk, self.name, self.path = desk, name, path
        n = sum(1 for k in desk.mock_logs if k.startswith(key))
        self.log_path = os.path.join(desk.dir, f'{key}-{n}.log')
        desk.mock_logs[f'{key}-{n}'] = self.log_path
        cmd = [PYTHON, '-m', 'dbusmock', '--session', '-t', template, '-l', self.log_path]
        if parameters:
            import json
            cmd += ['-p', json.dumps(parameters)]
        self._out = open(self.log_path + '.out', 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=desk.bus.address,
                                              PYTHONDONTWRITEBYTECODE='1'))

        def up():
            if self.proc.poll() is not None:
                raise LabError(f'{template} mock exited: ' + seatgate_lab.Lab.read(self.log_path + '.out'))
            return desk.bus.client.name_owner(name)
        self.unique_name = wait_until(up, 10, what=f'{name} on the session bus')

    def mock(self, method, signature='', args=()):
        return self.desk.bus.client.call(self.name, self.path, MOCK_IFACE, method, signature, args)

    def method_calls(self, method):
        '''[args] of each call of `method` so far.'''
        return [list(a) for _ts, a in self.mock('GetMethodCalls', 's', (method,))[0]]

    def stop(self):
        seatgate_lab.stop_process(self.proc)
        self._out.close()


class Agent:
    '''seatgate-agent as one uid, on the lab's system bus and the private
    session bus, started one of the two ways desktops start it:

    in_session=True   inside the login session: XDG_SESSION_ID=session_id
                      and its pid registered with the session (what logind
                      learns from the session scope's cgroup), as a VT login
                      or a desktop without systemd startup does it;
    in_session=False  as a user unit (GNOME's app-gnome-*.scope, systemd's
                      xdg-autostart generator): in no session's pids, and
                      XDG_SESSION_ID only if session_id is given (the user
                      manager's environment, possibly naming another,
                      older session of the user).

    closed_stdio starts it with stdin, stdout and stderr closed (its log is
    then lost).'''

    def __init__(self, desk, uid, session_id=None, args=('--verbose',), env=None, hold=False,
                 in_session=None, closed_stdio=False):
        self.desk = desk
        self.uid = uid
        self.home = desk.home(uid)
        n = len(desk.agents)
        self.log_path = os.path.join(desk.dir, f'agent-{uid}-{n}.log')
        self._log = open(self.log_path, 'wb')
        environment = {
            'PATH': f'{desk.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': self.home,
            'XDG_CONFIG_HOME': os.path.join(self.home, '.config'),
            'XDG_RUNTIME_DIR': desk.runtime_dir(uid),
            'LANG': 'C.UTF-8',
            'DBUS_SYSTEM_BUS_ADDRESS': desk.lab.bus_address,
            'DBUS_SESSION_BUS_ADDRESS': desk.bus.address,
            'G_DEBUG': 'fatal-criticals',
        }
        if session_id is not None:
            environment['XDG_SESSION_ID'] = session_id
        environment.update(desk.lab.sanitizer_env())
        environment.update(env or {})
        # env={'NAME': None} leaves NAME out.
        environment = {k: v for k, v in environment.items() if v is not None}
        if in_session is None:
            in_session = session_id is not None
        self.in_session = in_session
        hold = hold or in_session
        self.args = [agent_path()] + list(args)
        cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + self.args
        if closed_stdio:
            cmd = ['/bin/sh', '-c', 'exec 0<&- 1>&- 2>&- "$@"', 'closed-stdio'] + cmd
        if hold:
            # Waits for a line on stdin before it becomes the agent, so that
            # the test can tell logind the pid first (GetSessionByPID).
            cmd = ['/bin/sh', '-c', 'read go && exec "$@"', 'hold'] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=environment,
                                     cwd='/')
        self.pid = self.proc.pid
        if in_session:
            desk.lab.logind.add_pid(session_id, self.pid)
            self.release_hold()

    def release_hold(self):
        self.proc.stdin.write(b'go\n')
        self.proc.stdin.close()

    # --- the process ------------------------------------------------------
    def running(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=SETTLE):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)

    def stop(self):
        seatgate_lab.stop_process(self.proc)
        self._log.close()

    def log(self):
        self._log.flush()
        return seatgate_lab.Lab.read(self.log_path)

    def context_switches(self):
        '''Context switches of all its threads so far: each is a wake-up.'''
        return seatgate_lab.context_switches(self.pid)

    # --- its connections ----------------------------------------------------
    def _names_on(self, client):
        out = []
        for name in client.call('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                'org.freedesktop.DBus', 'ListNames')[0]:
            if not name.startswith(':'):
                continue
            try:
                pid = client.call('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                  'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's',
                                  (name,))[0]
            except GLib.Error:
                continue
            if pid == self.pid:
                out.append(name)
        return out

    def system_names(self):
        '''The agent's unique names on the system bus.'''
        return self._names_on(self.desk.lab.client)

    def grant_calls(self):
        '''How many times this agent called Grant ().'''
        names = set(self.system_names())
        return sum(1 for sender, _m in self.desk.monitor.calls('Grant') if sender in names)

    # --- the tray item --------------------------------------------------------
    @property
    def item_name(self):
        return f'org.kde.StatusNotifierItem-{self.pid}-1'

    @property
    def watcher_id(self):
        '''How a watcher lists the item: the agent registers it by path
        (agent/tray.c tray_register), so as its connection + path.'''
        owner = self.desk.bus.client.name_owner(self.item_name)
        return f'{owner}{SNI_PATH}' if owner else None

    def item_props(self):
        try:
            return self.desk.bus.client.get_all(self.item_name, SNI_PATH, SNI_IFACE)
        except GLib.Error:
            return None

    def wait_item(self, pred=lambda p: True, what='the tray item', timeout=SETTLE):
        '''The item's properties once pred(properties) holds.'''
        last = [None]

        def look():
            if not self.running():
                raise LabError(f'the agent exited ({self.proc.returncode}):\n{self.log()}')
            last[0] = self.item_props()
            return last[0] if last[0] is not None and pred(last[0]) else None
        try:
            return wait_until(look, timeout, 0.02, what)
        except LabError as e:
            raise LabError(f'{e}; last seen: {last[0]!r}') from None

    def wait_state(self, icon, timeout=SETTLE):
        return self.wait_item(lambda p: p['IconName'] == icon, f'IconName {icon}', timeout)

    def item_call(self, method, signature='', args=()):
        return self.desk.bus.client.call(self.item_name, SNI_PATH, SNI_IFACE, method, signature, args)

    def menu_call(self, method, signature='', args=(), reply=None):
        return self.desk.bus.client.call(self.item_name, MENU_PATH, MENU_IFACE, method, signature,
                                         args, reply)

    def menu_layout(self):
        '''{id: properties} of the root's children, in order, and the revision.'''
        revision, (root_id, root_props, children) = self.menu_call('GetLayout', 'iias', (0, -1, []))
        items = [(cid, props) for cid, props, _sub in children]
        return revision, root_props, items


class AgentLab:
    '''Session-side stand-ins and agents over a started seatgate_lab.Lab.'''

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.dir, 'desk')
        os.makedirs(self.dir, mode=0o755)
        os.chmod(self.dir, 0o755)
        self.bin_dir = os.path.join(self.dir, 'bin')
        os.makedirs(self.bin_dir, mode=0o755)
        self.mock_logs = {}
        self.agents = []
        self.watchers = []
        self.notifiers = []
        self.bus = SessionBus(self.dir)
        self.monitor = SystemBusMonitor(lab)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def home(self, uid):
        '''A home of uid's own, with ~/.config and ~/out (for files the
        viewer stub writes).'''
        home = os.path.join(self.dir, f'home-{uid}')
        if not os.path.isdir(home):
            for d in (home, os.path.join(home, '.config'), os.path.join(home, '.config', 'seatgate'),
                      os.path.join(home, 'out')):
                os.makedirs(d, mode=0o755)
                os.chown(d, uid, uid)
        return home

    def runtime_dir(self, uid):
        '''uid's $XDG_RUNTIME_DIR, made as logind makes /run/user/UID: owned
        by uid, mode 0700.'''
        path = os.path.join(self.dir, f'run-{uid}')
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
            os.chown(path, uid, uid)
            os.chmod(path, 0o700)
        return path

    def write_agent_conf(self, uid, text):
        path = os.path.join(self.home(uid), '.config', 'seatgate', 'agent.conf')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chown(path, uid, uid)
        return path

    def install_stub(self, name, script):
        '''An executable on the agents' PATH.'''
        path = os.path.join(self.bin_dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(script)
        os.chmod(path, 0o755)
        return path

    def start_watcher(self, host=True):
        w = SessionMock(self, 'watcher', os.path.join(AGENT_DIR, 'sni_watcher_mock.py'),
                        WATCHER_NAME, WATCHER_PATH, {'host': host})
        self.watchers.append(w)
        self.watcher = w
        return w

    def registered_items(self):
        return list(self.bus.client.get_property(WATCHER_NAME, WATCHER_PATH, WATCHER_IFACE,
                                                 'RegisteredStatusNotifierItems'))

    def start_notifications(self, actions=True):
        '''python-dbusmock's notification_daemon, listing the "actions"
        capability (buttons, as xfce4-notifyd and gnome-shell draw them)
        unless actions is False (its stock list, which has none).'''
        caps = 'body body-markup icon-static actions' if actions else None
        n = SessionMock(self, 'notifications', 'notification_daemon', NOTIFY_NAME, NOTIFY_PATH,
                        {'capabilities': caps} if caps else None)
        self.notifiers.append(n)
        self.notifications = n
        return n

    def notifications_sent(self):
        '''[(summary, body, replaces_id, actions)] of every Notify so far.'''
        return [(a[3], a[4], a[1], list(a[5])) for a in self.notifications.method_calls('Notify')]

    def agent(self, uid, session_id=None, **kw):
        '''An agent started inside session_id (see Agent).'''
        a = Agent(self, uid, session_id, **kw)
        self.agents.append(a)
        return a

    def unit_agent(self, uid, xdg_session_id=None, **kw):
        '''An agent started as a user unit: in no session, with
        XDG_SESSION_ID=xdg_session_id if given.'''
        return self.agent(uid, xdg_session_id, in_session=False, **kw)

    def logs(self):
        out = {}
        for a in self.agents:
            rc = a.proc.poll()
            out[f'seatgate-agent uid {a.uid} pid {a.pid} '
                f'[{"running" if rc is None else "exit " + str(rc)}]'] = a.log()
        for key, path in self.mock_logs.items():
            out[f'{key} mock'] = seatgate_lab.Lab.read(path) + seatgate_lab.Lab.read(path + '.out')
        out['calls to the helper (dbus-monitor)'] = self.monitor.text()
        return out

    def close(self):
        for a in self.agents:
            a.stop()
        for m in self.watchers + self.notifiers:
            m.stop()
        self.monitor.close()
        self.bus.close()
        shutil.rmtree(self.dir, ignore_errors=True)
