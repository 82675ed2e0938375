'''pytest fixtures for the vm-console suite.

  folder  a fresh folder under /tmp (the sandbox's private /tmp), holding
          the VM's QMP socket, its 0600 secret file and the logs
  vm      QEMU with SPICE on 127.0.0.1:5930 (password-secret, ticketing on)
          and -qmp unix:FOLDER/vm.qmp
  console vm-console-tool over [Seat seat0] QMPSocket=FOLDER/vm.qmp,
          LockKeys=meta_l+l, after its first connection ("reachable")

When a test fails, QEMU's log and the tool's log are printed.'''

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from vmc_lab import Qemu, Tool  # noqa: E402


@pytest.fixture
def folder():
    with tempfile.TemporaryDirectory(prefix='sg-vmc-') as d:
        yield d


@pytest.fixture
def qmp_path(folder):
    return os.path.join(folder, 'vm.qmp')


@pytest.fixture
def vm(folder, qmp_path, request):
    machine = Qemu(folder, qmp_path).start()
    yield machine
    if getattr(request.node, 'failed', False):
        print('--- QEMU log ---\n' + machine.log())
    try:
        machine.stop_signal(18)  # SIGCONT: a test may leave it stopped
    except (ProcessLookupError, AttributeError):
        pass
    machine.kill()


def config_for(qmp_path, lock_keys='meta_l+l'):
    return (f'[Seat seat0]\nPorts=5930\nQMPSocket={qmp_path}\n'
            + (f'LockKeys={lock_keys}\n' if lock_keys else ''))


@pytest.fixture
def make_console(folder, qmp_path, request):
    tools = []

    def make(wait_reachable=True, lock_keys='meta_l+l', path=qmp_path):
        tool = Tool(folder, config_for(path, lock_keys))
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
def console(vm, make_console):
    return make_console()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == 'call' and report.failed:
        item.failed = True
