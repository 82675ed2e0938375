#!/usr/bin/python3
'''A process of one uid that connects to a gated port in a loop and records
what happened, for seatgate's fault suite (run as that uid by setpriv).

    prober.py [--port P] [--interval S] [--until-ok] [--hold N] HOST...

Each attempt is a TCP connect (a SYN answered by SYN-ACK counts as "ok":
the port was reachable). Outcomes are recorded as runs of equal outcome with
the CLOCK_MONOTONIC time (time.monotonic(), the same clock in every process)
of the run's first and last attempt, so that an open window is bounded by
the refused attempts around it.

"ready" is printed after the first attempt. On SIGTERM (or, with --until-ok,
at the first success) the summary is printed as one JSON line:
  {"attempts", "ok", "runs": [[outcome, first_t, last_t, count]],
   "held": N, "held_open": N}
With --hold N the first N successful connections are kept open, and
"held_open" says how many of them were still open at the end (a helper that
cuts connections that slipped in leaves none).
'''

import argparse
import errno
import json
import select
import signal
import socket
import sys
import time

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def attempt(host, port, timeout):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except socket.timeout:
        s.close()
        return 'timeout', None
    except OSError as e:
        s.close()
        if e.errno == errno.ECONNREFUSED:
            return 'refused', None
        return 'error:' + errno.errorcode.get(e.errno, str(e.errno)), None
    return 'ok', s


def still_open(s):
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    if not p.poll(0):
        return True
    try:
        s.setblocking(False)
        return bool(s.recv(4096))
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=5930)
    ap.add_argument('--interval', type=float, default=0.0005)
    ap.add_argument('--timeout', type=float, default=1.0)
    ap.add_argument('--until-ok', action='store_true')
    ap.add_argument('--hold', type=int, default=0)
    ap.add_argument('hosts', nargs='+')
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)

    runs = []
    held = []
    attempts = oks = 0
    i = 0
    while not stop:
        host = args.hosts[i % len(args.hosts)]
        i += 1
        outcome, s = attempt(host, args.port, args.timeout)
        now = time.monotonic()
        attempts += 1
        if outcome == 'ok':
            oks += 1
            if len(held) < args.hold:
                held.append(s)
            else:
                s.close()
        if runs and runs[-1][0] == outcome:
            runs[-1][2] = now
            runs[-1][3] += 1
        else:
            runs.append([outcome, now, now, 1])
        if attempts == 1:
            sys.stdout.write('ready\n')
            sys.stdout.flush()
        if outcome == 'ok' and args.until_ok:
            break
        if args.interval > 0:
            time.sleep(args.interval)

    held_open = sum(1 for s in held if still_open(s))
    sys.stdout.write(json.dumps({'attempts': attempts, 'ok': oks, 'runs': runs,
                                 'held': len(held), 'held_open': held_open}) + '\n')
    sys.stdout.flush()
    for s in held:
        s.close()


if __name__ == '__main__':
    main()
