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

import seatgate_lab  # noqa: E402
from faults_lab import FaultLab  # noqa: E402


@pytest.fixture
def lab(request):
    with FaultLab() as lab:
        request.node.seatgate_lab = lab
        lab.start()
        lab.standard_world()
        lab.listen(seatgate_lab.DEFAULT_PORT)
        yield lab


@pytest.fixture
def helper(lab):
    return lab.start_helper()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ('setup', 'call') or not report.failed:
        return
    the_lab = getattr(item, 'seatgate_lab', None)
    if the_lab is None:
        return
    for title, text in the_lab.logs().items():
        report.sections.append((title, text if text.strip() else '(empty)'))
