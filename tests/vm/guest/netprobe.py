#!/usr/bin/python3
"""One uid's TCP client, run as that uid (setpriv) by the driver, answering
commands read from stdin with JSON lines on stdout:
  connect ID HOST PORT [keep]  one connection; "ok" only once the listener's
                               banner is read; with keep, it stays open and
                               {"ended": ID, ...} is written when it ends
  close ID                     closes a kept connection
  hammer start MS              connects to 127.0.0.1 and ::1 on 5930 every
                               MS ms; every connection that gets through is
                               reported at once ({"through": ...}), and every
                               200th attempt also reaches the ungated 18930
  hammer stop                  ends the hammer: {"hammer": {counts}}
Times are time.monotonic(), the same clock as the driver's."""
import errno
import json
import socket
import sys
import threading
import time

BANNER = b'SG-LISTENER\n'
out_lock = threading.Lock()


def emit(obj):
    obj.setdefault('t', time.monotonic())
    with out_lock:
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()


def family_of(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def attempt(host, port, timeout=1.0):
    '''Returns (result, socket or None); result is "ok", "refused",
    "timeout", "closed" (no banner) or "error:<name>".'''
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        got = b''
        while not got.endswith(b'\n'):
            chunk = s.recv(64)
            if not chunk:
                s.close()
                return 'closed', None
            got += chunk
        if got != BANNER:
            s.close()
            return 'error:banner', None
        return 'ok', s
    except ConnectionRefusedError:
        s.close()
        return 'refused', None
    except socket.timeout:
        s.close()
        return 'timeout', None
    except OSError as e:
        s.close()
        return 'error:' + (errno.errorcode.get(e.errno, str(e.errno))), None


def watch(conn_id, s):
    '''Reports when a kept connection ends, and how.'''
    s.settimeout(None)
    try:
        data = s.recv(64)
        how = 'eof' if not data else 'data'
    except ConnectionResetError:
        how = 'reset'
    except ConnectionAbortedError:
        how = 'aborted'
    except OSError as e:
        how = 'error:' + errno.errorcode.get(e.errno, str(e.errno))
    emit({'ended': conn_id, 'how': how})


class Hammer(threading.Thread):
    def __init__(self, interval_ms):
        super().__init__(daemon=True)
        self.interval = interval_ms / 1000.0
        self.stop = threading.Event()
        self.counts = {'attempts': 0, 'through': 0, 'refused': 0, 'other': 0,
                       'control_ok': 0, 'control_failed': 0}

    def run(self):
        hosts = ['127.0.0.1', '::1']
        n = 0
        while not self.stop.is_set():
            host = hosts[n % 2]
            result, s = attempt(host, 5930, timeout=0.5)
            self.counts['attempts'] += 1
            if result == 'ok':
                self.counts['through'] += 1
                emit({'through': host})
                s.close()
            elif result == 'refused':
                self.counts['refused'] += 1
            else:
                self.counts['other'] += 1
                emit({'hammer_other': result, 'host': host})
            if n % 200 == 0:
                result, s = attempt(host, 18930, timeout=0.5)
                if s:
                    s.close()
                self.counts['control_ok' if result == 'ok' else 'control_failed'] += 1
            n += 1
            self.stop.wait(self.interval)


def main():
    kept = {}
    hammer = None
    emit({'ready': True})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == 'connect':
            conn_id, host, port = words[1], words[2], int(words[3])
            t0 = time.monotonic()
            result, s = attempt(host, port)
            emit({'id': conn_id, 'result': result, 't0': t0})
            if s is not None:
                if len(words) > 4 and words[4] == 'keep':
                    kept[conn_id] = s
                    threading.Thread(target=watch, args=(conn_id, s), daemon=True).start()
                else:
                    s.close()
        elif words[0] == 'close':
            s = kept.pop(words[1], None)
            if s is not None:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            emit({'id': words[1], 'closed': True})
        elif words[:2] == ['hammer', 'start']:
            hammer = Hammer(float(words[2]))
            hammer.start()
            emit({'hammer_started': True})
        elif words[:2] == ['hammer', 'stop']:
            if hammer is None:
                emit({'hammer': None})
                continue
            hammer.stop.set()
            hammer.join()
            emit({'hammer': hammer.counts})
            hammer = None


if __name__ == '__main__':
    main()
