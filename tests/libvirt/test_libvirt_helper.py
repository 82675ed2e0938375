'''The real helper with a seat bound to a libvirt domain (LibvirtDomain=,
LibvirtURI=): a real libvirtd in the sandbox, its TCG domain serving SPICE
on 127.0.0.1:5930, the lab's logind and polkit stand-ins. Each grant sets a
ticket through libvirt that only the holding connection learns; a seat
switch makes the VM drop its client; libvirt's graphics events become
ConsoleClient signals with the uid that held the grant; a libvirtd that is
gone or stopped refuses the grant, and the port stays closed.'''

import glob
import signal
import time

import pytest

from e2e_lab import HeldLink, spice_link
from libvirt_lab import DOMAIN, Libvirtd
from seatgate_lab import (console_ticket, helper_logs,
                          ALWAYS_UID, CONSOLE_UID, ERR_FAILED, ERR_NOT_SEAT_OWNER,
                          INACTIVE_SESSION, INACTIVE_UID, REMOTE_UID, wait_until)

HOST = '127.0.0.1'
WRONG_TICKET = 'link-error:7'  # SPICE_LINK_ERR_PERMISSION_DENIED


@pytest.fixture
def daemon(lab, folder, request):
    d = Libvirtd(folder).start()
    d.create_domain()
    yield d
    if getattr(request.node, 'failed', False):
        print('--- libvirtd and QEMU logs ---\n' + d.log())
    d.close()


def start_bound_helper(lab, daemon, always_allow=()):
    lab.write_config(always_allow=always_allow,
                     extra=f'LibvirtDomain={DOMAIN}\nLibvirtURI={daemon.uri}\n')
    return lab.start_helper()


def test_the_holder_alone_learns_a_ticket_that_opens_the_domain(lab, daemon):
    start_bound_helper(lab, daemon)
    alice = lab.actor(CONSOLE_UID)
    asked = time.monotonic()
    assert alice.grant().ok
    ticket = console_ticket(alice)
    assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
    print(f'Grant() through libvirt to a linked SPICE session: '
          f'{(time.monotonic() - asked) * 1000:.0f} ms')
    for wrong in ('', ticket[:-1] + ('A' if ticket[-1] != 'A' else 'B')):
        assert spice_link(lab, CONSOLE_UID, HOST, password=wrong)['result'] == WRONG_TICKET
    for other in (lab.actor(CONSOLE_UID), lab.actor(REMOTE_UID)):
        assert other.call('OpenConsole').error == ERR_NOT_SEAT_OWNER


def test_a_new_grant_gets_a_new_ticket_and_the_old_one_is_void(lab, daemon):
    start_bound_helper(lab, daemon)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    first = console_ticket(alice)
    assert alice.release().ok
    assert alice.grant().ok
    second = console_ticket(alice)
    assert second != first
    assert spice_link(lab, CONSOLE_UID, HOST, password=first)['result'] == WRONG_TICKET
    assert spice_link(lab, CONSOLE_UID, HOST, password=second)['result'] == 'linked'


def test_a_seat_switch_makes_the_domain_drop_its_client_and_void_the_ticket(lab, daemon):
    # uid ALWAYS_UID passes the firewall whatever the grants: what ends its
    # SPICE session here is the VM, told by libvirt
    start_bound_helper(lab, daemon, always_allow=(ALWAYS_UID,))
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
               3.0, what='libvirt\'s initialized event')
    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    ended = held.wait_ended(5.0)
    assert ended is not None and ended['result'] == 'ended', ended
    print(f'seat switch to the domain closing its SPICE client: '
          f'{(time.monotonic() - switched) * 1000:.0f} ms')
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == WRONG_TICKET

    wait_until(lambda: any(e[2] == 'disconnected' for e in
                           (args for _m, args in lab.gate.signals('ConsoleClient', since=mark))),
               3.0, what='libvirt\'s disconnect event')
    events = [args for _m, args in lab.gate.signals('ConsoleClient', since=mark)]
    assert ('seat0', CONSOLE_UID, 'connected') == events[0][:3], events
    assert any(e[:3] == ('seat0', CONSOLE_UID, 'initialized') for e in events), events
    assert all(e[3].startswith('127.0.0.1:') and e[3].rsplit(':', 1)[1].isdigit()
               for e in events), events

    carol = lab.actor(INACTIVE_UID)
    assert carol.grant().ok
    assert console_ticket(carol) != ticket


