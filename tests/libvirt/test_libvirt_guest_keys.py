'''LockKeys= through libvirt reach a real guest: a libvirt domain that boots
Debian's own kernel with tests/e2e's initramfs, whose /init
(tests/e2e/guest/key-init.c) prints every key its keyboard receives to the
serial port. The lock's virDomainSendKey carries Linux key codes mapped
from the QEMU key names (helper/vm-libvirt-keys.c); what arrives in the
guest's kernel must be those keys. One guest boot per test.'''

import json
import os
import re
import time

import pytest

from libvirt_lab import DOMAIN, LabError, config_for, wait_until
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


def qemu_key_names(libvirtd):
    '''Every QKeyCode name of the domain's own QEMU, from its QMP schema
    (introspection hides type names: the enum is the one holding these).'''
    reply = json.loads(libvirtd.virsh('qemu-monitor-command', DOMAIN,
                                      '{"execute": "query-qmp-schema"}').stdout)
    for entry in reply['return']:
        if entry.get('meta-type') != 'enum':
            continue
        names = entry.get('values') or [m['name'] for m in entry.get('members', [])]
        if {'meta_l', 'kp_enter', 'sysrq'} <= set(names):
            return [n for n in names if n != 'unmapped']
    raise LabError('no QKeyCode enum in the domain\'s QMP schema')


def keys_of(guest, send):
    '''The lines the guest prints for one key pressed by @send: up to its
    release, or, when nothing comes within 1.5 s, up to an Escape that
    QEMU presses after it (so a late line is not taken for the next key).'''
    before = len(guest.keys())
    send()
    try:
        wait_until(lambda: any(k.endswith(' up') for k in guest.keys()[before:]), 1.5, 'a key')
        return collapse(guest.keys()[before:])
    except LabError:
        pass
    qemu_send_key(guest.libvirtd, 'esc')
    wait_until(lambda: 'sg-guest: key 1 up' in guest.keys()[before:], 10, 'Escape after a key')
    seen = guest.keys()[before:]
    return collapse(seen[:seen.index('sg-guest: key 1 down')])


def collapse(lines):
    '''Key repeats (a held key's second down) taken out.'''
    return [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]


def qemu_send_key(libvirtd, name):
    libvirtd.virsh('qemu-monitor-command', DOMAIN, json.dumps(
        {'execute': 'send-key', 'arguments': {'keys': [{'type': 'qcode', 'data': name}]}}))


def test_every_lock_key_name_reaches_the_guest_as_qemu_itself_sends_it(libvirtd, guest, folder):
    '''helper/vm-libvirt-keys.c's table against the real QEMU: each key
    name of its schema, pressed by QEMU itself (QMP send-key with the
    qcode, through libvirt's monitor passthrough) and by the helper's lock
    (virDomainSendKey with the table's Linux code), must arrive in the
    guest as the same key. Modifiers are pressed alone like every other
    key, so no Alt+SysRq combination reaches the guest's kernel.'''
    guest.libvirtd = libvirtd
    names = qemu_key_names(libvirtd)
    tool = Tool(folder, config_for(libvirtd.uri, lock_keys=''))
    differ, silent = [], []
    started = time.monotonic()
    try:
        tool.event('reachable', timeout=20)
        for name in names:
            by_qemu = keys_of(guest, lambda: qemu_send_key(libvirtd, name))

            def by_lock():
                r = tool.op(f'lock-keys {name}')
                assert r['ok'], (name, r)
            by_helper = keys_of(guest, by_lock)
            if by_qemu != by_helper:
                differ.append((name, by_qemu, by_helper))
            if not by_qemu:
                silent.append(name)
    finally:
        tool.close()
    print(f'{len(names)} key names in {time.monotonic() - started:.0f} s; QEMU itself '
          f'delivers none for {len(silent)}: {" ".join(silent)}')
    assert not differ, '\n'.join(f'{n}: QEMU {q}, the lock {h}' for n, q, h in differ)
