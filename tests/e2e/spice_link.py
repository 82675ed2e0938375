#!/usr/bin/python3
'''A headless SPICE client check: speaks the start of the SPICE link
protocol, so a test or the demo can tell "a SPICE session is possible" from
"refused" without a display.

    spice_link.py [--timeout S] [--hold] [--json] [--password-file F] HOST [PORT]

It sends the client link message (magic "REDQ", protocol 2.2, main channel),
checks the server's link reply (magic, version, error code, 162-byte RSA
public key), selects SPICE ticket authentication, sends the empty ticket
encrypted with RSA-OAEP-SHA1 (spice-server asks for one even with
disable-ticketing), or with --password-file the SPICE ticket read from F
("-": stdin; never on the command line, where every uid can read it), reads
the 4-byte link result and then the main channel's
first message, SPICE_MSG_MAIN_INIT, whose session id it reports.

Prints one line per event; with --json one JSON object per line:
    {"result": "linked", "session_id": N, "local_port": N, "after": seconds}
    {"result": "refused"}           the TCP connection was refused (RST)
    {"result": "timeout"} / "unreachable" / "closed" (before the link reply) /
    "link-error:N" (the server's SpiceLinkErr) / "protocol:..." / "error:..."
With --hold it keeps the main channel alive after "linked" (answers the
server's SET_ACK and PING as a client must) until the connection ends, then
prints {"result": "ended", "how": "reset"|"eof"|..., "after": seconds held}.

Exit status: 0 linked (and, with --hold, later ended), 1 refused, 2 anything
else. Usable as a module: link(host, port, timeout) -> LinkResult.
'''

import argparse
import errno
import json
import select
import socket
import struct
import sys
import time

SPICE_MAGIC = b'REDQ'
SPICE_VERSION_MAJOR = 2
SPICE_VERSION_MINOR = 2
SPICE_CHANNEL_MAIN = 1
SPICE_TICKET_PUBKEY_BYTES = 162

# common capabilities (bit numbers)
CAP_PROTOCOL_AUTH_SELECTION = 0
CAP_AUTH_SPICE = 1
CAP_MINI_HEADER = 3

SPICE_LINK_ERR_OK = 0
LINK_ERRORS = {
    1: 'error', 2: 'invalid magic', 3: 'invalid data', 4: 'version mismatch',
    5: 'need secured', 6: 'need unsecured', 7: 'permission denied',
    8: 'bad connection id', 9: 'channel not available',
}

# messages on an established channel
SPICE_MSG_SET_ACK = 3
SPICE_MSG_PING = 4
SPICE_MSG_MAIN_INIT = 103
SPICE_MSGC_ACK_SYNC = 1
SPICE_MSGC_ACK = 2
SPICE_MSGC_PONG = 3


class LinkResult:
    '''result: "linked", "refused", "timeout", ...; sock: the open main
    channel when linked (the caller owns it).'''

    def __init__(self, result, sock=None, session_id=None, after=None, detail=''):
        self.result = result
        self.sock = sock
        self.session_id = session_id
        self.after = after
        self.detail = detail
        self.local_port = sock.getsockname()[1] if sock is not None else None

    @property
    def linked(self):
        return self.result == 'linked'

    def as_dict(self):
        d = {'result': self.result}
        if self.session_id is not None:
            d['session_id'] = self.session_id
        if self.local_port is not None:
            d['local_port'] = self.local_port
        if self.after is not None:
            d['after'] = round(self.after, 3)
        if self.detail:
            d['detail'] = self.detail
        return d

    def __repr__(self):
        return f'<LinkResult {self.as_dict()}>'


class ProtocolError(Exception):
    pass


def _caps_word(*bits):
    word = 0
    for b in bits:
        word |= 1 << b
    return word


def _has_cap(words, bit):
    i, b = divmod(bit, 32)
    return i < len(words) and bool(words[i] & (1 << b))


def _recv_exact(sock, n, deadline):
    data = b''
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('timed out')
        sock.settimeout(left)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f'the server closed the connection after {len(data)} of {n} bytes')
        data += chunk
    return data


