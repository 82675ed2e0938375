'''seatgatectl check-config: the helper's parser, drop-ins merged as the
helper merges them, nothing else touched.'''

import os

import ctl
from seatgate_lab import GATE_NAME


# A seat without QMPSocket=: the firewall alone.
NO_VM = {'qmp_socket': None, 'qmp_socket_from': None, 'lock_keys': None, 'lock_keys_from': None}


def write_dropin(lab, name, text):
    '''Writes NAME into the drop-in folder of the lab's config.'''
    folder = lab.config_path + '.d'
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return path


def test_ctl_check_config_prints_what_a_valid_file_gates(lab):
    path = lab.write_config(seats={'seat0': '5930', 'seat1': '5931-5933'}, always_allow=(1005,))
    r = ctl.run(lab, ['check-config', path])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert f'{path} is valid' in r.stdout
    assert 'seat0 gates port 5930' in r.stdout
    assert 'seat1 gates ports 5931-5933' in r.stdout
    assert '1005' in r.stdout


def test_ctl_check_config_json_lists_seats_ports_and_uids(lab):
    path = lab.write_config(seats={'seat0': '5930', 'seat1': '5931-5933'}, always_allow=(1005,),
                            table_mode='plain')
    status, doc = ctl.run_json(lab, ['check-config', path])
    assert status == ctl.EXIT_OK
    assert doc == {'file': path, 'valid': True, 'main_file_missing': False, 'files': [path],
                   'seats': [{'seat': 'seat0', 'ports': [5930],
                              'ports_from': {'file': path, 'line': 6}, **NO_VM},
                             {'seat': 'seat1', 'ports': [5931, 5932, 5933],
                              'ports_from': {'file': path, 'line': 9}, **NO_VM}],
                   'always_allow': [1005], 'always_allow_from': {'file': path, 'line': 2},
                   'table_mode': 'plain', 'table_mode_from': {'file': path, 'line': 3},
                   'viewer_command': None, 'viewer_command_from': None}


def test_ctl_check_config_names_file_line_and_key_of_a_broken_file(lab):
    path = lab.write_file('broken.conf', '[Gate]\nAlwaysAllow=\n\n[Seat seat0]\nPorts=5930;0\n')
    r = ctl.run(lab, ['check-config', path])
    assert r.returncode == ctl.EXIT_FAILURE
    assert r.stdout == ''
    assert r.stderr.startswith(f'{path}:5: [Seat seat0] Ports: ')


def test_ctl_check_config_json_reports_a_broken_file(lab):
    path = lab.write_file('broken.conf', '[Seat seat0]\nPorts=99999\n')
    status, doc = ctl.run_json(lab, ['check-config', path])
    assert status == ctl.EXIT_FAILURE
    assert doc['valid'] is False
    assert doc['error'].startswith(f'{path}:2: [Seat seat0] Ports: ')


def test_ctl_check_config_fails_on_a_missing_file(lab):
    r = ctl.run(lab, ['check-config', lab.dir + '/nope.conf'])
    assert r.returncode == ctl.EXIT_FAILURE
    assert 'nope.conf: no such file' in r.stderr


def test_ctl_check_config_changes_nothing_in_a_running_helper(lab, helper):
    path = lab.write_file('other.conf', '[Seat seat0]\nPorts=6000\n')
    before = lab.nft_table()
    r = ctl.run(lab, ['check-config', path])
    assert r.returncode == ctl.EXIT_OK
    assert lab.gate.seats() == [('seat0', [5930])]
    assert lab.nft_table() == before


def test_ctl_check_config_rejects_two_files(lab):
    r = ctl.run(lab, ['check-config', 'a.conf', 'b.conf'])
    assert r.returncode == ctl.EXIT_USAGE


def test_ctl_check_config_merges_dropins_and_says_where_each_setting_came_from(lab):
    main = lab.write_config(always_allow=(1005,))
    lab_wide = write_dropin(lab, '50-lab.conf', '# from the fleet tool\n[Gate]\nTableMode=plain\n'
                            '[Seat seat1]\nPorts=5931-5932\n')
    later = write_dropin(lab, '60-monitoring.conf', '[Gate]\nAlwaysAllow=1007\n')
    write_dropin(lab, '60-monitoring.conf.dpkg-old', 'not read\n')
    r = ctl.run(lab, ['check-config'] + [main])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f'{main} is valid, with 2 drop-ins.'
    assert f'  read {main}' in lines and f'  read {lab_wide}' in lines and f'  read {later}' in lines
    assert not any('dpkg-old' in line for line in lines)
    assert f'  seat0 gates port 5930  ({main}:5)' in lines
    assert f'  seat1 gates ports 5931-5932  ({lab_wide}:5)' in lines
    assert f'  table mode: plain  ({lab_wide}:3)' in lines
    # A later file replaces AlwaysAllow: 1005 from the main file is gone.
    allowed = next(line for line in lines if line.startswith('  always allowed:'))
    assert '1007' in allowed and '1005' not in allowed and allowed.endswith(f'({later}:2)')


def test_ctl_check_config_json_gives_each_settings_file_and_line(lab):
    main = lab.write_config()
    dropin = write_dropin(lab, '50-seat0.conf', '[Seat seat0]\nPorts=5930;5940\n')
    status, doc = ctl.run_json(lab, ['check-config', main])
    assert status == ctl.EXIT_OK
    assert doc['files'] == [main, dropin]
    assert doc['seats'] == [{'seat': 'seat0', 'ports': [5930, 5940],
                             'ports_from': {'file': dropin, 'line': 2}, **NO_VM}]
    assert doc['table_mode_from'] is None  # the built-in default


