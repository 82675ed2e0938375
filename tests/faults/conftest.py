'''pytest fixtures of the fault suite, over the seatgate lab.

  lab     a started FaultLab (tests/faults/faults_lab.py) with the standard
          world (1000 at seat0, 1001 remote, 1002 in the background of
          seat0), polkit allowing io.github.seatgate.grant, echo listeners
          on 127.0.0.1:5930 and [::1]:5930. No helper yet.
  helper  lab.start_helper() with the default config (seat0 gates 5930).

When a test fails, the helper's, the stand-ins', the agents' and the
probers' logs and the nft ruleset are attached to the report.
'''

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))

from faults_lab import FaultLab  # noqa: E402
from lab_pytest import (helper, pytest_runtest_makereport,  # noqa: E402,F401
                        pytest_sessionfinish, standard_lab)


@pytest.fixture
def lab(request):
    yield from standard_lab(request, lab_class=FaultLab)
