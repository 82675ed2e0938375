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

import seatgate_lab  # noqa: E402
from agent_lab import AgentLab  # noqa: E402


@pytest.fixture
def lab(request):
    with seatgate_lab.Lab() as lab:
        request.node.seatgate_lab = lab
        lab.start()
        lab.standard_world()
        lab.listen(seatgate_lab.DEFAULT_PORT)
        yield lab


@pytest.fixture
def desk(request, lab):
    with AgentLab(lab) as desk:
        request.node.agent_lab = desk
        yield desk


@pytest.fixture
def helper(lab):
    return lab.start_helper()


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
