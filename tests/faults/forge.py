#!/usr/bin/python3
'''Sends forged signals as the uid it runs as, for seatgate's fault suite:
unicast to DEST, with whatever sender-looking content the caller chooses
(the bus stamps the real sender; a client that does not check it believes
the body).

    forge.py DEST JSON   JSON: [[path, interface, member, signature, args], ...]
'''

import json
import sys

from gi.repository import Gio, GLib


def main():
    dest, signals = sys.argv[1], json.loads(sys.argv[2])
    address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM, None)
    conn = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    for path, iface, member, sig, args in signals:
        if sig == '(sa{sv}as)':
            # PropertiesChanged: the values come as [type, value] pairs.
            changed = {k: GLib.Variant(t, tuple(v) if t.startswith('(') else v)
                       for k, (t, v) in args[1].items()}
            params = GLib.Variant(sig, (args[0], changed, args[2]))
        else:
            params = GLib.Variant(sig, tuple(args))
        conn.emit_signal(dest, path, iface, member, params)
    conn.flush_sync(None)
    # A round trip to the bus: everything sent before it has been routed.
    conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                   'GetId', None, None, Gio.DBusCallFlags.NONE, 5000, None)
    print(conn.get_unique_name())
    conn.close_sync(None)


if __name__ == '__main__':
    main()
