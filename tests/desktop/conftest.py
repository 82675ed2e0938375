'''pytest fixtures for the desktop suite: the agent lab (tests/agent) with
an X display and the installed build (desktop_lab.Desktop) for the person
at seat0 (uid 1000). When a test fails, the agents', helper's, stand-ins'
and desktop programs' logs are attached.'''

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'agent'))

from lab_pytest import (desk, helper, pytest_runtest_makereport, pytest_sessionfinish,  # noqa: E402,F401
                        standard_lab)
from seatgate_lab import CONSOLE_UID  # noqa: E402


@pytest.fixture
def lab(request):
    yield from standard_lab(request)


@pytest.fixture
def desktop(request, desk):
    from desktop_lab import Desktop
    with Desktop(desk, CONSOLE_UID) as d:
        request.node.desktop_lab = d
        yield d
