'''seatgatectl doctor finds each planted problem and says how to fix it.
Run against the real polkitd, whose action list doctor reads.'''

import gzip
import os
import signal
import subprocess

import pytest

import ctl
from seatgate_lab import CONSOLE_UID


def findings(lab, extra=()):
    '''(exit status, {id: finding}) of doctor --json with the lab's config.'''
    status, doc = ctl.run_json(lab, ['doctor', '--config', lab.config_path] + list(extra))
    assert doc['problems'] == sum(f['severity'] == 'problem' for f in doc['findings'])
    assert doc['ok'] == (doc['problems'] == 0)
    return status, {f['id']: f for f in doc['findings']}


def problems(found):
    return sorted(i for i, f in found.items() if f['severity'] == 'problem')


def test_ctl_doctor_finds_no_problem_in_a_working_setup(real_lab):
    lab = real_lab()
    lab.listen(5930)
    lab.start_helper()
    status, found = findings(lab)
    assert problems(found) == []
    assert status == ctl.EXIT_OK
    r = ctl.run(lab, ['doctor', '--config', lab.config_path])
    assert r.returncode == ctl.EXIT_OK


def test_ctl_doctor_finds_a_vm_listening_on_every_address(real_lab):
    lab = real_lab()
    lab.listen(5930, hosts=('0.0.0.0',))
    lab.start_helper()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert problems(found) == ['listener-not-loopback']
    f = found['listener-not-loopback']
    assert '0.0.0.0:5930' in f['message'] and 'every address' in f['message']
    assert 'addr=127.0.0.1' in f['fix']


def test_ctl_doctor_names_the_process_behind_a_listener(real_lab):
    lab = real_lab()
    lab.listen(5930, hosts=('::',))
    lab.start_helper()
    _, found = findings(lab)
    assert 'python3 (pid ' in found['listener-not-loopback']['message']
    assert '[::]:5930' in found['listener-not-loopback']['message']


def test_ctl_doctor_finds_a_vm_console_port_no_seat_gates(real_lab):
    lab = real_lab()
    lab.listen(5931, hosts=('127.0.0.1',))
    lab.start_helper()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert problems(found) == ['listener-not-gated']
    assert '127.0.0.1:5931' in found['listener-not-gated']['message']
    assert 'Ports=' in found['listener-not-gated']['fix']


def test_ctl_doctor_finds_the_helper_stopped(real_lab):
    lab = real_lab()
    lab.start_helper()
    lab.helper.stop()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert 'helper-not-running' in problems(found)
    assert 'systemctl enable --now seatgate' in found['helper-not-running']['fix']


def test_ctl_doctor_finds_the_table_removed(real_lab):
    lab = real_lab()
    lab.start_helper()
    lab.helper.stop()
    subprocess.run(['nft', 'delete', 'table', 'inet', 'seatgate'], check=True)
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert 'table-missing' in problems(found)
    assert 'every local user can reach' in found['table-missing']['message']


# The real polkitd sees no logind session here: a rule lets the grant through.
GRANT_RULE = [('10-lab.rules', 'polkit.addRule(function(a, s) {'
               ' return a.id == "io.github.seatgate.grant" ? polkit.Result.YES'
               ' : polkit.Result.NOT_HANDLED; });')]


def test_ctl_doctor_says_a_stopped_helpers_table_still_refuses_everyone(real_lab):
    # What is true after `systemctl stop seatgate` on every layout: the table
    # left behind refuses every uid (a clean stop revoked every grant), but
    # nothing guards it, so a flush would open the ports.
    lab = real_lab(rules=GRANT_RULE)
    lab.listen(5930)
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    lab.helper.stop()
    assert alice.connect('127.0.0.1') == 'refused'
    _, found = findings(lab)
    f = found['table-unguarded']
    assert f['severity'] == 'warning'
    assert 'keeps the ports closed to every uid without a grant' in f['message']
    assert 'nft flush ruleset' in f['message']
    assert 'systemctl start seatgate' in f['fix']
    assert 'stale-grants' not in found
    assert not any('between a stop and the next start' in g['message'] for g in found.values())


def test_ctl_doctor_finds_the_grants_a_killed_helper_left(real_lab):
    lab = real_lab(rules=GRANT_RULE)
    lab.listen(5930)
    lab.start_helper()
    alice = lab.actor(CONSOLE_UID)
    assert alice.grant().ok
    lab.helper.stop(signal.SIGKILL)
    assert alice.connect('127.0.0.1') == 'ok'
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert 'stale-grants' in problems(found)
    assert f'uid {CONSOLE_UID} on 5930' in found['stale-grants']['message']
    assert 'table-unguarded' in found
    # The fix it names works: the next start leaves only the deny.
    lab.start_helper()
    assert alice.connect('127.0.0.1') == 'refused'


