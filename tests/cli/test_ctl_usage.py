'''seatgatectl's usage: commands, --help with exit statuses, --version.'''

import subprocess

import pytest

import ctl
from seatgate_lab import SOURCE_DIR

COMMANDS = ['status', 'grant', 'release', 'revoke', 'monitor', 'check-config', 'doctor']


def run(*args):
    return subprocess.run([ctl.SEATGATECTL] + list(args), capture_output=True, text=True,
                          timeout=10, env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8'})


def test_ctl_usage_help_lists_every_command_and_the_exit_statuses():
    r = run('--help')
    assert r.returncode == ctl.EXIT_OK
    listed = [line.split()[0] for line in r.stdout.splitlines() if line.startswith('  ')]
    assert listed == COMMANDS
    assert '3 seatgate-helper is not on the system bus' in r.stdout


@pytest.mark.parametrize('command', COMMANDS)
def test_ctl_usage_each_command_has_help_with_exit_statuses(command):
    r = run(command, '--help')
    assert r.returncode == ctl.EXIT_OK
    assert r.stdout.startswith(f'Usage:\n  seatgatectl {command} ')
    assert 'Exit status: 0 done' in r.stdout


def test_ctl_usage_help_command_shows_a_command_help():
    assert run('help', 'revoke').stdout == run('revoke', '--help').stdout


def test_ctl_usage_an_unknown_command_is_a_usage_error():
    r = run('frobnicate')
    assert r.returncode == ctl.EXIT_USAGE
    assert "no command 'frobnicate'" in r.stderr


def test_ctl_usage_an_unknown_option_is_a_usage_error():
    r = run('status', '--frobnicate')
    assert r.returncode == ctl.EXIT_USAGE


def test_ctl_usage_version_matches_the_project():
    with open(f'{SOURCE_DIR}/meson.build', encoding='utf-8') as f:
        version = f.read().split("version: '", 1)[1].split("'", 1)[0]
    r = run('--version')
    assert r.stdout == f'seatgatectl {version}\n'