def _classify(err):
    if isinstance(err, socket.timeout):
        return 'timeout'
    if isinstance(err, EOFError):
        return 'closed'
    if isinstance(err, OSError) and err.errno is not None:
        if err.errno == errno.ECONNREFUSED:
            return 'refused'
        if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return 'unreachable'
        if err.errno == errno.ETIMEDOUT:
            return 'timeout'
        if err.errno in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
            return 'closed'
        return 'error:' + errno.errorcode.get(err.errno, str(err.errno)).lower()
    return 'error:' + str(err)


def encrypt_ticket(pub_key_der, password=b''):
    '''The ticket as spice-gtk sends it: the password and its NUL,
    RSA-OAEP with SHA-1, under the server's 1024-bit key.'''
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    key = serialization.load_der_public_key(pub_key_der)
    return key.encrypt(password + b'\0', padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),
                                                      algorithm=hashes.SHA1(), label=None))


def _link_message():
    common = [_caps_word(CAP_PROTOCOL_AUTH_SELECTION, CAP_AUTH_SPICE, CAP_MINI_HEADER)]
    channel = []
    # SpiceLinkMess: connection_id, channel_type, channel_id, num_common_caps,
    # num_channel_caps, caps_offset (from the start of SpiceLinkMess)
    body = struct.pack('<IBBIII', 0, SPICE_CHANNEL_MAIN, 0, len(common), len(channel), 18)
    body += struct.pack(f'<{len(common) + len(channel)}I', *(common + channel))
    return struct.pack('<4sIII', SPICE_MAGIC, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR, len(body)) + body


def _read_link_reply(sock, deadline):
    magic, major, minor, size = struct.unpack('<4sIII', _recv_exact(sock, 16, deadline))
    if magic != SPICE_MAGIC:
        raise ProtocolError(f'bad magic {magic!r} in the link reply')
    if major != SPICE_VERSION_MAJOR:
        raise ProtocolError(f'protocol version {major}.{minor}, not {SPICE_VERSION_MAJOR}.x')
    if size < 4 or size > 4096:
        raise ProtocolError(f'link reply of {size} bytes')
    data = _recv_exact(sock, size, deadline)
    error = struct.unpack_from('<I', data)[0]
    if error != SPICE_LINK_ERR_OK:
        return error, None, []
    head = 4 + SPICE_TICKET_PUBKEY_BYTES + 12
    if size < head:
        raise ProtocolError(f'link reply of {size} bytes is too short')
    pub_key = data[4:4 + SPICE_TICKET_PUBKEY_BYTES]
    n_common, n_channel, caps_offset = struct.unpack_from('<III', data, 4 + SPICE_TICKET_PUBKEY_BYTES)
    if caps_offset + 4 * (n_common + n_channel) > size:
        raise ProtocolError('link reply capabilities run past its end')
    common = list(struct.unpack_from(f'<{n_common}I', data, caps_offset))
    return error, pub_key, common


class MainChannel:
    '''The established main channel: reads messages (mini or full header)
    and answers what a client must answer to stay connected.'''

    def __init__(self, sock, mini_header):
        self.sock = sock
        self.mini = mini_header
        self.serial = 0
        self.ack_window = 0
        self.unacked = 0

    def read_message(self, deadline):
        if self.mini:
            mtype, size = struct.unpack('<HI', _recv_exact(self.sock, 6, deadline))
        else:
            _serial, mtype, size, _sub = struct.unpack('<QHII', _recv_exact(self.sock, 18, deadline))
        return mtype, _recv_exact(self.sock, size, deadline) if size else b''

    def send(self, mtype, payload):
        if self.mini:
            head = struct.pack('<HI', mtype, len(payload))
        else:
            self.serial += 1
            head = struct.pack('<QHII', self.serial, mtype, len(payload), 0)
        self.sock.sendall(head + payload)

    def answer(self, mtype, payload):
        if mtype == SPICE_MSG_SET_ACK:
            generation, window = struct.unpack_from('<II', payload)
            self.ack_window, self.unacked = window, 0
            self.send(SPICE_MSGC_ACK_SYNC, struct.pack('<I', generation))
            return
        if self.ack_window:
            self.unacked += 1
            if self.unacked >= self.ack_window:
                self.unacked = 0
                self.send(SPICE_MSGC_ACK, b'')
        if mtype == SPICE_MSG_PING:
            self.send(SPICE_MSGC_PONG, payload[:12])


