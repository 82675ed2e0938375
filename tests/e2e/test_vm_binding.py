'''The seat's VM itself told who may connect (a seat's QMPSocket=): the real
helper in front of a real QEMU with SPICE and its own QMP socket, started as
docs/vm-binding.md says. Each grant sets a new ticket that only the holding
connection learns; each revoke, and the helper's stop, leaves the VM locked.'''

import glob
import json
import os
import pwd
import re
import secrets
import signal
import time

import pytest

from e2e_lab import VM, HeldLink, spice_link
from seatgate_lab import (console_ticket, helper_logs,
                          ALWAYS_UID, CONSOLE_UID, ERR_FAILED, ERR_NOT_SEAT_OWNER, INACTIVE_SESSION,
                          INACTIVE_UID, REMOTE_UID, wait_until)

HOST = '127.0.0.1'
WRONG_TICKET = 'link-error:7'  # SPICE_LINK_ERR_PERMISSION_DENIED


@pytest.fixture
def qvm(lab):
    machine = VM(lab, addr='::', qmp=True).start()
    machine.wait_listening()
    yield machine
    try:
        os.kill(machine.proc.pid, signal.SIGCONT)  # a test may leave it stopped
    except ProcessLookupError:
        pass
    machine.stop()


def start_bound_helper(lab, vm, always_allow=()):
    lab.write_config(always_allow=always_allow, extra=f'QMPSocket={vm.qmp_path}\n')
    return lab.start_helper()


def test_the_holder_alone_learns_a_fresh_ticket_and_only_that_ticket_opens_the_vm(lab, qvm):
    start_bound_helper(lab, qvm)
    alice = lab.actor(CONSOLE_UID)
    asked = time.monotonic()
    assert alice.grant().ok
    ticket = console_ticket(alice)
    assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
    print(f'Grant() asked to a linked SPICE session with the ticket: '
          f'{(time.monotonic() - asked) * 1000:.0f} ms')
    for wrong in ('', secrets.token_urlsafe(24), ticket[:-1] + ('A' if ticket[-1] != 'A' else 'B')):
        assert spice_link(lab, CONSOLE_UID, HOST, password=wrong)['result'] == WRONG_TICKET
    # another connection of hers, and anyone else, must Grant() first
    for other in (lab.actor(CONSOLE_UID), lab.actor(REMOTE_UID)):
        assert other.call('OpenConsole').error == ERR_NOT_SEAT_OWNER


def test_a_second_connection_of_the_holder_shares_the_ticket_and_a_new_grant_gets_a_new_one(
        lab, qvm):
    start_bound_helper(lab, qvm)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    first = console_ticket(alice)
    ctl = lab.actor(CONSOLE_UID)
    assert ctl.grant().ok
    assert console_ticket(ctl) == first, 'a second holder of the same grant must not void the first'
    assert alice.release().ok and ctl.release().ok
    assert alice.grant().ok
    second = console_ticket(alice)
    assert second != first
    assert spice_link(lab, CONSOLE_UID, HOST, password=first)['result'] == WRONG_TICKET
    assert spice_link(lab, CONSOLE_UID, HOST, password=second)['result'] == 'linked'


def test_a_seat_switch_makes_the_vm_drop_its_client_and_void_the_ticket(lab, qvm):
    # uid ALWAYS_UID passes the firewall whatever the grants: what ends its
    # SPICE session here is the VM itself
    start_bound_helper(lab, qvm, always_allow=(ALWAYS_UID,))
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    mark = lab.gate.mark()
    held = HeldLink(lab, ALWAYS_UID, HOST, password=ticket)
    assert held.linked, held.first
    # QEMU may tell SPICE_INITIALIZED after the client has its link reply, and
    # the audit record names who holds the seat when the helper hears it: the
    # switch waits for it
    wait_until(lambda: any(e[2] == 'initialized' for e in
                           (args for _m, args in lab.gate.signals('ConsoleClient', since=mark))),
               3.0, what='the VM\'s initialized event')
    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    ended = held.wait_ended(5.0)
    assert ended is not None and ended['result'] == 'ended', ended
    print(f'seat switch to the VM closing its SPICE client: {(time.monotonic() - switched) * 1000:.0f} ms')
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == WRONG_TICKET

    wait_until(lambda: any(e[2] == 'disconnected' for e in
                           (args for _m, args in lab.gate.signals('ConsoleClient', since=mark))),
               3.0, what='the VM\'s disconnect event')
    events = [args for _m, args in lab.gate.signals('ConsoleClient', since=mark)]
    assert ('seat0', CONSOLE_UID, 'connected') == events[0][:3], events
    assert any(e[:3] == ('seat0', CONSOLE_UID, 'initialized') for e in events), events
    assert all(e[3].rsplit(':', 1)[1].isdigit() for e in events), events

    # the new owner gets a ticket of her own
    carol = lab.actor(INACTIVE_UID)
    assert carol.grant().ok
    assert console_ticket(carol) != ticket


