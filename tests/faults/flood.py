#!/usr/bin/python3
'''Many D-Bus callers in one process of one uid, for seatgate's fault suite
(run as that uid by setpriv).

    flood.py N SECONDS [METHOD [UID]]

Opens N connections to the system bus (DBUS_SYSTEM_BUS_ADDRESS): each is a
caller of its own, with its own unique name. Prints "ready" once all are
connected, waits for a line on stdin, then has every connection call
METHOD (Grant, the default, or Revoke of UID) again as soon as its previous
call is answered, for SECONDS. Prints
one JSON line: {"connections", "calls", "answers": {error name or "ok": n},
"first_ok": t or null, "latency_max"} (times are time.monotonic()).
'''

import json
import sys
import time

from gi.repository import Gio, GLib

GATE_NAME = 'io.github.seatgate.Gate1'
GATE_PATH = '/io/github/seatgate/Gate1'
GATE_IFACE = 'io.github.seatgate.Gate1'


def main():
    n, seconds = int(sys.argv[1]), float(sys.argv[2])
    method = sys.argv[3] if len(sys.argv) > 3 else 'Grant'
    params = GLib.Variant('(u)', (int(sys.argv[4]),)) if method == 'Revoke' else None
    address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM, None)
    conns = []
    for _ in range(n):
        c = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        c.set_exit_on_close(False)
        conns.append(c)
    sys.stdout.write('ready\n')
    sys.stdout.flush()
    sys.stdin.readline()

    loop = GLib.MainLoop()
    stats = {'connections': n, 'calls': 0, 'answers': {}, 'first_ok': None, 'latency_max': 0.0}
    deadline = time.monotonic() + seconds
    in_flight = [0]

    def call(conn):
        stats['calls'] += 1
        in_flight[0] += 1
        conn.call(GATE_NAME, GATE_PATH, GATE_IFACE, method, params, None, Gio.DBusCallFlags.NONE,
                  60000, None, done, (conn, time.monotonic()))

    def done(conn, result, data):
        _conn, started = data
        in_flight[0] -= 1
        now = time.monotonic()
        try:
            conn.call_finish(result)
            key = 'ok'
            if stats['first_ok'] is None:
                stats['first_ok'] = now
        except GLib.Error as e:
            key = Gio.DBusError.get_remote_error(e) or f'local:{e.domain}:{e.code}'
        stats['answers'][key] = stats['answers'].get(key, 0) + 1
        stats['latency_max'] = max(stats['latency_max'], now - started)
        if now < deadline:
            call(conn)
        elif in_flight[0] == 0:
            loop.quit()

    for c in conns:
        call(c)
    loop.run()
    sys.stdout.write(json.dumps(stats) + '\n')
    sys.stdout.flush()
    for c in conns:
        c.close_sync(None)


if __name__ == '__main__':
    main()