def link(host, port=5930, timeout=3.0, password=b''):
    '''Connects and links the main channel with the ticket password (bytes;
    empty for a server without one). Returns a LinkResult; when linked,
    result.sock and result.channel are the live main channel. A wrong
    ticket is "link-error:7" (permission denied).'''
    start = time.monotonic()
    deadline = start + timeout
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(_link_message())
        error, pub_key, server_caps = _read_link_reply(sock, deadline)
        if error != SPICE_LINK_ERR_OK:
            sock.close()
            return LinkResult(f'link-error:{error}', detail=LINK_ERRORS.get(error, ''))
        if _has_cap(server_caps, CAP_PROTOCOL_AUTH_SELECTION):
            sock.sendall(struct.pack('<I', CAP_AUTH_SPICE))
        sock.sendall(encrypt_ticket(pub_key, password))
        result = struct.unpack('<I', _recv_exact(sock, 4, deadline))[0]
        if result != SPICE_LINK_ERR_OK:
            sock.close()
            return LinkResult(f'link-error:{result}', detail=LINK_ERRORS.get(result, ''))
        channel = MainChannel(sock, _has_cap(server_caps, CAP_MINI_HEADER))
        # The main channel's first word after the link is MAIN_INIT (after a
        # SET_ACK or PING at most): proof that a session is up.
        for _ in range(16):
            mtype, payload = channel.read_message(deadline)
            if mtype == SPICE_MSG_MAIN_INIT:
                session_id = struct.unpack_from('<I', payload)[0]
                res = LinkResult('linked', sock, session_id, time.monotonic() - start)
                res.channel = channel
                return res
            channel.answer(mtype, payload)
        raise ProtocolError('no SPICE_MSG_MAIN_INIT among the first 16 messages')
    except ProtocolError as e:
        sock.close()
        return LinkResult('protocol:' + str(e))
    except (OSError, EOFError) as e:
        sock.close()
        return LinkResult(_classify(e), detail=str(e))


def hold(res, limit=None):
    '''Keeps a linked main channel alive until the server or the network
    ends it (or limit seconds pass). Returns (how, seconds held).'''
    start = time.monotonic()
    sock, channel = res.sock, res.channel
    while True:
        wait = None if limit is None else max(0.0, start + limit - time.monotonic())
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            return 'still-open', time.monotonic() - start
        try:
            mtype, payload = channel.read_message(time.monotonic() + 10)
            channel.answer(mtype, payload)
        except EOFError:
            return 'eof', time.monotonic() - start
        except socket.timeout:
            return 'stalled', time.monotonic() - start
        except OSError as e:
            how = {errno.ECONNRESET: 'reset', errno.ECONNABORTED: 'aborted',
                   errno.EPIPE: 'broken-pipe'}.get(e.errno, _classify(e))
            return how, time.monotonic() - start


def describe(d):
    r = d['result']
    if r == 'linked':
        return (f'linked: SPICE link OK, main channel up (session id {d["session_id"]:#010x}) '
                f'in {d["after"] * 1000:.0f} ms')
    if r == 'refused':
        return 'refused: the TCP connection was refused (reset)'
    if r == 'ended':
        return f'ended: the connection was closed ({d["how"]}) after {d["after"]:.3f} s'
    return r + (f' ({d["detail"]})' if d.get('detail') else '')


def main():
    ap = argparse.ArgumentParser(description='Checks that a SPICE session can be set up.')
    ap.add_argument('host')
    ap.add_argument('port', nargs='?', type=int, default=5930)
    ap.add_argument('--timeout', type=float, default=3.0)
    ap.add_argument('--hold', action='store_true',
                    help='after linking, keep the connection until it ends')
    ap.add_argument('--json', action='store_true', help='one JSON object per line')
    ap.add_argument('--password-file', metavar='F',
                    help='read the SPICE ticket from F ("-": stdin), its first line')
    args = ap.parse_args()
    password = b''
    if args.password_file == '-':
        password = sys.stdin.buffer.readline().rstrip(b'\r\n')
    elif args.password_file:
        with open(args.password_file, 'rb') as f:
            password = f.readline().rstrip(b'\r\n')

    def say(d):
        print(json.dumps(d) if args.json else describe(d), flush=True)

    res = link(args.host, args.port, args.timeout, password)
    say(res.as_dict())
    if not res.linked:
        return 1 if res.result == 'refused' else 2
    if args.hold:
        how, after = hold(res)
        say({'result': 'ended', 'how': how, 'after': round(after, 3)})
    res.sock.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
