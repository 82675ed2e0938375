'''pytest fixtures for seatgatectl's tests, over the seatgate lab
(tests/lab/seatgate_lab.py) and, for the real-polkitd tests, polkit_real.py.

  lab        a started lab with the mock polkit allowing grant and manage,
             the standard world (1000 at seat0, 1001 remote, 1002 in the
             background of seat0), echo listeners on 127.0.0.1:5930 and
             [::1]:5930, a config file; no helper yet.
  helper     lab.start_helper() with that config.
  real_lab   a factory: real_lab(rules=[...], groups={...}, names={...},
             policy_edit=f) returns a started RealPolkitLab (polkitd is the
             real one) with the standard world.

When a test fails, the helper's, the stand-ins', polkitd's and seatgatectl's
output and the nft ruleset are attached to the report.
'''

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))
sys.path.insert(0, HERE)

import seatgate_lab  # noqa: E402
from lab_pytest import (helper, pytest_runtest_makereport,  # noqa: E402,F401
                        pytest_sessionfinish, standard_lab)
from polkit_real import RealPolkitLab  # noqa: E402


class CtlLogs:
    '''Adds seatgatectl's log to the lab's logs.'''

    @staticmethod
    def attach(lab):
        original = lab.logs

        def logs():
            out = original()
            out['seatgatectl'] = lab.read(os.path.join(lab.dir, 'seatgatectl.log'))
            return out
        lab.logs = logs


@pytest.fixture
def lab(request):
    for the_lab in standard_lab(request, prepare=CtlLogs.attach,
                                allowed=(seatgate_lab.ACTION_GRANT, seatgate_lab.ACTION_MANAGE)):
        the_lab.write_config()
        yield the_lab


@pytest.fixture
def real_lab(request):
    labs = []

    def make(rules=(), groups=None, names=None, policy_edit=None, world=True):
        the_lab = RealPolkitLab(rules=rules, groups=groups, names=names, policy_edit=policy_edit)
        labs.append(the_lab)
        request.node.seatgate_lab = the_lab
        CtlLogs.attach(the_lab)
        the_lab.start()
        if world:
            the_lab.standard_world()
        the_lab.write_config()
        return the_lab
    yield make
    for the_lab in labs:
        the_lab.close()