def test_the_ticket_is_in_no_log_and_on_no_command_line(lab, daemon):
    start_bound_helper(lab, daemon)
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
    assert ticket not in helper_logs(lab)
    assert ticket not in daemon.log()
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as f:
                assert ticket.encode() not in f.read(), path
        except (FileNotFoundError, ProcessLookupError):
            pass


def test_libvirtd_gone_refuses_the_grant_naming_the_uri_and_domain(lab, daemon):
    start_bound_helper(lab, daemon)
    daemon.stop()
    reply = lab.actor(CONSOLE_UID).grant()
    assert reply.error == ERR_FAILED, reply
    print(f'libvirtd gone: {reply.message}')
    assert 'could not be given a new ticket' in reply.message, reply.message
    assert daemon.uri in reply.message and f'libvirt domain {DOMAIN}' in reply.message, \
        reply.message
    assert 'is libvirtd' in reply.message, reply.message
    assert lab.gate.grants() == []
    # the port never opened: the firewall refuses her connection
    assert spice_link(lab, CONSOLE_UID, HOST)['result'] == 'refused'
    # a new libvirtd: the next grant works
    daemon.start()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert spice_link(lab, CONSOLE_UID, HOST, password=console_ticket(alice))['result'] == 'linked'


def test_a_stopped_libvirtd_refuses_the_grant_within_one_bound(lab, daemon):
    start_bound_helper(lab, daemon)
    daemon.signal(signal.SIGSTOP)
    try:
        asked = time.monotonic()
        reply = lab.actor(CONSOLE_UID).grant()
        took = time.monotonic() - asked
    finally:
        daemon.signal(signal.SIGCONT)
    print(f'Grant() with a SIGSTOPped libvirtd refused after {took:.2f} s: {reply.message}')
    assert reply.error == ERR_FAILED, reply
    assert 'could not be given a new ticket' in reply.message, reply.message
    assert took < 4.5
    assert lab.gate.grants() == []
    assert spice_link(lab, CONSOLE_UID, HOST)['result'] == 'refused'
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    assert spice_link(lab, CONSOLE_UID, HOST, password=console_ticket(alice))['result'] == 'linked'


def test_the_helper_leaves_the_domain_locked_when_it_stops(lab, daemon):
    helper = start_bound_helper(lab, daemon, always_allow=(ALWAYS_UID,))
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    held = HeldLink(lab, ALWAYS_UID, HOST, password=ticket)
    assert held.linked, held.first
    helper.stop()
    ended = held.wait_ended(5.0)
    assert ended is not None and ended['result'] == 'ended', ended
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == WRONG_TICKET


def test_a_helper_that_starts_locks_the_domain_a_killed_one_left_open(lab, daemon):
    # SIGKILL: no lock on the way out; the next helper's start must void
    # the ticket the domain still holds
    helper = start_bound_helper(lab, daemon, always_allow=(ALWAYS_UID,))
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == 'linked'
    helper.stop(sig=signal.SIGKILL)
    lab.start_helper()
    wait_until(lambda: spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result']
               == WRONG_TICKET, 5.0, what='the new helper\'s lock')


def test_a_helper_started_before_libvirtd_locks_the_domain_once_libvirtd_is_up(lab, daemon):
    # As at boot with libvirtd started after seatgate: the domain (running
    # on without libvirtd) still holds the killed helper's ticket; the new
    # helper cannot reach libvirt when it starts, and locks the domain as
    # soon as libvirtd comes, no grant asked.
    helper = start_bound_helper(lab, daemon, always_allow=(ALWAYS_UID,))
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    ticket = console_ticket(alice)
    helper.stop(sig=signal.SIGKILL)
    daemon.stop()
    lab.start_helper()
    assert spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result'] == 'linked'
    daemon.start()
    start = time.monotonic()
    wait_until(lambda: spice_link(lab, ALWAYS_UID, HOST, password=ticket)['result']
               == WRONG_TICKET, 5.0, what='the lock once libvirtd is up')
    print(f'locked {(time.monotonic() - start) * 1000:.0f} ms after libvirtd listened')
