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
sys.path.insert(0, os.path.join(TESTS, 'cli'))
sys.path.insert(0, HERE)

from e2e_lab import VM  # noqa: E402
from lab_pytest import (desk, helper, pytest_runtest_makereport,  # noqa: E402,F401
                        pytest_sessionfinish, standard_lab)


@pytest.fixture
def lab(request):
    # no echo listeners: the VM owns port 5930
    yield from standard_lab(request, listen=False)


@pytest.fixture
def vm(lab):
    machine = VM(lab, addr='::').start()
    machine.wait_listening()
    yield machine
    machine.stop()
