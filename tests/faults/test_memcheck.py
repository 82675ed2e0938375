'''Memory safety under valgrind (issue 4, fault 8): the helper and the agent
run under memcheck through a grant / seat switch / admin revoke cycle and
stop as they do for real (SIGTERM); memcheck must find no error and no
definite leak in either. GLib's own suppressions are used.

(The sanitizer build of the whole suite is tests/run's; this is the
valgrind part.)'''

import os
import re
import shutil
import signal

import pytest

from faults_lab import LOOPBACKS, agent_binary, helper_binary, report, sanitized
from seatgate_lab import (ACTION_GRANT, ACTION_MANAGE, ADMIN_UID, CONSOLE_SESSION, CONSOLE_UID,
                          INACTIVE_SESSION, wait_until)

GLIB_SUPP = '/usr/share/glib-2.0/valgrind/glib.supp'
# Everything is slow under valgrind; these only stop a hang.
SLOW = 60.0
GRANTED = [('seat0', CONSOLE_UID, [5930])]


def memcheck(log_pattern):
    cmd = ['valgrind', '--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite',
           '--errors-for-leak-kinds=definite', '--error-exitcode=99', '--num-callers=40',
           '--track-origins=yes', f'--log-file={log_pattern}']
    if os.path.exists(GLIB_SUPP):
        cmd.append(f'--suppressions={GLIB_SUPP}')
    return cmd


VALGRIND_ENV = {'G_SLICE': 'always-malloc', 'G_DEBUG': 'fatal-criticals,gc-friendly'}


def summary(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    errors = re.search(r'ERROR SUMMARY: (\d+) errors', text)
    lost = re.search(r'definitely lost: ([\d,]+) bytes', text)
    return (int(errors.group(1)) if errors else None,
            int(lost.group(1).replace(',', '')) if lost else 0, text)


@pytest.mark.skipif(shutil.which('valgrind') is None, reason='valgrind is not installed')
@pytest.mark.skipif(sanitized(helper_binary()) or sanitized(agent_binary()),
                    reason='a sanitizer build: valgrind cannot run it (the sanitizers check it)')
def test_helper_and_agent_are_clean_under_memcheck_over_a_grant_switch_revoke_cycle(lab):
    logs = os.path.join(lab.dir, 'valgrind')
    os.makedirs(logs)
    os.chmod(logs, 0o777)
    helper = lab.start_helper(wrapper=memcheck(f'{logs}/helper.%p.log'), env=VALGRIND_ENV,
                              timeout=SLOW)
    agent = lab.start_agent(CONSOLE_UID, CONSOLE_SESSION, wrapper=memcheck(f'{logs}/agent.%p.log'),
                            env=VALGRIND_ENV)
    alice = lab.actor(CONSOLE_UID, bus=False)

    def grants_are(value, what):
        wait_until(lambda: lab.gate.grants() == value, SLOW, interval=0.1, what=what)

    grants_are(GRANTED, 'the agent\'s grant')
    assert alice.connect(LOOPBACKS[0]) == 'ok'
    conn = alice.open(LOOPBACKS[1])

    # A seat switch away and back: revoked, then asked again by the agent.
    mark = lab.gate.mark()
    lab.logind.activate(INACTIVE_SESSION)
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'session-changed'), since=mark,
                                timeout=SLOW)
    assert conn.wait_closed(SLOW)
    lab.logind.activate(CONSOLE_SESSION)
    grants_are(GRANTED, 'the agent to ask again')

    # An administrator's revoke, then a switch away and back once more.
    lab.polkit.set_allowed([ACTION_GRANT, ACTION_MANAGE])
    mark = lab.gate.mark()
    reply = lab.actor(ADMIN_UID).call('Revoke', 'u', (CONSOLE_UID,), timeout=SLOW)
    assert reply.ok, reply
    assert lab.gate.wait_signal('Revoked', ('seat0', CONSOLE_UID, 'admin'), since=mark,
                                timeout=SLOW)
    assert alice.connect(LOOPBACKS[0]) == 'refused'
    lab.logind.activate(INACTIVE_SESSION)
    lab.logind.activate(CONSOLE_SESSION)
    grants_are(GRANTED, 'the agent to ask after the switch back')

    # Both stop as they do for real; the agent's going ends its grant.
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(SLOW) == 0, lab.read(agent.lab_log_path)
    grants_are([], 'the agent\'s grant to end with it')
    assert helper.stop(signal.SIGTERM, timeout=SLOW) == 0, helper.log()

    results = {}
    for name in sorted(os.listdir(logs)):
        errors, lost, text = summary(os.path.join(logs, name))
        results[name] = (errors, lost)
        assert errors == 0, f'{name}: memcheck found errors:\n{text}'
        assert lost == 0, f'{name}: {lost} bytes definitely lost:\n{text}'
    report('memcheck', **{name: f'errors={e},definitely_lost={b}' for name, (e, b) in results.items()})
    assert any(n.startswith('helper.') for n in results) and \
        any(n.startswith('agent.') for n in results), results
