'''seatgatectl shows and checks a seat's libvirt binding (LibvirtDomain=,
LibvirtURI=) against a real libvirtd in the sandbox and the domains it
runs: check-config shows the binding with its file and line; status says
whether the domain runs, or that libvirt is unreachable; doctor reports
each flaw of the domain's <graphics type='spice'> that docs/vm-binding.md
warns about, reading through a read-only connection and never changing
the domain. No seatgate helper or system bus here: status and doctor say
so, and the tests look at the binding's lines and findings only.'''

import json
import os
import signal
import subprocess
import time

import pytest

from libvirt_lab import (DOMAIN, SPICE_PORT, config_for, create_domain_xml, define_domain,
                         spice_domain_xml)

SEATGATECTL = os.environ['SEATGATECTL']
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NO_HELPER = 3
GOOD_GRAPHICS = ("<graphics type='spice' port='{port}' autoport='{autoport}' listen='{listen}' "
                 "passwd='not-a-secret-0' passwdValidTo='1970-01-01T00:00:00'>"
                 "<listen type='address' address='{listen}'/></graphics>")


def graphics(port=SPICE_PORT, autoport='no', listen='127.0.0.1'):
    return GOOD_GRAPHICS.format(port=port, autoport=autoport, listen=listen)


def ctl(*args):
    # No system bus: the binding's part of the output does not need one.
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
           'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent/bus'}
    # A sanitizer run's options (tests/run), its leak suppressions included.
    env.update({k: v for k, v in os.environ.items()
                if k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS')})
    return subprocess.run([SEATGATECTL, *args], capture_output=True, text=True, timeout=30,
                          env=env, cwd='/')


@pytest.fixture
def config(folder, libvirtd):
    '''write(text=config_for(libvirtd.uri)): the path of a config file.'''
    path = os.path.join(folder, 'seatgate.conf')

    def write(text=None):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text if text is not None else config_for(libvirtd.uri))
        return path
    return write


def binding_line(path, status=EXIT_NO_HELPER):
    r = ctl('status', '--config', path)
    assert r.returncode == status, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith('  VM binding:')]
    assert len(lines) == 1, r.stdout
    return lines[0]


def binding_json(path):
    r = ctl('status', '--json', '--config', path)
    assert r.returncode == EXIT_NO_HELPER, r.stdout + r.stderr
    seats = json.loads(r.stdout)['seats']
    assert [s['seat'] for s in seats] == ['seat0']
    return seats[0]['vm_binding']


def libvirt_findings(path):
    '''(exit status, {id: finding}) of doctor --json's libvirt-* findings
    (without the helper and the bus, doctor finds other problems too).'''
    r = ctl('doctor', '--json', '--config', path)
    assert r.returncode in (EXIT_OK, EXIT_FAILURE), r.stdout + r.stderr
    doc = json.loads(r.stdout)
    return r.returncode, {f['id']: f for f in doc['findings'] if f['id'].startswith('libvirt-')}


def only_finding(path, finding_id, severity='problem'):
    status, found = libvirt_findings(path)
    assert list(found) == [finding_id], found
    f = found[finding_id]
    assert f['severity'] == severity, f
    if severity == 'problem':
        assert status == EXIT_FAILURE
    return f


def secure_xml(daemon):
    return daemon.virsh('dumpxml', '--security-info', DOMAIN).stdout


# ---- check-config ----

def test_check_config_shows_the_libvirt_binding_with_file_and_line(folder):
    path = os.path.join(folder, 'seatgate.conf')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[Seat seat0]\nPorts=5930\nLibvirtDomain=win11\nLockKeys=meta_l+l\n')
    os.makedirs(path + '.d')
    with open(os.path.join(path + '.d', '50-uri.conf'), 'w', encoding='utf-8') as f:
        f.write('[Seat seat0]\nLibvirtURI=qemu+ssh://vmhost/system\n')
    r = ctl('check-config', path)
    assert r.returncode == EXIT_OK, r.stderr
    assert f'    VM binding: libvirt domain win11  ({path}:3)\n' in r.stdout, r.stdout
    assert f'    libvirt URI: qemu+ssh://vmhost/system  ({path}.d/50-uri.conf:2)\n' in r.stdout
    assert f'    lock keys: meta_l+l, pressed after every revoke  ({path}:4)\n' in r.stdout

    r = ctl('check-config', '--json', path)
    assert r.returncode == EXIT_OK, r.stderr
    seat = json.loads(r.stdout)['seats'][0]
    assert seat['libvirt_domain'] == 'win11'
    assert seat['libvirt_domain_from'] == {'file': path, 'line': 3}
    assert seat['libvirt_uri'] == 'qemu+ssh://vmhost/system'
    assert seat['libvirt_uri_from'] == {'file': f'{path}.d/50-uri.conf', 'line': 2}
    assert seat['qmp_socket'] is None
    assert seat['lock_keys'] == ['meta_l', 'l']
    assert seat['lock_keys_from'] == {'file': path, 'line': 4}


