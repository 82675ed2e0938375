'''pytest fixtures for the libvirt suite.

  folder    a fresh folder under /tmp (the sandbox's private /tmp): libvirtd's
            config, socket and logs, the domain's XML, the tool's log
  libvirtd  a real libvirtd in the sandbox (libvirt_lab.Libvirtd), started
  domain    the TCG domain "sglab" running, SPICE on 127.0.0.1:5930
  console   vm-console-tool over [Seat seat0] LibvirtDomain=sglab,
            LibvirtURI=qemu+unix:///system?socket=..., LockKeys=meta_l+l,
            after its first connection ("reachable")

When a test fails, libvirtd's and QEMU's logs and the tool's log are
printed.'''

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'vm-console'))

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


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == 'call' and report.failed:
        item.failed = True
