'''pytest fixtures for the libvirt suite.

  folder    a fresh folder under /tmp (the sandbox's private /tmp): libvirtd's
            config, socket and logs, the domain's XML, the tool's log
  libvirtd  a real libvirtd in the sandbox (libvirt_lab.Libvirtd), started
  domain    the TCG domain "sglab" running, SPICE on 127.0.0.1:5930
  console   vm-console-tool over [Seat seat0] LibvirtDomain=sglab,
            LibvirtURI=qemu+unix:///system?socket=..., LockKeys=meta_l+l,
            after its first connection ("reachable")
  lab       the seatgate lab's standard world (tests/lab: 1000 at seat0,
            1001 remote, 1002 in seat0's background), no echo listeners:
            the domain owns port 5930; the real helper is started by the test

When a test fails, libvirtd's and QEMU's logs, the tool's log and the lab's
logs are printed.'''

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
TESTS = os.path.dirname(HERE)
for sub in ('vm-console', 'e2e', 'lab'):
    sys.path.insert(0, os.path.join(TESTS, sub))

from lab_pytest import pytest_sessionfinish, standard_lab  # noqa: E402,F401
from libvirt_lab import Libvirtd, config_for  # noqa: E402
from vmc_lab import Tool  # noqa: E402


@pytest.fixture
def folder():
    with tempfile.TemporaryDirectory(prefix='sg-lv-') as d:
        yield d


@pytest.fixture
def libvirtd(folder, request):
    daemon = Libvirtd(folder).start()
    yield daemon
    if getattr(request.node, 'failed', False):
        print('--- libvirtd and QEMU logs ---\n' + daemon.log())
    daemon.close()


@pytest.fixture
def domain(libvirtd):
    libvirtd.create_domain()
    return libvirtd


@pytest.fixture
def make_console(folder, libvirtd, request):
    tools = []

    def make(wait_reachable=True, lock_keys='meta_l+l'):
        tool = Tool(folder, config_for(libvirtd.uri, lock_keys=lock_keys))
        tools.append(tool)
        if wait_reachable:
            tool.event('reachable')
        return tool
    yield make
    for tool in tools:
        tool.close()
        if getattr(request.node, 'failed', False):
            print('--- vm-console-tool log ---\n' + tool.log())


@pytest.fixture
def console(domain, make_console):
    return make_console()


@pytest.fixture
def lab(request):
    yield from standard_lab(request, listen=False)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ('setup', 'call') or not report.failed:
        return
    item.failed = True
    holder = getattr(item, 'seatgate_lab', None)
    if holder is not None:
        for title, text in holder.logs().items():
            report.sections.append((title, text if text.strip() else '(empty)'))
