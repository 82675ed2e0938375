'''pytest fixtures for the agent tests, over the seatgate lab.

  lab    the lab's standard world (tests/integration/conftest.py): private
         system bus, logind stand-in (1000 active on seat0, 1001 remote,
         1002 in the background of seat0), polkit allowing the grant,
         listeners on 127.0.0.1:5930 and [::1]:5930
  desk   an AgentLab over it: private session bus, system bus monitor; no
         watcher, no notification daemon, no helper yet
  helper the real seatgate-helper, default config (seat0 gates 5930)

When a test fails, the agents', helper's and stand-ins' logs are attached.
'''

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))

from lab_pytest import (desk, helper, pytest_runtest_makereport,  # noqa: E402,F401
                        pytest_sessionfinish, standard_lab)


@pytest.fixture
def lab(request):
    yield from standard_lab(request)
