'''Runs seatgatectl in the seatgate lab, as root or as a lab uid, on the lab's
private system bus.

    r = ctl.run(lab, ['status', '--json'])            # as root
    r = ctl.run(lab, ['grant', '--', 'true'], uid=1000)
    p = ctl.spawn(lab, ['monitor'])                   # a Popen with text stdout
    ctl.read_line(p, timeout=5)                       # one line, or LabError
'''

import json
import os
import select
import subprocess
import time

from seatgate_lab import LabError, SOURCE_DIR

SEATGATECTL = os.environ.get('SEATGATECTL') or os.path.join(
    SOURCE_DIR, 'build-cli', 'cli', 'seatgatectl')

# seatgatectl(1)'s exit statuses
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_HELPER = 3
EXIT_NOT_SEAT_OWNER = 4
EXIT_NOT_AUTHORIZED = 5


def command(lab, args, uid=0):
    cmd = [SEATGATECTL] + list(args)
    if uid != 0:
        cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + cmd
    return cmd


def env(lab):
    return {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8', 'HOME': lab.dir,
            'DBUS_SYSTEM_BUS_ADDRESS': lab.bus_address or ''}


def _log(lab, args, uid, rc, out, err):
    with open(os.path.join(lab.dir, 'seatgatectl.log'), 'a', encoding='utf-8') as f:
        f.write(f'$ [uid {uid}] seatgatectl {" ".join(args)}\n[exit {rc}]\n{out}{err}\n')


def run(lab, args, uid=0, timeout=20, stdin=subprocess.DEVNULL):
    '''A CompletedProcess (text) of seatgatectl ARGS run as uid.'''
    r = subprocess.run(command(lab, args, uid), env=env(lab), capture_output=True, text=True,
                       timeout=timeout, stdin=stdin, cwd='/')
    _log(lab, args, uid, r.returncode, r.stdout, r.stderr)
    return r


def run_json(lab, args, uid=0, timeout=20):
    '''(exit status, the one JSON document seatgatectl printed).'''
    args = list(args)
    r = run(lab, args[:1] + ['--json'] + args[1:], uid, timeout)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise LabError(f'seatgatectl {args} printed {len(lines)} lines, not one JSON document: '
                       f'{r.stdout!r} {r.stderr!r}')
    return r.returncode, json.loads(lines[0])


def spawn(lab, args, uid=0):
    '''seatgatectl ARGS running in the background, stdout and stderr piped
    (read them with read_line). The lab does not know it: stop() it.'''
    proc = subprocess.Popen(command(lab, args, uid), env=env(lab), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd='/')
    proc.line_buffers = {'stdout': b'', 'stderr': b''}
    return proc


def read_line(proc, timeout=5.0, stream='stdout'):
    '''The next line seatgatectl prints on stream, or LabError.'''
    f = getattr(proc, stream)
    deadline = time.monotonic() + timeout
    while b'\n' not in proc.line_buffers[stream]:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([f], [], [], max(0, left))
        if not ready:
            raise LabError(f'seatgatectl printed no line on {stream} within {timeout} s '
                           f'(so far: {proc.line_buffers[stream]!r})')
        chunk = os.read(f.fileno(), 4096)
        if not chunk:
            raise LabError(f'seatgatectl closed its {stream} (exit {proc.poll()})')
        proc.line_buffers[stream] += chunk
    line, _, rest = proc.line_buffers[stream].partition(b'\n')
    proc.line_buffers[stream] = rest
    return line.decode()


def stop(proc, sig=None, timeout=5.0):
    '''Sends sig (SIGINT by default; 0: none, just wait), waits, returns
    (status, rest of stdout, stderr).'''
    import signal as _signal
    if proc.poll() is None and sig != 0:
        proc.send_signal(sig or _signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise LabError(f'seatgatectl did not exit within {timeout} s: {out!r} {err!r}')
    buffers = getattr(proc, 'line_buffers', {'stdout': b'', 'stderr': b''})
    return (proc.returncode, (buffers['stdout'] + out).decode(),
            (buffers['stderr'] + err).decode())
