'''The seat's VM binding (helper/vm-console.c) with a real QEMU 7.2: the
ticket the console sets is the only one that opens the SPICE console, a
lock drops the VM's clients and voids the ticket, and a VM that is stopped,
gone or started wrongly gives a clear error.'''

import os
import secrets
import signal
import time

from vmc_lab import EarlyEventRelay, Qemu, all_cmdlines, link, readline_within, spice_link_process


def test_the_ticket_the_console_set_opens_spice(console):
    r = console.op('ticket')
    assert r['ok'], r
    ticket = r['ticket']
    assert len(ticket) == 32 and '=' not in ticket
    res = link(ticket)
    assert res.linked, res
    res.sock.close()


def test_spice_refuses_no_ticket_an_old_one_and_a_guessed_one(console):
    first = console.op('ticket')['ticket']
    second = console.op('ticket')
    assert second['ok'], second
    for wrong in ('', first, secrets.token_urlsafe(24), second['ticket'][:-1] + 'A'):
        if wrong == second['ticket']:
            continue
        res = link(wrong)
        assert res.result == 'link-error:7', (wrong == first, res)
    res = link(second['ticket'])
    assert res.linked, res
    res.sock.close()


def test_each_ticket_is_new(console):
    tickets = [console.op('ticket')['ticket'] for _ in range(5)]
    assert len(set(tickets)) == 5
    for t in tickets:
        assert len(t) == 32
        assert set(t) <= set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')


def test_a_lock_drops_a_held_client_and_voids_the_ticket(console):
    r = console.op('ticket')
    ticket = r['ticket']
    start = time.monotonic()
    assert link(ticket).linked
    print(f'new_ticket took {r["ms"]:.1f} ms; the first link with it '
          f'{(time.monotonic() - start) * 1000:.1f} ms')
    client = spice_link_process(ticket)
    linked = readline_within(client, 5)
    assert '"linked"' in linked, linked
    console.event('initialized')

    asked = time.monotonic()
    lock = console.op('lock')
    assert lock['ok'], lock
    ended = readline_within(client, 5)
    eof_after = time.monotonic() - asked
    assert '"ended"' in ended and ('"eof"' in ended or '"reset"' in ended), ended
    assert client.wait(5) == 0
    print(f'lock took {lock["ms"]:.1f} ms; the held client saw the server close '
          f'{eof_after * 1000:.1f} ms after the lock was asked')
    assert eof_after < 2.0
    assert link(ticket).result == 'link-error:7'
    assert link('').result == 'link-error:7'


def test_a_lock_with_lock_keys_sends_them(console):
    r = console.op('lock-keys')
    assert r['ok'], r
    # the next grant's ticket still works after the keys went to the guest
    t = console.op('ticket')['ticket']
    res = link(t)
    assert res.linked, res
    res.sock.close()


def test_operations_run_in_the_order_asked(console):
    console.send('ticket-lock')
    ticket = console.next(lambda d: d.get('op') == 'ticket')
    lock = console.next(lambda d: d.get('op') == 'lock')
    assert ticket['ok'] and lock['ok'], (ticket, lock)
    assert console.seen.index(ticket) < console.seen.index(lock)
    # the lock landed after the ticket: the ticket no longer opens the VM
    assert link(ticket['ticket']).result == 'link-error:7'


def test_client_events_arrive_with_the_address(console):
    t = console.op('ticket')['ticket']
    res = link(t)
    assert res.linked
    port = res.local_port
    connected = console.event('connected')
    initialized = console.event('initialized')
    assert connected['address'] == f'127.0.0.1:{port}'
    assert initialized['address'] == f'127.0.0.1:{port}'
    res.sock.close()
    gone = console.event('disconnected')
    assert gone['address'] == f'127.0.0.1:{port}'


def test_a_refused_link_is_seen_as_connected_then_disconnected_never_initialized(console):
    res = link('wrong')
    assert res.result == 'link-error:7'
    console.event('disconnected')
    assert not [d for d in console.seen if d.get('kind') == 'initialized']


