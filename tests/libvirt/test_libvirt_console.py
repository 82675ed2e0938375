'''The seat's VM binding through libvirt (LibvirtDomain=, helper/vm-libvirt.c)
with a real libvirtd and a real QEMU it started: the ticket the console sets
through virDomainUpdateDeviceFlags is the only one that opens the SPICE
console, a lock drops the VM's clients and voids the ticket, libvirt's
graphics events arrive as client events, and a libvirtd that is gone or
stopped gives a clear error within the bound.'''

import secrets
import signal
import time

from libvirt_lab import DOMAIN, wait_until
from vmc_lab import LabError, all_cmdlines, link, readline_within, spice_link_process

WRONG = 'link-error:7'  # SPICE_LINK_ERR_PERMISSION_DENIED


def test_the_domain_starts_locked(domain):
    # docs/vm-binding.md's domain: a random passwd, expired from the start
    assert link('').result == WRONG
    xml = domain.virsh('dumpxml', '--security-info', DOMAIN).stdout
    password = xml.split("passwd='", 1)[1].split("'", 1)[0]
    assert link(password).result == WRONG


def test_the_ticket_the_console_set_opens_spice(console):
    r = console.op('ticket')
    assert r['ok'], r
    print(f'a ticket through libvirt took {r["ms"]:.1f} ms')
    assert len(r['ticket']) == 32
    res = link(r['ticket'])
    assert res.linked, res
    res.sock.close()


def test_spice_refuses_no_ticket_an_old_one_and_a_guessed_one(console):
    first = console.op('ticket')['ticket']
    second = console.op('ticket')
    assert second['ok'], second
    assert second['ticket'] != first
    for wrong in ('', first, secrets.token_urlsafe(24), second['ticket'][:-1] + 'A'):
        if wrong == second['ticket']:
            continue
        assert link(wrong).result == WRONG, wrong == first
    res = link(second['ticket'])
    assert res.linked, res
    res.sock.close()


def test_the_live_graphics_element_keeps_its_listen_address(console, domain):
    # libvirt drops a <listen> child missing from the update: the element
    # sent is the live one, changed only in its password attributes
    console.op('ticket')
    console.op('lock')
    xml = domain.virsh('dumpxml', DOMAIN).stdout
    graphics = xml.split('<graphics', 1)[1].split('</graphics>', 1)[0]
    assert "listen='127.0.0.1'" in graphics, graphics
    assert "<listen type='address' address='127.0.0.1'/>" in graphics, graphics
    assert "port='5930'" in graphics and "autoport='no'" in graphics, graphics
    assert "passwdValidTo='1970-01-01T00:00:00'" in graphics, graphics


def test_a_lock_drops_a_held_client_and_voids_the_ticket(console):
    ticket = console.op('ticket')['ticket']
    client = spice_link_process(ticket)
    assert '"linked"' in readline_within(client, 5)
    console.event('initialized')
    asked = time.monotonic()
    lock = console.op('lock')
    assert lock['ok'], lock
    ended = readline_within(client, 5)
    after = time.monotonic() - asked
    assert '"ended"' in ended and ('"eof"' in ended or '"reset"' in ended), ended
    assert client.wait(5) == 0
    print(f'lock through libvirt took {lock["ms"]:.1f} ms; the held client saw the server '
          f'close {after * 1000:.1f} ms after the lock was asked')
    assert after < 2.0
    assert link(ticket).result == WRONG
    assert link('').result == WRONG


def test_a_lock_with_lock_keys_sends_them(console):
    r = console.op('lock-keys')
    assert r['ok'], r
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
    assert link(ticket['ticket']).result == WRONG


def test_graphics_events_arrive_as_client_events_with_the_address(console):
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


def test_the_ticket_is_on_no_command_line_and_in_no_log(console, domain):
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
    assert t not in domain.log()


def test_libvirtd_gone_refuses_with_the_uri_and_domain_and_a_new_one_is_reached(console,
                                                                                  domain):
    domain.stop()
    r = console.op('ticket')
    assert not r['ok'], r
    print(f'libvirtd gone: {r["error"]} ({r["ms"]:.0f} ms)')
    assert domain.uri in r['error'] and f'libvirt domain {DOMAIN}' in r['error'], r
    assert 'is libvirtd' in r['error'], r
    assert not console.op('lock')['ok']
    # the domain kept running without libvirtd; a new libvirtd finds it
    domain.start()
    t = console.op('ticket')
    assert t['ok'], t
    res = link(t['ticket'])
    assert res.linked, res
    res.sock.close()


