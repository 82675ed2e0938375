'''pytest fixtures over the seatgate lab (tests/lab/seatgate_lab.py).

  lab     a started lab: private system bus, logind stand-in holding the
          standard world (1000 at seat0, 1001 remote, 1002 in the background
          of seat0), polkit allowing io.github.seatgate.grant, echo listeners
          on 127.0.0.1:5930 and [::1]:5930. No helper yet.
  bare_lab  only the bus and the two stand-ins, nothing in logind, no listeners.
  helper  lab.start_helper() with the default config (seat0 gates 5930).

When a test fails (or its setup does), the helper's log, the mocks' logs,
the actors' stderr and the nft ruleset are attached to the report.
'''

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))

import seatgate_lab  # noqa: E402
from lab_pytest import (helper, pytest_runtest_makereport,  # noqa: E402,F401
                        pytest_sessionfinish, standard_lab)


@pytest.fixture
def bare_lab(request):
    with seatgate_lab.Lab(helper_policy='auto') as lab:
        request.node.seatgate_lab = lab
        lab.start()
        yield lab


@pytest.fixture
def lab(request):
    yield from standard_lab(request)
