'''The helper hangs (issue 4, fault 2).

systemd is not PID 1 here, so the test stands in for it: a datagram socket
as NOTIFY_SOCKET, WATCHDOG_USEC in the helper's environment, and, for the
kill, what systemd does when the pings stop (WatchdogSignal=SIGABRT, then the
unit's ExecStopPost=seatgate-helper --reset). The unit file's own settings
are checked too.'''

import os
import re
import signal
import time

import pytest

from faults_lab import LOOPBACKS, SETTLE, FakeNotifySocket, report
from seatgate_lab import (CONSOLE_UID, INACTIVE_SESSION, INACTIVE_UID, NOBODY_UID, SEAT1_UID,
                          SOURCE_DIR)

# Pings come every WATCHDOG_USEC / 2: a second leaves a loaded machine half
# a second of slack before a ping counts as late.
WATCHDOG_USEC = 1_000_000
WATCHDOG_S = WATCHDOG_USEC / 1e6


def watched_helper(lab, extra_env=None):
    notify = FakeNotifySocket(lab.dir)
    env = {'NOTIFY_SOCKET': notify.path, 'WATCHDOG_USEC': str(WATCHDOG_USEC)}
    env.update(extra_env or {})
    helper = lab.start_helper(env=env)
    assert notify.wait_for('READY=1', SETTLE) is not None, 'no READY=1'
    return helper, notify


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def test_helper_pings_the_watchdog_only_while_its_main_loop_turns(lab):
    helper, notify = watched_helper(lab)
    start = time.monotonic()
    notify.collect(3 * WATCHDOG_S)
    running = notify.pings(start)
    assert len(running) >= 5, \
        f'{len(running)} pings in {3 * WATCHDOG_S} s with WATCHDOG_USEC={WATCHDOG_USEC}'
    assert max(gaps(running)) < WATCHDOG_S, f'pings too far apart: {gaps(running)}'

    os.kill(helper.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    notify.collect(2.5 * WATCHDOG_S)
    # A ping already sent when it stopped may still be read; none after.
    hung = [t for t in notify.pings(stopped) if t > stopped + 0.05]
    os.kill(helper.pid, signal.SIGCONT)
    resumed = time.monotonic()
    assert hung == [], f'{len(hung)} pings while the helper was stopped'

    notify.collect(2 * WATCHDOG_S)
    after = notify.pings(resumed)
    assert len(after) >= 3, 'the pings did not resume after SIGCONT'
    report('watchdog pings', interval_max_s=max(gaps(running)), pings_while_stopped=len(hung),
           first_ping_after_cont_s=after[0] - resumed)

    mark = len(notify.messages)
    assert helper.stop(signal.SIGTERM) == 0
    assert notify.wait_for('STOPPING=1', SETTLE, since=mark) is not None, 'no STOPPING=1'
    notify.close()


def test_hung_helper_is_killed_by_the_watchdog_and_the_stop_action_ends_every_grant(lab):
    helper, notify = watched_helper(lab)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    alice_conn = alice.open('::1')
    hammer = lab.prober(INACTIVE_UID, hold=16)

    os.kill(helper.pid, signal.SIGSTOP)
    hung_at = time.monotonic()
    # While it hangs, the seat switches: nobody is left to revoke.
    lab.logind.activate(INACTIVE_SESSION)
    switched = time.monotonic()

    # The service manager's part: no ping within WATCHDOG_USEC -> SIGABRT
    # (systemd sends SIGCONT along), then ExecStopPost.
    last_ping = hung_at
    while True:
        notify.collect(0.05)
        last_ping = max([last_ping] + notify.pings())
        if time.monotonic() - last_ping > WATCHDOG_S:
            break
        assert time.monotonic() - hung_at < SETTLE, 'pings go on while the helper is stopped'
    os.kill(helper.pid, signal.SIGABRT)
    os.kill(helper.pid, signal.SIGCONT)
    status = helper.proc.wait(SETTLE)
    assert status == -signal.SIGABRT, status
    r = lab.run_helper(lab.config_path, args=('--reset',))
    assert r.returncode == 0, r
    revoked = time.monotonic()

    assert lab.granted_set() == set(), 'a grant outlived the hung helper'
    assert lab.nft_table() is not None
    for host in LOOPBACKS:
        assert alice.connect(host) == 'refused'
        assert lab.actor(NOBODY_UID, bus=False).connect(host) == 'refused'
    assert alice_conn.wait_closed(2.0), 'the console user\'s connection outlived the reset'
    windows = hammer.windows()
    assert windows == [], f'uid {INACTIVE_UID} got in: {windows}'
    report('hung helper', seat_switch_to_revocation_s=revoked - switched,
           watchdog_usec=WATCHDOG_USEC)
    # The unit's WatchdogSec=5 makes that at most ~5 s plus the reset.


def test_watchdog_is_left_alone_when_watchdog_pid_names_another_process(lab):
    _helper, notify = watched_helper(lab, {'WATCHDOG_PID': '1'})
    notify.collect(2 * WATCHDOG_S)
    assert notify.pings() == []


def unit_settings():
    with open(os.path.join(SOURCE_DIR, 'data', 'seatgate.service.in'), encoding='utf-8') as f:
        text = f.read()
    settings = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+)=(.*)$', line)
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    return settings


def test_unit_kills_a_hung_helper_and_resets_after_every_stop():
    s = unit_settings()
    assert int(s['WatchdogSec'][0]) > 0
    assert s['NotifyAccess'] == ['main']
    assert any(v.split()[-1] == '--reset' and 'seatgate-helper' in v for v in s['ExecStopPost'])
    assert s['Restart'] == ['on-failure']
    # AF_UNIX also carries the sd_notify datagrams; AF_NETLINK the table.
    assert {'AF_UNIX', 'AF_NETLINK'} <= set(s['RestrictAddressFamilies'][0].split())


@pytest.mark.parametrize('config', ['good', 'broken'])
def test_reset_option_ends_every_grant(lab, config):
    '''The unit's stop action, after a crash or a watchdog kill: every seat's
    grant ends, also when the config has meanwhile become unreadable.'''
    lab.logind.add_session('10', SEAT1_UID, seat='seat1', active=True)
    lab.listen(5940)
    good = lab.write_config(seats={'seat0': '5930', 'seat1': '5940'})
    helper = lab.start_helper(good)
    alice, dave = lab.actor(CONSOLE_UID), lab.actor(SEAT1_UID)
    assert alice.grant().ok and dave.grant().ok
    helper.stop(signal.SIGKILL)
    assert lab.granted_set() == {(CONSOLE_UID, 5930), (SEAT1_UID, 5940)}

    path = good if config == 'good' else lab.write_file('broken.conf', '[Seat seat0]\nPorts=nope\n')
    r = lab.run_helper(path, args=('--reset',))
    if config == 'good':
        assert r.returncode == 0, r
    else:
        assert r.returncode != 0, r
        assert 'broken.conf' in r.stderr, r.stderr
    assert lab.granted_set() == set(), f'--reset left a grant: {r.stderr}'
    assert lab.nft_table() is not None
    for host in LOOPBACKS:
        assert alice.connect(host, 5930) == 'refused'
        assert dave.connect(host, 5940) == 'refused'
