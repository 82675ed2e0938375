#!/usr/bin/python3
'''Calls Grant() and, before its answer, Release() on the same connection;
prints the Grant() answer as JSON: {"ok": true} or {"error", "message"}.
(For seatgate's integration tests; run as a uid by setpriv.)'''

import json
import sys

from gi.repository import Gio, GLib

GATE_NAME = 'io.github.seatgate.Gate1'
GATE_PATH = '/io/github/seatgate/Gate1'
GATE_IFACE = 'io.github.seatgate.Gate1'


def main():
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    loop = GLib.MainLoop()
    answer = {}

    def granted(conn, result):
        try:
            conn.call_finish(result)
            answer['ok'] = True
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            answer['error'] = name
            answer['message'] = e.message.removeprefix(f'GDBus.Error:{name}: ')
        loop.quit()

    bus.call(GATE_NAME, GATE_PATH, GATE_IFACE, 'Grant', None, None, Gio.DBusCallFlags.NONE, 10000,
             None, granted)
    # Sent after Grant() on the same connection, so the helper sees it second.
    bus.call_sync(GATE_NAME, GATE_PATH, GATE_IFACE, 'Release', None, None, Gio.DBusCallFlags.NONE,
                  10000, None)
    loop.run()
    json.dump(answer, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
