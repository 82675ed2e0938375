'''What the suites' conftest.py files share: the standard lab's fixture
body, the helper and desk fixtures, and the hook that attaches the lab's logs
to a failed test's report. A conftest imports what it uses:

    from lab_pytest import helper, pytest_runtest_makereport, standard_lab  # noqa: F401

    @pytest.fixture
    def lab(request):
        yield from standard_lab(request)
'''

import pytest

import seatgate_lab


def standard_lab(request, lab_class=seatgate_lab.Lab, listen=True, allowed=None, prepare=None):
    '''A started lab holding the standard world (1000 at seat0, 1001 remote,
    1002 in the background of seat0), polkit allowing `allowed` (default: the
    grant), and echo listeners on 127.0.0.1:5930 and [::1]:5930 unless
    listen is False. prepare(lab) runs before it starts. No helper yet.'''
    with lab_class() as lab:
        request.node.seatgate_lab = lab
        if prepare is not None:
            prepare(lab)
        if allowed is None:
            lab.start()
        else:
            lab.start(allowed=allowed)
        lab.standard_world()
        if listen:
            lab.listen(seatgate_lab.DEFAULT_PORT)
        yield lab


@pytest.fixture
def helper(lab):
    '''The real seatgate-helper with the lab's config (default: seat0 gates 5930).'''
    return lab.start_helper()


@pytest.fixture
def desk(request, lab):
    '''An AgentLab over the lab: a private session bus for real agents.'''
    from agent_lab import AgentLab
    with AgentLab(lab) as the_desk:
        request.node.agent_lab = the_desk
        yield the_desk


def pytest_sessionfinish(session, exitstatus):
    '''meson runs one test function per pytest run: a skipped one must tell
    meson so (exit 77, SKIP) instead of passing as OK.'''
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    stats = reporter.stats if reporter is not None else {}
    if exitstatus == 0 and stats.get('skipped') and not stats.get('passed'):
        session.exitstatus = 77


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ('setup', 'call') or not report.failed:
        return
    for attr in ('desktop_lab', 'agent_lab', 'seatgate_lab'):
        holder = getattr(item, attr, None)
        if holder is None:
            continue
        for title, text in holder.logs().items():
            report.sections.append((title, text if text.strip() else '(empty)'))