def test_a_stopped_vm_fails_the_op_after_the_timeout_and_the_next_op_works(vm, console):
    vm.stop_signal(signal.SIGSTOP)
    try:
        r = console.op('ticket', timeout=10)
    finally:
        vm.stop_signal(signal.SIGCONT)
    assert not r['ok'], r
    print(f'a stopped VM: the op failed after {r["ms"]:.0f} ms: {r["error"]}')
    assert 2900 <= r['ms'] <= 3700
    assert vm.qmp_path in r['error']
    assert 'no answer within 3000 ms' in r['error']
    assert 'is the VM running and started as docs/vm-binding.md says' in r['error']
    again = console.op('ticket')
    assert again['ok'], again
    res = link(again['ticket'])
    assert res.linked, res
    res.sock.close()


def test_an_op_queued_behind_a_stuck_one_fails_one_timeout_after_it_was_asked(vm, console):
    vm.stop_signal(signal.SIGSTOP)
    try:
        console.send('lock-ticket')
        lock = console.next(lambda d: d.get('op') == 'lock', timeout=10)
        ticket = console.next(lambda d: d.get('op') == 'ticket', timeout=10)
    finally:
        vm.stop_signal(signal.SIGCONT)
    print(f'a stopped VM: the lock failed after {lock["ms"]:.0f} ms, the ticket queued behind '
          f'it after {ticket["ms"]:.0f} ms')
    assert not lock['ok'] and not ticket['ok'], (lock, ticket)
    # one bound from the ask, not one per operation ahead of it
    assert 2900 <= ticket['ms'] <= 3700, ticket
    assert 'no answer within 3000 ms' in ticket['error'], ticket
    again = console.op('ticket')
    assert again['ok'], again


def test_a_vm_that_is_gone_is_a_clear_error_and_a_restarted_one_is_reached_again(
        vm, console, folder):
    vm.kill()
    r = console.op('ticket')
    assert not r['ok'], r
    assert vm.qmp_path in r['error'] and 'cannot connect' in r['error'], r
    assert 'is the VM running' in r['error']
    lock = console.op('lock')
    assert not lock['ok']

    again = Qemu(folder, vm.qmp_path, name='vmc2').start()
    try:
        console.event('reachable')
        t = console.op('ticket')
        assert t['ok'], t
        res = link(t['ticket'])
        assert res.linked, res
        res.sock.close()
    finally:
        again.kill()


def test_the_console_reaches_a_vm_started_after_it(folder, qmp_path, make_console):
    tool = make_console(wait_reachable=False)
    r = tool.op('ticket')
    assert not r['ok'] and 'cannot connect' in r['error'], r
    vm = Qemu(folder, qmp_path).start()
    try:
        tool.event('reachable')
        assert tool.op('lock')['ok']
    finally:
        vm.kill()


def test_an_event_before_the_greeting_is_passed_over(vm, folder, make_console):
    relay = EarlyEventRelay(os.path.join(folder, 'relay.qmp'), vm.qmp_path)
    try:
        tool = make_console(path=relay.path)
        t = tool.op('ticket')
        assert t['ok'], t
        assert relay.clients == 1
        res = link(t['ticket'])
        assert res.linked, res
        res.sock.close()
    finally:
        relay.close()


def test_a_vm_with_disable_ticketing_is_a_clear_error(folder, qmp_path, make_console):
    vm = Qemu(folder, qmp_path, ticketing=False).start()
    try:
        tool = make_console()
        r = tool.op('ticket')
        assert not r['ok'], r
        assert 'QEMU refused a new SPICE password' in r['error'], r
        assert 'disable-ticketing' in r['error'] and 'password-secret' in r['error'], r
        lock = tool.op('lock')
        assert not lock['ok'] and 'disable-ticketing' in lock['error'], lock
    finally:
        vm.kill()


def test_the_ticket_is_on_no_command_line_and_in_no_log(console, vm):
    t = console.op('ticket')['ticket']
    client = spice_link_process(t)
    assert '"linked"' in readline_within(client, 5)
    try:
        assert not [c for c in all_cmdlines() if t in c]
    finally:
        client.kill()
        client.wait()
    console.op('lock')
    console.close()
    assert t not in console.log()
    assert t not in vm.log()


def test_freeing_the_console_cancels_waiting_ops(vm, console):
    vm.stop_signal(signal.SIGSTOP)
    try:
        console.send('free')
        lock = console.next(lambda d: d.get('op') == 'lock', timeout=2)
        ticket = console.next(lambda d: d.get('op') == 'ticket', timeout=2)
    finally:
        vm.stop_signal(signal.SIGCONT)
    assert not lock['ok'] and lock['cancelled'], lock
    assert not ticket['ok'] and ticket['cancelled'], ticket
    assert console.proc.wait(5) == 0