def test_the_ticket_is_in_no_log_and_on_no_command_line(lab, qvm):
    start_bound_helper(lab, qvm)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
    assert ticket not in helper_logs(lab)
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as f:
                assert ticket.encode() not in f.read(), path
        except (FileNotFoundError, ProcessLookupError):
            pass


def test_a_vm_that_is_gone_refuses_the_grant_and_says_what_to_do(lab, qvm):
    start_bound_helper(lab, qvm)
    qvm.stop()
    reply = lab.actor(CONSOLE_UID).grant()
    assert reply.error == ERR_FAILED, reply
    assert 'could not be given a new ticket' in reply.message, reply.message
    assert qvm.qmp_path in reply.message, reply.message
    assert lab.gate.grants() == []


def test_a_stopped_vm_refuses_the_grant_within_the_bound(lab, qvm):
    start_bound_helper(lab, qvm)
    os.kill(qvm.proc.pid, signal.SIGSTOP)
    asked = time.monotonic()
    reply = lab.actor(CONSOLE_UID).grant()
    took = time.monotonic() - asked
    print(f'Grant() with a SIGSTOPped VM refused after {took:.2f} s')
    assert reply.error == ERR_FAILED, reply
    assert 'could not be given a new ticket' in reply.message, reply.message
    # One bound (SG_VM_CONSOLE_TIMEOUT_MS, 3 s) from the ask, and a margin.
    assert took < 4.5
    assert lab.gate.grants() == []
    os.kill(qvm.proc.pid, signal.SIGCONT)
    # the VM answers again: the next grant works
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert spice_link(lab, CONSOLE_UID, HOST, password=console_ticket(alice))['result'] == 'linked'


def test_the_helper_leaves_the_vm_locked_when_it_stops(lab, qvm):
    helper = start_bound_helper(lab, qvm, always_allow=(ALWAYS_UID,))
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    held = HeldLink(lab, ALWAYS_UID, HOST, password=ticket)
    assert held.linked, held.first
    helper.stop()
    ended = held.wait_ended(5.0)
    assert ended is not None and ended['result'] == 'ended', ended
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == WRONG_TICKET


def test_seatgatectl_monitor_shows_the_vms_clients_with_who_held_the_seat(lab, qvm):
    import ctl
    start_bound_helper(lab, qvm)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    mon = ctl.spawn(lab, ['monitor'])
    monj = ctl.spawn(lab, ['monitor', '--json'])
    try:
        assert 'seatgate-helper is running' in ctl.read_line(mon)
        assert json.loads(ctl.read_line(monj))['event'] == 'helper-is-running'
        assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
        held_by = f'while {pwd.getpwuid(CONSOLE_UID).pw_name} ({CONSOLE_UID}) held the seat'
        seen = {}
        while 'disconnected' not in seen:
            line = ctl.read_line(mon)
            m = re.fullmatch(r'\S+ \S+ seat0 vm-client (\w+) (\S+):(\d+) (.*)', line)
            assert m, line
            assert m.group(4) == held_by, line
            seen[m.group(1)] = m.group(2)
        assert set(seen) == {'connected', 'initialized', 'disconnected'}, seen
        # the VM listens on [::]: a v4 client is a mapped address, in brackets
        assert all(host in ('127.0.0.1', '[::ffff:127.0.0.1]') for host in seen.values()), seen
        first = json.loads(ctl.read_line(monj))
        assert first['event'] == 'vm-client' and first['client_event'] == 'connected', first
        assert (first['seat'], first['uid']) == ('seat0', CONSOLE_UID), first
        assert first['user'] == pwd.getpwuid(CONSOLE_UID).pw_name, first
        assert first['address'].rsplit(':', 1)[1].isdigit(), first
    finally:
        status, _out, err = ctl.stop(mon)
        ctl.stop(monj)
    assert status == 0, err