def test_a_stopped_libvirtd_fails_the_op_within_the_bound_and_the_next_op_works(console,
                                                                                 domain):
    domain.signal(signal.SIGSTOP)
    try:
        console.send('lock-ticket')
        lock = console.next(lambda d: d.get('op') == 'lock', timeout=10)
        ticket = console.next(lambda d: d.get('op') == 'ticket', timeout=10)
    finally:
        domain.signal(signal.SIGCONT)
    print(f'a stopped libvirtd: the lock failed after {lock["ms"]:.0f} ms, the ticket '
          f'after {ticket["ms"]:.0f} ms: {ticket["error"]}')
    assert not lock['ok'] and not ticket['ok'], (lock, ticket)
    assert 2900 <= ticket['ms'] <= 3700, ticket
    assert 'no answer within 3000 ms' in ticket['error'], ticket
    assert domain.uri in ticket['error'], ticket
    again = console.op('ticket', timeout=15)
    assert again['ok'], again
    res = link(again['ticket'])
    assert res.linked, res
    res.sock.close()


def test_graphics_events_resume_after_libvirtd_stopped_answering(console, domain):
    # libvirt's keepalive ends the connection to a stopped libvirtd; the
    # console connects again by itself, so the audit does not wait for the
    # next grant
    domain.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: 'the connection ended' in console.log(), 10,
                   'keepalive to end the connection')
    finally:
        domain.signal(signal.SIGCONT)
    start = time.monotonic()
    wait_until(lambda: spice_client_seen(console), 10, 'a graphics event on the new connection')
    print(f'graphics events again {(time.monotonic() - start) * 1000:.0f} ms after SIGCONT')
    assert not [d for d in console.seen if 'op' in d], console.seen


def spice_client_seen(console):
    '''A refused SPICE link makes libvirt send graphics events: True once
    the console reports one.'''
    res = link('wrong', timeout=1.0)
    assert res.result == WRONG, res
    try:
        console.event('disconnected', timeout=0.5)
        return True
    except LabError:
        return False


def test_graphics_events_resume_when_a_libvirtd_that_was_gone_comes_back(console, domain):
    # A libvirtd restarted without socket activation: the connection ends,
    # connecting again fails while it is away, and the folder monitor sees
    # the next one create its socket.
    domain.stop()
    wait_until(lambda: 'the connection ended' in console.log(), 10,
               'the console to see the connection end')
    assert not spice_client_seen(console)
    domain.start()
    start = time.monotonic()
    wait_until(lambda: spice_client_seen(console), 10, 'a graphics event on the new connection')
    print(f'graphics events again {(time.monotonic() - start) * 1000:.0f} ms after the new '
          'libvirtd listened')
    assert not [d for d in console.seen if 'op' in d], console.seen


def test_a_libvirtd_started_after_the_console_is_reached_without_an_op(domain, make_console):
    # At boot the helper may start before libvirtd: its first connection,
    # and with it the lock of a domain found running, must not wait for
    # the next grant.
    domain.stop()
    tool = make_console(wait_reachable=False)
    wait_until(lambda: 'cannot connect to libvirt' in tool.log(), 10,
               'the first connection to fail')
    domain.start()
    start = time.monotonic()
    tool.event('reachable', timeout=10)
    print(f'reachable {(time.monotonic() - start) * 1000:.0f} ms after libvirtd listened')
    assert not [d for d in tool.seen if 'op' in d], tool.seen


def test_a_domain_that_is_not_running_is_a_clear_error_and_its_start_is_seen(libvirtd,
                                                                           make_console):
    tool = make_console(wait_reachable=False)
    r = tool.op('ticket')
    assert not r['ok'], r
    assert 'no such domain' in r['error'] or 'not running' in r['error'], r
    libvirtd.create_domain()
    tool.event('reachable')
    assert tool.op('lock')['ok']
    t = tool.op('ticket')
    assert t['ok'], t
    res = link(t['ticket'])
    assert res.linked, res
    res.sock.close()


def test_a_domain_without_a_spice_password_is_a_clear_error(libvirtd, make_console):
    libvirtd.create_domain(with_password=False)
    tool = make_console()
    r = tool.op('ticket')
    print(f'a domain without passwd: {r.get("error")}')
    assert not r['ok'], r
    assert 'without passwd=' in r['error'] and 'docs/vm-binding.md' in r['error'], r
    assert not tool.op('lock')['ok']


def test_a_domain_without_spice_graphics_is_a_clear_error(libvirtd, make_console):
    libvirtd.create_domain(spice=False, with_password=False)
    tool = make_console()
    r = tool.op('ticket')
    assert not r['ok'], r
    assert "no <graphics type='spice'>" in r['error'], r
