'''seatgatectl check-config: the helper's parser, nothing else touched.'''

import ctl


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
    assert doc == {'file': path, 'valid': True,
                   'seats': [{'seat': 'seat0', 'ports': [5930]},
                             {'seat': 'seat1', 'ports': [5931, 5932, 5933]}],
                   'always_allow': [1005], 'table_mode': 'plain', 'viewer_command': None}


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
