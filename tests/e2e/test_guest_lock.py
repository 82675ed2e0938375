'''A real guest receives the lock keys on revoke (issue 14): the real helper
in front of a QEMU that boots Debian's own kernel with an initramfs whose
/init (guest/key-init.c) prints every key its keyboard receives to the
serial console. What LockKeys= names reaches the guest's kernel after a
revoke, pressed and released in the order QEMU's send-key uses, and no key
arrives at any other time. One guest boot per test.'''

import os
import re
import shutil
import time

import pytest

from e2e_lab import VM, HeldLink, SerialConsole, spice_link
from seatgate_lab import ALWAYS_UID, CONSOLE_UID, INACTIVE_SESSION, LabError

HOST = '127.0.0.1'
APPEND = 'console=ttyS0 quiet panic=-1'
READY = 'sg-guest: ready: '
KEY = re.compile(r'sg-guest: key (\d+) (down|up)$')
# Linux keycodes (linux/input-event-codes.h) of the QEMU key names used here
KEYCODES = {'meta_l': 125, 'l': 38, 'ctrl': 29, 'alt': 56}
# After the keys of one revoke, how long the guest must stay silent for
# "no other key arrived" to hold: many times the switch-to-keys time
# measured here (printed by the tests).
QUIET = 2.0


def is_key(line):
    return KEY.match(line) is not None


def pressed_then_released(names):
    '''The guest's events for one send-key of names: QEMU presses the keys
    in the order given and releases them in the reverse order (measured
    with QEMU 7.2: meta_l+l arrives as 125 down, 38 down, 38 up, 125 up).'''
    codes = [KEYCODES[n] for n in names]
    return [f'sg-guest: key {c} down' for c in codes] + [f'sg-guest: key {c} up' for c in reversed(codes)]


class Guest:
    def __init__(self, vm, console):
        self.vm, self.console = vm, console

    def keys(self, since=0.0):
        return [line for _t, line in self.console.matching(is_key, since)]

    def wait_keys(self, count, since, timeout=10.0):
        '''[(arrival, line)] of the first count key lines after since.'''
        return self.console.wait_for(is_key, count, since, timeout)

    def stays_silent(self, since, seconds=QUIET):
        '''True if no key arrives after since within seconds from now.'''
        return self.console.wait_for(is_key, 1, since, seconds) == []

    def describe(self):
        return f'the guest\'s serial console:\n{self.console.text()}'


@pytest.fixture
def guest(lab):
    kernel = os.environ.get('SEATGATE_GUEST_KERNEL')
    initrd = os.environ.get('SEATGATE_GUEST_INITRD')
    if not kernel or not initrd:
        raise LabError('SEATGATE_GUEST_KERNEL and SEATGATE_GUEST_INITRD are not set: run this test with '
                       'meson test (tests/e2e/guest/with-kernel fetches the kernel, the build packs the '
                       'initramfs)')
    # The VM runs as its own uid; the kernel's cache is root's alone.
    boot = os.path.join(lab.dir, 'guest-boot')
    os.makedirs(boot, mode=0o755)
    for src, name in ((kernel, 'vmlinuz'), (initrd, 'initrd.cpio')):
        shutil.copyfile(src, os.path.join(boot, name))
        os.chmod(os.path.join(boot, name), 0o644)
    console = SerialConsole(lab)
    vm = VM(lab, addr='::', qmp=True, kernel=os.path.join(boot, 'vmlinuz'),
            initrd=os.path.join(boot, 'initrd.cpio'), append=APPEND, serial=console, memory=128)
    started = time.monotonic()
    vm.start()
    vm.wait_listening()
    ready = console.wait_for(lambda line: line.startswith(READY) or line.startswith('sg-guest: error'),
                             timeout=120.0)
    if not ready or not ready[0][1].startswith(READY):
        raise LabError(f'the guest did not come to read its keyboard (QEMU '
                       f'{"running" if vm.proc.poll() is None else "exit " + str(vm.proc.returncode)}): '
                       f'{console.text()}\nQEMU: {vm.log()}')
    print(f'guest booted to reading keys in {ready[0][0] - started:.1f} s '
          f'({os.environ.get("SEATGATE_GUEST_KERNEL_VERSION", kernel)}, TCG): {ready[0][1]}')
    yield Guest(vm, console)
    vm.stop()
    console.close()


