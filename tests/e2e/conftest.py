'''pytest fixtures for the end-to-end tests: the real thing seatgate protects.

  lab    the lab's standard world (1000 at seat0, 1001 remote over ssh, 1002
         in the background of seat0), polkit allowing the grant; no echo
         listeners: the VM owns port 5930
  helper the real seatgate-helper, default config (seat0 gates 5930)
  desk   an AgentLab over the lab: private session bus for the real agents
  vm     QEMU with SPICE on [::]:5930 (127.0.0.1 and ::1 in the lab),
         running as uid 1009, listening

Run under tests/e2e/sandbox-run (meson does). When a test fails, the logs of
the helper, the agents, QEMU, the viewers and the stand-ins are attached.
'''

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, 'lab'))
sys.path.insert(0, os.path.join(TESTS, 'agent'))
sys.path.insert(0, HERE)

import seatgate_lab  # noqa: E402
from agent_lab import AgentLab  # noqa: E402
from e2e_lab import VM  # noqa: E402


@pytest.fixture
def lab(request):
    with seatgate_lab.Lab() as lab:
        request.node.seatgate_lab = lab
        lab.start()
        lab.standard_world()
        yield lab


@pytest.fixture
def helper(lab):
    return lab.start_helper()


@pytest.fixture
def desk(request, lab):
    with AgentLab(lab) as desk:
        request.node.agent_lab = desk
        yield desk


@pytest.fixture
def vm(lab):
    machine = VM(lab, addr='::').start()
    machine.wait_listening()
    yield machine
    machine.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ('setup', 'call') or not report.failed:
        return
    for attr in ('agent_lab', 'seatgate_lab'):
        holder = getattr(item, attr, None)
        if holder is None:
            continue
        for title, text in holder.logs().items():
            report.sections.append((title, text if text.strip() else '(empty)'))
