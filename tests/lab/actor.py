#!/usr/bin/python3
'''A "person" in seatgate's test lab: one process of one uid.

Run as that uid (setpriv --reuid=U --regid=U --clear-groups) and driven over
stdin/stdout, one JSON object per line each way. Every request gets exactly
one reply line. Requests ({"cmd": ...}):

  hello                         -> {"pid", "uid", "gid"}
  bus_connect                   -> {"ok", "unique_name"}   (stays connected)
  bus_disconnect                -> {"ok"}
  call  method [args signature dest path iface timeout interactive]
                                -> {"ok": true, "value"} or
                                   {"ok": false, "error": D-Bus error name, "message"}
  get_property name [dest path iface]   -> same shape as call
  connect host port [timeout]   -> {"result": "ok" | "refused" | "timeout" | "unreachable" | "error:..."}
                                   "ok" only after an echo round trip
  open host port [timeout]      -> {"result": ..., "conn": id, "local_port"}; the
                                   connection is held until close/quit
  echo conn [timeout]           -> {"result": "ok" | "closed:<how>" | "timeout"}
  is_open conn                  -> {"open": bool, "how"}
  wait_closed conn timeout      -> {"closed": bool, "how", "after": seconds}
  close conn                    -> {"ok"}
  spawn_child                   -> {"pid"}  (a `sleep` child, for pid lookups)
  quit                          -> {"ok"} and exit
'''

import errno
import json
import os
import select
import socket
import subprocess
import sys
import time

from gi.repository import Gio, GLib

GATE_NAME = 'io.github.seatgate.Gate1'
GATE_PATH = '/io/github/seatgate/Gate1'
GATE_IFACE = 'io.github.seatgate.Gate1'

bus = None
conns = {}
children = []
next_conn = 1


def to_json(value):
    if isinstance(value, GLib.Variant):
        value = value.unpack()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def dbus_error(e):
    name = Gio.DBusError.get_remote_error(e)
    msg = e.message
    if name and msg.startswith('GDBus.Error:'):
        prefix = 'GDBus.Error:' + name + ': '
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if not name:
        name = f'local:{e.domain}:{e.code}'
    return {'ok': False, 'error': name, 'message': msg}


def do_call(req):
    if bus is None:
        return {'ok': False, 'error': 'local:not-connected', 'message': 'bus_connect first'}
    sig = req.get('signature', '')
    args = req.get('args', [])
    params = GLib.Variant('(' + sig + ')', tuple(args)) if sig else None
    flags = (Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION if req.get('interactive')
             else Gio.DBusCallFlags.NONE)
    try:
        ret = bus.call_sync(req.get('dest', GATE_NAME), req.get('path', GATE_PATH),
                            req.get('iface', GATE_IFACE), req['method'], params, None,
                            flags, int(req.get('timeout', 10) * 1000), None)
    except GLib.Error as e:
        return dbus_error(e)
    value = to_json(ret)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return {'ok': True, 'value': value}


def classify(err):
    if isinstance(err, socket.timeout):
        return 'timeout'
    if isinstance(err, OSError):
        if err.errno == errno.ECONNREFUSED:
            return 'refused'
        if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return 'unreachable'
        if err.errno == errno.ETIMEDOUT:
            return 'timeout'
        return 'error:' + (errno.errorcode.get(err.errno, str(err.errno)) if err.errno else str(err))
    return 'error:' + str(err)


def open_conn(host, port, timeout):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b'ping\n')
        data = b''
        while len(data) < 5:
            chunk = s.recv(5 - len(data))
            if not chunk:
                s.close()
                return 'closed-before-echo', None
            data += chunk
        if data != b'ping\n':
            s.close()
            return 'bad-echo', None
    except (OSError, socket.timeout) as e:
        s.close()
        return classify(e), None
    return 'ok', s


def conn_state(s, timeout):
    '''(open, how) after waiting up to timeout for the peer to end it.'''
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    events = p.poll(max(0, timeout) * 1000)
    if not events:
        return True, 'open'
    try:
        s.setblocking(False)
        data = s.recv(4096)
        if data:
            return True, 'data'
        return False, 'eof'
    except BlockingIOError:
        return True, 'open'
    except OSError as e:
        return False, errno.errorcode.get(e.errno, str(e.errno)).lower()
    finally:
        s.settimeout(5)


def handle(req):
    global bus, next_conn
    cmd = req['cmd']
    if cmd == 'hello':
        return {'pid': os.getpid(), 'uid': os.getuid(), 'gid': os.getgid()}
    if cmd == 'bus_connect':
        try:
            bus = Gio.DBusConnection.new_for_address_sync(
                os.environ['DBUS_SYSTEM_BUS_ADDRESS'],
                Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        except GLib.Error as e:
            return {'ok': False, 'error': 'local:connect', 'message': e.message}
        bus.set_exit_on_close(False)
        return {'ok': True, 'unique_name': bus.get_unique_name()}
    if cmd == 'bus_disconnect':
        if bus is not None:
            bus.close_sync(None)
            bus = None
        return {'ok': True}
    if cmd == 'call':
        return do_call(req)
    if cmd == 'get_property':
        r = do_call({'method': 'Get', 'iface': 'org.freedesktop.DBus.Properties',
                     'dest': req.get('dest', GATE_NAME), 'path': req.get('path', GATE_PATH),
                     'signature': 'ss', 'args': [req.get('iface', GATE_IFACE), req['name']]})
        return r
    if cmd == 'connect':
        result, s = open_conn(req['host'], int(req['port']), float(req.get('timeout', 1.0)))
        if s is not None:
            s.close()
        return {'result': result}
    if cmd == 'open':
        result, s = open_conn(req['host'], int(req['port']), float(req.get('timeout', 1.0)))
        if s is None:
            return {'result': result}
        cid = next_conn
        next_conn += 1
        conns[cid] = s
        return {'result': 'ok', 'conn': cid, 'local_port': s.getsockname()[1]}
    if cmd == 'echo':
        s = conns[req['conn']]
        s.settimeout(float(req.get('timeout', 1.0)))
        try:
            s.sendall(b'echo\n')
            data = s.recv(5)
        except socket.timeout:
            return {'result': 'timeout'}
        except OSError as e:
            return {'result': 'closed:' + errno.errorcode.get(e.errno, str(e.errno)).lower()}
        return {'result': 'ok' if data == b'echo\n' else 'closed:eof' if not data else 'bad-echo'}
    if cmd == 'is_open':
        is_open, how = conn_state(conns[req['conn']], 0)
        return {'open': is_open, 'how': how}
    if cmd == 'wait_closed':
        start = time.monotonic()
        is_open, how = conn_state(conns[req['conn']], float(req['timeout']))
        return {'closed': not is_open, 'how': how, 'after': round(time.monotonic() - start, 3)}
    if cmd == 'close':
        conns.pop(req['conn']).close()
        return {'ok': True}
    if cmd == 'spawn_child':
        child = subprocess.Popen(['sleep', '600'])
        children.append(child)
        return {'pid': child.pid}
    if cmd == 'quit':
        return {'ok': True}
    return {'error': 'unknown command ' + cmd}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            rep = handle(req)
        except Exception as e:  # report, never die silently: the lab waits for a line
            rep = {'exception': f'{type(e).__name__}: {e}'}
        sys.stdout.write(json.dumps(rep) + '\n')
        sys.stdout.flush()
        if req['cmd'] == 'quit':
            break
    for child in children:
        child.kill()


if __name__ == '__main__':
    main()