def test_ctl_check_config_names_the_broken_dropins_file_line_and_key(lab):
    main = lab.write_config()
    write_dropin(lab, '10-good.conf', '[Gate]\nAlwaysAllow=1007\n')
    bad = write_dropin(lab, '50-bad.conf', '[Gate]\n\n[Seat seat1]\nPorts=5930\n')
    r = ctl.run(lab, ['check-config', main])
    assert r.returncode == ctl.EXIT_FAILURE
    assert r.stdout == ''
    assert r.stderr.strip() == (f'{bad}:4: [Seat seat1] Ports: port 5930 is gated by [Seat seat0] '
                                f'({main}:5) too: a port belongs to one seat')


def test_ctl_check_config_and_the_helper_agree_on_valid_dropins(lab):
    main = lab.write_config()
    write_dropin(lab, '50-seat1.conf', '[Seat seat1]\nPorts=5931\n')
    assert ctl.run(lab, ['check-config', main]).returncode == ctl.EXIT_OK
    lab.start_helper(main)
    assert lab.gate.seats() == [('seat0', [5930]), ('seat1', [5931])]


def test_ctl_check_config_and_the_helper_agree_on_a_broken_dropin(lab):
    main = lab.write_config()
    bad = write_dropin(lab, '50-bad.conf', '[Seat seat0]\nPorts=59x30\n')
    r = ctl.run(lab, ['check-config', main])
    assert r.returncode == ctl.EXIT_FAILURE
    message = r.stderr.strip()
    assert message.startswith(f'{bad}:2: [Seat seat0] Ports: ')
    helper = lab.run_helper(main)
    assert helper.returncode == 1, helper
    assert f'seatgate-helper: {message}' in helper.stderr, helper.stderr
    assert lab.client.name_owner(GATE_NAME) is None
    # Fail closed: the broken start still left a deny on the built-in port.
    assert lab.nft_table() is not None, helper.stderr


def test_ctl_check_config_says_the_default_stands_in_for_a_missing_main_file(lab):
    main = os.path.join(lab.dir, 'gone.conf')
    lab.config_path = main
    dropin = write_dropin(lab, '50-seat1.conf', '[Seat seat1]\nPorts=5931\n')
    r = ctl.run(lab, ['check-config', main])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert f'{main} does not exist: the built-in default (seat0 gates port 5930) stands in' \
        in r.stdout
    assert '  seat0 gates port 5930  (built-in default)' in r.stdout.splitlines()
    assert f'  seat1 gates port 5931  ({dropin}:2)' in r.stdout.splitlines()


def test_the_helper_says_the_default_stands_in_for_a_missing_main_file(lab):
    main = os.path.join(lab.dir, 'gone.conf')
    lab.config_path = main
    write_dropin(lab, '50-seat1.conf', '[Seat seat1]\nPorts=5931\n')
    helper = lab.start_helper(main)
    assert lab.gate.seats() == [('seat0', [5930]), ('seat1', [5931])]
    assert (f'{main} does not exist; the built-in default (seat0, port 5930) stands in for it, '
            f'with the drop-ins in {main}.d applied') in helper.log()


def test_ctl_check_config_shows_each_seats_vm_binding_and_where_it_came_from(lab):
    path = lab.write_config(seats={'seat0': '5930', 'seat1': '5931'},
                            extra='QMPSocket=/run/seatgate-vm/seat1.qmp\n')
    dropin = write_dropin(lab, '50-lock.conf', '[Seat seat1]\nLockKeys=meta_l+l\n')
    r = ctl.run(lab, ['check-config', path])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    lines = r.stdout.splitlines()
    seat0 = lines.index(f'  seat0 gates port 5930  ({path}:5)')
    assert lines[seat0 + 1] == '    VM binding: none: the firewall alone guards its port'
    seat1 = lines.index(f'  seat1 gates port 5931  ({path}:8)')
    assert lines[seat1 + 1] == f'    VM binding: QMP socket /run/seatgate-vm/seat1.qmp  ({path}:9)'
    assert lines[seat1 + 2] == f'    lock keys: meta_l+l, pressed after every revoke  ({dropin}:2)'

    status, doc = ctl.run_json(lab, ['check-config', path])
    assert status == ctl.EXIT_OK
    assert doc['seats'][0] == {'seat': 'seat0', 'ports': [5930],
                               'ports_from': {'file': path, 'line': 5}, **NO_VM}
    assert doc['seats'][1] == {'seat': 'seat1', 'ports': [5931],
                               'ports_from': {'file': path, 'line': 8},
                               'qmp_socket': '/run/seatgate-vm/seat1.qmp',
                               'qmp_socket_from': {'file': path, 'line': 9},
                               'lock_keys': ['meta_l', 'l'],
                               'lock_keys_from': {'file': dropin, 'line': 2}}


def test_ctl_check_config_says_a_binding_without_lock_keys_sends_none(lab):
    path = lab.write_config(extra='QMPSocket=/run/seatgate-vm/seat0.qmp\n')
    r = ctl.run(lab, ['check-config', path])
    assert r.returncode == ctl.EXIT_OK, r.stderr
    assert '    lock keys: none, the guest is not asked to lock  (built-in default)\n' in r.stdout
