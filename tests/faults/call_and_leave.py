#!/usr/bin/python3
'''Calls Grant() on the helper and leaves the bus at once, without waiting
for the answer (for seatgate's fault suite; run as a uid by setpriv).

    call_and_leave.py [N]    N callers, one after the other (default 1)
'''

import sys

from gi.repository import Gio

GATE_NAME = 'io.github.seatgate.Gate1'
GATE_PATH = '/io/github/seatgate/Gate1'
GATE_IFACE = 'io.github.seatgate.Gate1'


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM, None)
    for _ in range(n):
        conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        msg = Gio.DBusMessage.new_method_call(GATE_NAME, GATE_PATH, GATE_IFACE, 'Grant')
        conn.send_message(msg, Gio.DBusSendMessageFlags.NONE)
        conn.flush_sync(None)
        conn.close_sync(None)


if __name__ == '__main__':
    main()