def test_check_config_json_has_no_libvirt_keys_for_a_seat_without_that_binding(folder):
    path = os.path.join(folder, 'seatgate.conf')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[Seat seat0]\nPorts=5930\n')
    seat = json.loads(ctl('check-config', '--json', path).stdout)['seats'][0]
    assert not [key for key in seat if key.startswith('libvirt')], seat


def test_check_config_says_the_default_uri_is_the_default(folder):
    path = os.path.join(folder, 'seatgate.conf')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[Seat seat0]\nPorts=5930\nLibvirtDomain=win11\n')
    r = ctl('check-config', path)
    assert '    libvirt URI: qemu:///system  (built-in default)\n' in r.stdout, r.stdout
    assert '    lock keys: none, the guest is not asked to lock  (built-in default)\n' in r.stdout
    seat = json.loads(ctl('check-config', '--json', path).stdout)['seats'][0]
    assert seat['libvirt_uri'] == 'qemu:///system' and seat['libvirt_uri_from'] is None


# ---- status ----

def test_status_says_the_domain_runs(domain, config):
    path = config()
    asked = time.monotonic()
    line = binding_line(path)
    took = (time.monotonic() - asked) * 1000
    print(f'seatgatectl status with a libvirt-bound seat: {took:.0f} ms')
    assert line == \
        f'  VM binding:     libvirt domain {DOMAIN} at {domain.uri}: running'
    b = binding_json(path)
    assert b['libvirt_domain'] == DOMAIN and b['libvirt_uri'] == domain.uri
    assert b['state'] == 'running' and b['running'] is True
    assert b['domain_state'] == 'running'


def test_status_says_a_defined_domain_is_shut_off(libvirtd, config):
    define_domain(libvirtd, spice_domain_xml())
    path = config()
    assert binding_line(path) == \
        f'  VM binding:     libvirt domain {DOMAIN} at {libvirtd.uri}: not running (shut off)'
    b = binding_json(path)
    assert b['state'] == 'not-running' and b['running'] is False
    assert b['domain_state'] == 'shut off'


def test_status_says_libvirt_is_unreachable_when_libvirtd_is_gone(domain, config):
    path = config()
    domain.stop()
    line = binding_line(path)
    assert line.startswith(f'  VM binding:     libvirt domain {DOMAIN} at {domain.uri}: '
                           'libvirt unreachable ('), line
    assert domain.socket_path in line, line
    b = binding_json(path)
    assert b['state'] == 'unreachable' and b['running'] is False
    assert domain.socket_path in b['error']


def test_status_says_a_domain_libvirt_does_not_know(libvirtd, config):
    path = config(config_for(libvirtd.uri, domain='nosuch'))
    line = binding_line(path)
    assert line.startswith(f'  VM binding:     libvirt domain nosuch at {libvirtd.uri}: '
                           'no such domain ('), line
    assert binding_json(path)['state'] == 'no-domain'


# ---- doctor ----

def test_doctor_has_nothing_to_say_about_a_good_domain_and_changes_nothing(domain, config):
    path = config()
    before = secure_xml(domain)
    status, found = libvirt_findings(path)
    assert found == {}
    r = ctl('doctor', '--config', path)
    assert not [line for line in r.stdout.splitlines() if '[libvirt-' in line], r.stdout
    # read-only: the password libvirt holds is the one it had, and no
    # password ever reaches doctor's output
    assert secure_xml(domain) == before
    assert "passwd='" in before
    password = before.split("passwd='", 1)[1].split("'", 1)[0]
    assert password not in r.stdout and password not in r.stderr


def test_doctor_says_which_uri_is_unreachable_and_what_to_do(domain, config):
    path = config()
    domain.stop()
    f = only_finding(path, 'libvirt-unreachable')
    assert f'libvirt at {domain.uri}' in f['message'], f
    assert domain.socket_path in f['message'], f
    assert 'systemctl start libvirtd' in f['fix'] and domain.uri in f['fix'], f
    assert f'{path}:4' in f['fix'], f  # where LibvirtURI= is