def start_helper(lab, guest, lock_keys, always_allow=()):
    lab.write_config(always_allow=always_allow,
                     extra=f'QMPSocket={guest.vm.qmp_path}\nLockKeys={lock_keys}\n')
    return lab.start_helper()


def grant_with_ticket(lab, uid):
    person = lab.actor(uid)
    assert person.grant().ok
    reply = person.call('OpenConsole')
    assert reply.ok, reply
    return person, reply.value['password']


def test_a_seat_switch_presses_the_lock_keys_in_the_guest_and_no_key_comes_before(lab, guest):
    start_helper(lab, guest, 'meta_l+l')
    _alice, ticket = grant_with_ticket(lab, CONSOLE_UID)
    assert spice_link(lab, CONSOLE_UID, HOST, password=ticket)['result'] == 'linked'
    # the helper's start and the grant have locked and ticketed the VM:
    # neither may press a key
    assert guest.stays_silent(0.0), guest.describe()

    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    expected = pressed_then_released(['meta_l', 'l'])
    arrived = guest.wait_keys(len(expected), switched)
    assert [line for _t, line in arrived] == expected, guest.describe()
    print(f'seat switch to the guest\'s first lock key: {(arrived[0][0] - switched) * 1000:.0f} ms, '
          f'to its last: {(arrived[-1][0] - switched) * 1000:.0f} ms')
    assert guest.stays_silent(arrived[-1][0]), guest.describe()
    assert guest.keys() == expected, guest.describe()


def test_a_revoke_with_no_lock_keys_presses_no_key_in_the_guest(lab, guest):
    # ALWAYS_UID passes the firewall whatever the grants: its SPICE client
    # ending shows the VM was locked, so the silence after it means no keys
    start_helper(lab, guest, '', always_allow=(ALWAYS_UID,))
    _alice, ticket = grant_with_ticket(lab, CONSOLE_UID)
    held = HeldLink(lab, ALWAYS_UID, HOST, password=ticket)
    assert held.linked, held.first
    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    ended = held.wait_ended(5.0)
    assert ended is not None and ended['result'] == 'ended', ended
    print(f'seat switch to the VM dropping its client: {(time.monotonic() - switched) * 1000:.0f} ms')
    assert guest.stays_silent(switched), guest.describe()
    assert guest.keys() == [], guest.describe()


def test_each_revoke_presses_the_combination_the_config_names(lab, guest):
    # ctrl+alt+l, the lock of GNOME, Xfce and MATE: not meta_l+l, so the
    # keys come from the config; a release and then a seat switch, so every
    # revoke presses them
    start_helper(lab, guest, 'ctrl+alt+l')
    expected = pressed_then_released(['ctrl', 'alt', 'l'])
    alice, _ticket = grant_with_ticket(lab, CONSOLE_UID)
    assert guest.stays_silent(0.0), guest.describe()

    released = time.monotonic()
    assert alice.release().ok
    arrived = guest.wait_keys(len(expected), released)
    assert [line for _t, line in arrived] == expected, guest.describe()
    print(f'Release() to the guest\'s last lock key: {(arrived[-1][0] - released) * 1000:.0f} ms')
    assert guest.stays_silent(arrived[-1][0]), guest.describe()

    grant_with_ticket(lab, CONSOLE_UID)
    switched = time.monotonic()
    lab.logind.activate(INACTIVE_SESSION)
    arrived = guest.wait_keys(len(expected), switched)
    assert [line for _t, line in arrived] == expected, guest.describe()
    print(f'seat switch to the guest\'s last lock key: {(arrived[-1][0] - switched) * 1000:.0f} ms')
    assert guest.stays_silent(arrived[-1][0]), guest.describe()
    assert guest.keys() == expected * 2, guest.describe()
