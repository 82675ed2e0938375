#!/usr/bin/python3
"""The VM's port, as its own uid (vmconsole): listens on 127.0.0.1 and ::1,
on the gated port (5930) and on an ungated control port (18930), greets each
connection with a banner and keeps it open until the client ends it. A
client that reads the banner has reached this listener; one refused on 5930
while it reads the banner on 18930 at the same moment was refused by the gate,
not by a missing listener. Writes "ready" on stdout once every socket
listens."""
import selectors
import socket
import sys

BANNER = b'SG-LISTENER\n'
PORTS = [int(p) for p in sys.argv[1:]] or [5930, 18930]

sel = selectors.DefaultSelector()
for port in PORTS:
    for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, 'listen')
print('ready', flush=True)

while True:
    for key, _ in sel.select():
        sock = key.fileobj
        if key.data == 'listen':
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                conn.sendall(BANNER)
            except OSError:
                conn.close()
                continue
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ, 'conn')
        else:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b''
            if not data:
                sel.unregister(sock)
                sock.close()
