'''Seat flapping (issue 4, fault 6): seat0's active session switches 1,000
times between two users, as fast as the logind stand-in can emit, each user
with the real agent asking whenever its session becomes active. At no
sampled moment do both hold the port (kernel set and Grants property); at
the end exactly the final owner holds it, and Grants matches the kernel.'''

import os
import threading
import time

from gi.repository import Gio, GLib

from faults_lab import LOOPBACKS, SETTLE, report
from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, GATE_IFACE, GATE_NAME, GATE_PATH,
                          INACTIVE_SESSION, INACTIVE_UID, LOGIND_NAME, LOGIND_PATH, MOCK_IFACE,
                          NOBODY_UID, BusClient, wait_until)

SWITCHES = 1000


class Sampler(threading.Thread):
    '''Reads the kernel set and the Grants property in a loop.'''

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab = lab
        self.client = BusClient(lab.bus_address)
        self.stop_flag = threading.Event()
        self.samples = 0
        self.both = []       # (time, where, what) of every sample holding both uids
        self.error = None

    def run(self):
        try:
            while not self.stop_flag.is_set():
                kernel = self.lab.granted_set()
                uids = {uid for uid, _port in kernel or ()}
                if {CONSOLE_UID, INACTIVE_UID} <= uids:
                    self.both.append((time.monotonic(), 'kernel', sorted(kernel)))
                grants = self.client.get_property(GATE_NAME, GATE_PATH, GATE_IFACE, 'Grants')
                if {CONSOLE_UID, INACTIVE_UID} <= {uid for _s, uid, _p in grants}:
                    self.both.append((time.monotonic(), 'Grants', grants))
                self.samples += 1
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stop_flag.set()
        self.join(30)
        self.client.close()


# Switches on their way at once: the stand-in always has the next ones
# queued, just under the bus's limit of pending replies per connection (128
# on a system bus).
IN_FLIGHT = 120


def flap(bus_address, switches):
    '''Sends the switches pipelined on one connection, in order, and waits
    for the stand-in to have done them all. Returns (seconds, errors).'''
    ctx = GLib.MainContext.new()
    ctx.push_thread_default()
    try:
        conn = Gio.DBusConnection.new_for_address_sync(
            bus_address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        state = {'sent': 0, 'done': 0}
        errors = []

        def send():
            i = state['sent']
            state['sent'] += 1
            session = INACTIVE_SESSION if i % 2 == 0 else CONSOLE_SESSION
            conn.call(LOGIND_NAME, LOGIND_PATH, MOCK_IFACE, 'SetActiveSession',
                      GLib.Variant('(ss)', ('seat0', session)), None, Gio.DBusCallFlags.NONE,
                      120_000, None, done, None)

        def done(c, result, _data):
            state['done'] += 1
            try:
                c.call_finish(result)
            except GLib.Error as e:
                errors.append(e.message)
            if state['sent'] < switches:
                send()

        start = time.monotonic()
        while state['sent'] < min(IN_FLIGHT, switches):
            send()
        while state['done'] < switches:
            ctx.iteration(True)
        took = time.monotonic() - start
        conn.close_sync(None)
        return took, errors
    finally:
        ctx.pop_thread_default()


def test_seat_flapping_ends_with_exactly_the_final_owner_granted(lab):
    assert SWITCHES % 2 == 0   # the last switch goes back to the console session
    helper = lab.start_helper()
    lab.start_agent(CONSOLE_UID, CONSOLE_SESSION)
    lab.start_agent(INACTIVE_UID, INACTIVE_SESSION)
    wait_until(lambda: lab.gate.grants() == [('seat0', CONSOLE_UID, [5930])], SETTLE,
               what='the console agent\'s grant')
    alice = lab.actor(CONSOLE_UID, bus=False)
    carol = lab.actor(INACTIVE_UID, bus=False)
    for host in LOOPBACKS:
        assert alice.connect(host) == 'ok'
        assert carol.connect(host) == 'refused'
    # Someone at neither session never gets in, however the seat flaps.
    nobody = lab.prober(NOBODY_UID, interval=0.002)

    sampler = Sampler(lab)
    sampler.start()
    mark = lab.gate.mark()
    took, errors = flap(lab.bus_address, SWITCHES)
    flapped = time.monotonic()
    assert errors == [], errors[:5]

    final = [('seat0', CONSOLE_UID, [5930])]

    def settled():
        return lab.gate.grants() == final and lab.granted_set() == {(CONSOLE_UID, 5930)}
    wait_until(settled, 30, interval=0.02, what='exactly the final owner to hold the grant')
    settle_s = time.monotonic() - flapped
    time.sleep(1.0)   # and it stays so: nothing late undoes it
    sampler.finish()
    assert sampler.error is None, sampler.error
    assert settled(), (lab.gate.grants(), lab.granted_set())

    agent_logs = ''.join(lab.read(proc.lab_log_path) for name, proc in lab.spawned
                         if name.startswith('agent-'))
    granted = lab.gate.signals('Granted', since=mark)
    revoked = lab.gate.signals('Revoked', since=mark)
    report('seat flapping', switches=SWITCHES, flap_s=took, settle_after_last_switch_s=settle_s,
           samples=sampler.samples, both_seen=len(sampler.both), granted_signals=len(granted),
           revoked_signals=len(revoked),
           agent_read_failures=agent_logs.count('Could not read session'),
           agent_limits_exceeded=agent_logs.count('LimitsExceeded'))
    assert sampler.samples >= 10, f'only {sampler.samples} samples'
    # Neither agent nor helper piled up calls until the bus refused them.
    assert 'LimitsExceeded' not in agent_logs
    assert 'pending replies' not in lab.read(os.path.join(lab.dir, 'dbus-daemon.log'))
    assert sampler.both == [], f'both users held the port at once: {sampler.both[:5]}'

    assert lab.logind.seat_props('seat0')['ActiveSession'][0] == CONSOLE_SESSION
    assert set(nobody.outcomes()) == {'refused'}, nobody.outcomes()
    for host in LOOPBACKS:
        assert alice.connect(host) == 'ok'
        assert carol.connect(host) == 'refused'
    assert helper.running()
