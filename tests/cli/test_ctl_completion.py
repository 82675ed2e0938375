'''Bash completion for seatgatectl (cli/seatgatectl.bash-completion), run in
a real bash with Debian's bash-completion.'''

import os
import subprocess

import pytest

from seatgate_lab import SOURCE_DIR

COMPLETION = os.path.join(SOURCE_DIR, 'cli', 'seatgatectl.bash-completion')
BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'


def complete(line):
    '''The words bash offers for the last word of line.'''
    if not os.path.exists(BASH_COMPLETION):
        pytest.skip('bash-completion is not installed')
    script = f'''
source {BASH_COMPLETION}
source {COMPLETION}
COMP_LINE={line!r}
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_seatgatectl seatgatectl "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
'''
    r = subprocess.run(['bash', '--norc', '--noprofile', '-c', script], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.split('\n') if w)


def test_ctl_completion_offers_every_command():
    assert complete('seatgatectl ') == sorted(
        ['status', 'grant', 'release', 'revoke', 'monitor', 'check-config', 'doctor', 'help',
         '--help', '--version'])


def test_ctl_completion_completes_a_command_prefix():
    assert complete('seatgatectl re') == ['release', 'revoke']


def test_ctl_completion_offers_a_command_options():
    assert complete('seatgatectl status --') == ['--config', '--help', '--json']


def test_ctl_completion_offers_user_names_to_revoke():
    assert 'root' in complete('seatgatectl revoke ro')


def test_ctl_completion_completes_the_command_after_grant_dashes():
    assert 'true' in complete('seatgatectl grant -- tru')
    words = complete('seatgatectl grant -- sta')
    assert 'stat' in words and 'status' not in words
