'''LockKeys= through libvirt reach a real guest: a libvirt domain that boots
Debian's own kernel with tests/e2e's initramfs, whose /init
(tests/e2e/guest/key-init.c) prints every key its keyboard receives to the
serial port. The lock's virDomainSendKey carries Linux key codes mapped
from the QEMU key names (helper/vm-libvirt-keys.c); what arrives in the
guest's kernel must be those keys. One guest boot per test.'''

import os
import re
import time

import pytest

from libvirt_lab import LabError, config_for, wait_until
from vmc_lab import Tool

READY = 'sg-guest: ready: '
KEY = re.compile(r'sg-guest: key (\d+) (down|up)$')


class SerialFile:
    '''The guest's serial port, as libvirt's QEMU writes it to a file.'''

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path, encoding='utf-8', errors='replace') as f:
                return [line.rstrip('\r\n') for line in f]
        except FileNotFoundError:
            return []

    def keys(self):
        return [line for line in self.lines() if KEY.match(line)]


@pytest.fixture
def guest(libvirtd, folder):
    kernel = os.environ.get('SEATGATE_GUEST_KERNEL')
    initrd = os.environ.get('SEATGATE_GUEST_INITRD')
    if not kernel or not initrd:
        raise LabError('SEATGATE_GUEST_KERNEL and SEATGATE_GUEST_INITRD are not set: run this '
                       'test with meson test (tests/e2e/guest/with-kernel fetches the kernel)')
    serial = SerialFile(os.path.join(folder, 'serial.log'))
    started = time.monotonic()
    libvirtd.create_domain(kernel=kernel, initrd=initrd, cmdline='console=ttyS0 quiet panic=-1',
                           serial=serial.path)
    wait_until(lambda: any(line.startswith((READY, 'sg-guest: error')) for line in serial.lines()),
               120, 'the guest to read its keyboard')
    assert any(line.startswith(READY) for line in serial.lines()), serial.lines()
    print(f'guest booted to reading keys in {time.monotonic() - started:.1f} s (TCG)')
    return serial


def pressed_then_released(codes):
    return ([f'sg-guest: key {c} down' for c in codes]
            + [f'sg-guest: key {c} up' for c in reversed(codes)])


# Linux key codes (linux/input-event-codes.h) the guest must see
COMBOS = [
    ('meta_l+l', [125, 38]),          # KEY_LEFTMETA, KEY_L
    ('ctrl+alt+f2', [29, 56, 60]),    # KEY_LEFTCTRL, KEY_LEFTALT, KEY_F2
    ('shift_r+kp_enter', [54, 96]),   # KEY_RIGHTSHIFT, KEY_KPENTER
]


def test_a_lock_presses_the_lock_keys_in_the_guest(libvirtd, guest, folder):
    seen = 0
    for lock_keys, codes in COMBOS:
        tool = Tool(folder, config_for(libvirtd.uri, lock_keys=lock_keys))
        try:
            tool.event('reachable', timeout=20)
            assert tool.op('lock')['ok']  # a lock without keys presses none
            time.sleep(1.0)
            assert len(guest.keys()) == seen, guest.lines()
            asked = time.monotonic()
            r = tool.op('lock-keys')
            assert r['ok'], r
            expected = pressed_then_released(codes)
            wait_until(lambda: len(guest.keys()) >= seen + len(expected), 10,
                       f'the keys of {lock_keys} in the guest')
            print(f'{lock_keys}: in the guest {(time.monotonic() - asked) * 1000:.0f} ms after '
                  f'the lock was asked')
            time.sleep(1.0)
            assert guest.keys()[seen:] == expected, guest.lines()
            seen += len(expected)
        finally:
            tool.close()