def test_ctl_doctor_finds_nothing_wrong_with_the_owned_table_and_its_backstop(real_lab):
    # The layout of Linux 5.12-6.8 (TableMode=backstop asks for it here).
    lab = real_lab(rules=GRANT_RULE)
    lab.listen(5930)
    lab.start_helper(lab.write_config(table_mode='backstop'))
    assert lab.actor(CONSOLE_UID).grant().ok
    status, found = findings(lab)
    assert problems(found) == []
    assert status == ctl.EXIT_OK
    for table_finding in ('table-not-owned', 'table-unguarded', 'tables-disagree',
                          'backstop-missing', 'kernel-no-table-persist'):
        assert table_finding not in found, found[table_finding]


def test_ctl_doctor_finds_a_broken_config(real_lab):
    lab = real_lab()
    lab.start_helper()
    broken = lab.write_file('broken.conf', '[Seat seat0]\nPorts=5930-5920\n')
    status, doc = ctl.run_json(lab, ['doctor', '--config', broken])
    found = {f['id']: f for f in doc['findings']}
    assert status == ctl.EXIT_FAILURE
    assert f'{broken}:2: [Seat seat0] Ports:' in found['config-invalid']['message']
    assert 'seatgatectl check-config' in found['config-invalid']['fix']


def test_ctl_doctor_warns_of_a_seat_without_active_session(real_lab):
    lab = real_lab()
    lab.start_helper()
    lab.logind.deactivate('seat0')
    status, found = findings(lab)
    assert status == ctl.EXIT_OK
    assert found['seat-no-active-session']['severity'] == 'warning'
    assert 'seat0 has no active session' in found['seat-no-active-session']['message']


def test_ctl_doctor_finds_a_seat_logind_does_not_know(real_lab):
    lab = real_lab()
    lab.write_config(seats={'seat0': '5930', 'seat9': '5939'})
    lab.start_helper()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert 'logind knows no seat seat9' in found['seat-unknown']['message']


def test_ctl_doctor_finds_the_grant_action_opened_to_anyone(real_lab):
    lab = real_lab(policy_edit=lambda text: text.replace(
        '<allow_any>no</allow_any>', '<allow_any>yes</allow_any>', 1))
    lab.start_helper()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert problems(found) == ['polkit-grant-allow-any']
    assert 'rules file' in found['polkit-grant-allow-any']['fix']


def test_ctl_doctor_finds_the_polkit_actions_missing(real_lab):
    lab = real_lab(policy_edit=lambda text: None)
    lab.start_helper()
    status, found = findings(lab)
    assert status == ctl.EXIT_FAILURE
    assert problems(found) == ['polkit-action-missing']
    assert 'io.github.seatgate.grant' in found['polkit-action-missing']['message']


def test_ctl_doctor_prints_each_problem_with_its_fix(real_lab):
    lab = real_lab()
    lab.listen(5930, hosts=('0.0.0.0',))
    r = ctl.run(lab, ['doctor', '--config', lab.config_path])
    assert r.returncode == ctl.EXIT_FAILURE
    lines = r.stdout.splitlines()
    problem_lines = [i for i, line in enumerate(lines) if line.startswith('PROBLEM [')]
    assert {lines[i].split(']')[0] for i in problem_lines} >= \
        {'PROBLEM [helper-not-running', 'PROBLEM [table-missing', 'PROBLEM [listener-not-loopback'}
    assert all(lines[i + 1].startswith('  Fix: ') for i in problem_lines)
    assert lines[-1].startswith(f'{len(problem_lines)} problems, ')


def test_ctl_doctor_reports_the_helper_granting_nothing_wrong_while_granted(real_lab):
    lab = real_lab(rules=[('10-lab.rules', 'polkit.addRule(function(a, s) {'
                           ' return a.id == "io.github.seatgate.grant" ? polkit.Result.YES'
                           ' : polkit.Result.NOT_HANDLED; });')])
    lab.listen(5930)
    lab.start_helper()
    assert lab.actor(CONSOLE_UID).grant().ok
    status, found = findings(lab)
    assert problems(found) == []
    assert status == ctl.EXIT_OK


def _kernel_config():
    path = f'/boot/config-{os.uname().release}'
    try:
        if os.path.exists('/proc/config.gz'):
            with gzip.open('/proc/config.gz', 'rt') as f:
                return f.read()
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError:
        return None


def test_ctl_doctor_kernel_findings_match_the_running_kernel(real_lab):
    config = _kernel_config()
    if config is None:
        pytest.skip('the kernel config is not readable (/proc/config.gz, /boot/config-*)')
    lab = real_lab()
    lab.start_helper()
    _, found = findings(lab)
    major, minor = (int(x) for x in os.uname().release.split('.')[:2])
    assert ('kernel-no-sock-destroy' in found) == ('CONFIG_INET_DIAG_DESTROY=y' not in config)
    assert ('kernel-no-table-owner' in found) == ((major, minor) < (5, 12))
    # 5.12-6.8 is no weakness any more: the helper's owned table and its
    # backstop (helper/nft-gate.h) leave no window.
    assert 'kernel-no-table-persist' not in found