def test_doctor_says_a_stopped_libvirtd_does_not_answer(domain, config):
    path = config()
    domain.signal(signal.SIGSTOP)
    try:
        asked = time.monotonic()
        f = only_finding(path, 'libvirt-unanswered')
        took = time.monotonic() - asked
    finally:
        domain.signal(signal.SIGCONT)
    print(f'doctor with a SIGSTOPped libvirtd: {took:.2f} s')
    assert took < 7, took  # the 5 s bound, and the rest of doctor
    assert 'did not answer within 5 seconds' in f['message'], f


def test_doctor_finds_a_missing_domain(libvirtd, config):
    path = config(config_for(libvirtd.uri, domain='nosuch'))
    f = only_finding(path, 'libvirt-domain-missing')
    assert f'libvirt at {libvirtd.uri} has no domain nosuch' in f['message'], f
    assert f'{path}:3' in f['fix'] and 'list --all' in f['fix'], f


def test_doctor_warns_that_the_domain_is_not_running(libvirtd, config):
    define_domain(libvirtd, spice_domain_xml(graphics=graphics()))
    path = config()
    f = only_finding(path, 'libvirt-domain-not-running', severity='warning')
    assert 'is not running (shut off)' in f['message'], f
    assert f'start {DOMAIN}' in f['fix'], f


def test_doctor_checks_the_definition_of_a_domain_that_is_not_running(libvirtd, config):
    define_domain(libvirtd, spice_domain_xml(with_password=False))
    status, found = libvirt_findings(config())
    assert sorted(found) == ['libvirt-domain-not-running', 'libvirt-no-password'], found
    assert status == EXIT_FAILURE


def test_doctor_finds_a_domain_without_a_password(libvirtd, config):
    libvirtd.create_domain(with_password=False)
    f = only_finding(config(), 'libvirt-no-password')
    assert 'disable-ticketing' in f['message'], f
    assert "passwdValidTo='1970-01-01T00:00:00'" in f['fix'] and 'restart the domain' in f['fix']


def test_doctor_finds_a_domain_without_spice(libvirtd, config):
    # VNC alone (libvirt takes VNC passwords of 8 characters at most: none here)
    create_domain_xml(libvirtd, spice_domain_xml(spice=False, with_password=False), SPICE_PORT)
    f = only_finding(config(), 'libvirt-no-spice')
    assert "has 0 <graphics type='spice'>" in f['message'], f


def test_doctor_finds_autoport(libvirtd, config):
    # libvirt picks the first free port from 5900
    create_domain_xml(libvirtd, spice_domain_xml(graphics=graphics(port=-1, autoport='yes')),
                      5900)
    f = only_finding(config(), 'libvirt-autoport')
    assert "autoport='yes'" in f['message'] and '(now 5900)' in f['message'], f
    assert "autoport='no'" in f['fix'], f


def test_doctor_finds_a_port_the_seat_does_not_gate(libvirtd, config):
    create_domain_xml(libvirtd, spice_domain_xml(graphics=graphics(port=5931)), 5931)
    path = config()
    f = only_finding(path, 'libvirt-port-not-gated')
    assert 'serves SPICE on port 5931' in f['message'] and 'Ports= (5930)' in f['message'], f
    assert f'{path}:2' in f['fix'], f


def test_doctor_finds_a_domain_listening_beyond_loopback(libvirtd, config):
    create_domain_xml(libvirtd, spice_domain_xml(graphics=graphics(listen='0.0.0.0')),
                      SPICE_PORT)
    f = only_finding(config(), 'libvirt-listen-not-loopback')
    assert 'listens for SPICE on 0.0.0.0' in f['message'], f
    assert "listen='127.0.0.1'" in f['fix'], f


def test_doctor_sees_the_password_of_a_ticket_set_the_way_the_helper_sets_it(domain, config):
    # The helper's ticket: passwd set, passwdValidTo removed, connected='keep'
    # (helper/vm-libvirt.c). Without --security-info libvirt then shows
    # connected= alone: doctor must not take that for "no password".
    ticket = ("<graphics type='spice' port='5930' autoport='no' listen='127.0.0.1' "
              "passwd='a-ticket-of-the-test' connected='keep'>"
              "<listen type='address' address='127.0.0.1'/></graphics>")
    path = os.path.join(domain.folder, 'ticket.xml')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(ticket)
    domain.virsh('update-device', DOMAIN, path, '--live')
    shown = domain.virsh('dumpxml', DOMAIN).stdout
    assert 'passwdValidTo' not in shown and "connected='keep'" in shown, shown
    status, found = libvirt_findings(config())
    assert found == {}, found
