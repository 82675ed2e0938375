#!/usr/bin/python3
'''Runs a command as the sandbox's first process (PID 1 of its PID
namespace) and reaps every process orphaned to it, then exits with the
command's status:
    reaper.py CMD [ARGS...]

Why: libvirtd starts QEMU (its capability probes too) with -daemonize, so
QEMU's parent is the namespace's first process. libvirtd then waits for a
stopped QEMU to vanish; a zombie nobody reaps never does, and `virsh
create` hung for 30 s behind the probes' zombies when pytest was PID 1.'''

import os
import signal
import sys


def main():
    child = os.fork()
    if child == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


if __name__ == '__main__':
    sys.exit(main())
