#!/usr/bin/python3
"""The VM suite's host side, one run per Debian release:
  vmtest.py RELEASE --build DIR --out DIR
builds (or takes from the cache) a Debian guest image with debootstrap from
the mirror this machine's apt uses; builds seatgate's Debian packages from
the committed tree (tests/packaging/build-debs --cache, once per commit for
both releases and the packaging suite), and an older build of them to
upgrade from; installs the current packages into a copy of the image the
way an admin does (install-seatgate: apt install ./seatgate_*.deb
./seatgate-agent_*.deb); boots it under QEMU (KVM when it works, else TCG),
and turns what the guest's driver (guest/driver.py) writes on the second
serial port into TAP, one subtest per check (and one per step of the
guest's package scenario, tests/packaging/vm-package-scenario). The serial
console log and the guest's results stay in --out and are printed when a
check fails; tests/vm/last-run.json gets what the README's "Tested on" table
needs. Exit 77 with "1..0 # SKIP <reason>" when the machine cannot run it.
Uncommitted changes to what the packages hold are not in the guest: commit
first (the run says so when there are some).
  SEATGATE_VM_PREVIOUS_REF=REF: the build to upgrade from is commit REF
  (default HEAD), built as VERSION~prev1 either way so it is older."""
import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
PACKAGING = os.path.join(SOURCE, 'tests', 'packaging')
CACHE = os.environ.get('SEATGATE_VM_CACHE', '/var/tmp/seatgate-vm')
QEMU_TIMEOUT = int(os.environ.get('SEATGATE_VM_TIMEOUT', '1100'))
# Where the guest finds the packages (install-seatgate, vm-package-scenario).
GUEST_DEBS = '/var/lib/sg-vmtest/debs'
PREVIOUS_SUFFIX = '~prev1'

# The guest's own packages and kernel: these fix what each release is.
RELEASES = {'bookworm': 'Debian 12', 'trixie': 'Debian 13'}


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []

    def result(self, ok, name, detail=''):
        self.n += 1
        line = f"{'ok' if ok else 'not ok'} {self.n} - {name}"
        print(line, flush=True)
        for l in detail.splitlines():
            print(f'#   {l}', flush=True)
        if not ok:
            self.failed.append(name)

    def comment(self, text):
        for l in text.splitlines():
            print(f'# {l}', flush=True)

    def measured(self, name, value, unit=''):
        print(f'# MEASURED {name}={value}{unit}', flush=True)

    def end(self):
        print(f'1..{self.n}', flush=True)


def skip(reason):
    '''A TAP skip; exit 77 when run by hand, 0 under meson, which reads the
    skip from the plan and calls any other status of a TAP test an error.'''
    print(f'1..0 # SKIP {reason}', flush=True)
    sys.exit(0 if os.environ.get('SEATGATE_VM_UNDER_MESON') else 77)


def run(cmd, timeout, log, **kw):
    '''Runs cmd, its output appended to log; raises with the log's tail.'''
    with open(log, 'a') as f:
        f.write(f'$ {" ".join(cmd)}\n')
        f.flush()
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f'{cmd[0]} did not finish within {timeout} s; see {log}')
        f.write(f'(exit {p.returncode}, {time.monotonic() - t0:.1f} s)\n')
    if p.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({p.returncode}):\n{tail(log, 25)}')


def tail(path, lines):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except FileNotFoundError:
        return f'({path} does not exist)'


def apt_mirror(release):
    '''The Debian mirror this machine's apt uses for main, from apt's own
    view of its sources (both releases are on it).'''
    policy = subprocess.run(['apt-cache', 'policy'], stdout=subprocess.PIPE, text=True).stdout
    for line in policy.splitlines():
        m = re.match(r'\s*\d+\s+(\S+)\s+(\S+)/main\s+amd64\s+Packages', line)
        if m and not re.search(r'-(security|updates|backports)$', m.group(2)) and '/debian' in m.group(1):
            if 'security' not in m.group(1):
                return m.group(1)
    return None


def kvm_works():
    """True when KVM can run this machine type. A /dev/kvm that opens is not
    enough: on these machines (no vmx/svm) KVM_CREATE_VM succeeds and QEMU
    then aborts setting the vCPU's MSRs, so a firmware-only QEMU must stay
    up for 2 s."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, 0xAE00) != 12:  # KVM_GET_API_VERSION
            return False
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        subprocess.run(['qemu-system-x86_64', '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host',
                            '-nodefaults', '-display', 'none', '-m', '64', '-no-reboot'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=2)
        return False  # it stopped by itself: KVM could not run it
    except subprocess.TimeoutExpired:
        return True


def locked(path):
    f = open(path, 'w')
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def image(release, mirror, log):
    '''The cached root file system for release: CACHE/RELEASE-KEY/root,
    built when the key (this script's image inputs) changed.'''
    packages = os.path.join(HERE, f'packages-{release}.txt')
    h = hashlib.sha256()
    for path in (packages, os.path.join(HERE, 'build-image')):
        with open(path, 'rb') as f:
            h.update(f.read())
    h.update(mirror.encode())
    key = h.hexdigest()[:16]
    os.makedirs(CACHE, mode=0o700, exist_ok=True)
    out = os.path.join(CACHE, f'{release}-{key}')
    with locked(os.path.join(CACHE, f'{release}.lock')):
        if os.path.isdir(os.path.join(out, 'root')):
            return out, key, False
        for old in os.listdir(CACHE):
            if old.startswith(release + '-') and old != os.path.basename(out):
                shutil.rmtree(os.path.join(CACHE, old), ignore_errors=True)
        run([os.path.join(HERE, 'build-image'), release, mirror, packages, out], 900, log)
    return out, key, True


class Skip(Exception):
    pass


def build_packages(build_root, log):
    '''seatgate's .debs as build-debs makes them from the committed tree,
    shared through BUILD/debs with the packaging suite and the other release
    (built on Debian 12, they install on 13 too), and the older build to
    upgrade from. Returns {'current': dir, 'previous': dir, 'built': [...]}.'''
    cache = os.path.join(build_root, 'debs')
    previous_ref = os.environ.get('SEATGATE_VM_PREVIOUS_REF', 'HEAD')
    found = {'built': []}
    for what, extra in (('current', []),
                        ('previous', ['--ref', previous_ref, '--version-suffix', PREVIOUS_SUFFIX])):
        cmd = [os.path.join(PACKAGING, 'build-debs'), '--cache', cache] + extra
        with open(log, 'a') as f:
            f.write(f'$ {" ".join(cmd)}\n')
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
        with open(log, 'a') as f:
            f.write(p.stderr + p.stdout + f'(exit {p.returncode})\n')
        if p.returncode == 77:
            raise Skip(p.stderr.strip().splitlines()[-1])
        if p.returncode != 0:
            raise RuntimeError(f'{" ".join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}')
        found[what] = p.stdout.strip().splitlines()[-1]
        if 'was built already' not in p.stderr:
            found['built'].append(what)
    return found


def package_debs(folder):
    '''seatgate_*.deb and seatgate-agent_*.deb of a build (not -dbgsym).'''
    debs = sorted(f for f in os.listdir(folder) if f.endswith('.deb') and '-dbgsym_' not in f)
    if sorted(re.sub(r'_.*', '', f) for f in debs) != ['seatgate', 'seatgate-agent']:
        raise RuntimeError(f'{folder} should hold seatgate_*.deb and seatgate-agent_*.deb: {debs}')
    return debs


def deb_field(path, field):
    return subprocess.run(['dpkg-deb', '-f', path, field], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()


DRIVER_UNITS = ('sg-vmtest.service', 'sg-vmtest-modules.service')


def stage(base, run_dir, debs, log, units=DRIVER_UNITS, driver='driver'):
    '''A copy of the image with seatgate installed and the driver in place
    (guest/DRIVER.py, started by the units, from guest/); returns (root,
    kernel, initrd).'''
    # A driver that cannot even be imported would cost a whole boot to find.
    run(['/usr/bin/python3', '-B', '-c', f'import sys; sys.path.insert(0, sys.argv[1]); import {driver}',
         os.path.join(HERE, 'guest')], 30, log)
    root = os.path.join(run_dir, 'root')
    shutil.rmtree(root, ignore_errors=True)
    run(['cp', '-a', os.path.join(base, 'root'), root], 300, log)
    for what in ('current', 'previous'):
        dest = os.path.join(root, GUEST_DEBS.lstrip('/'), what)
        os.makedirs(dest)
        for deb in package_debs(debs[what]):
            shutil.copy(os.path.join(debs[what], deb), dest)
    install_seatgate(root, f'{GUEST_DEBS}/current', log)
    lib = os.path.join(root, 'usr', 'lib', 'sg-vmtest')
    os.makedirs(lib, exist_ok=True)
    for name in os.listdir(os.path.join(HERE, 'guest')):
        if name.endswith('.py'):
            shutil.copy(os.path.join(HERE, 'guest', name), lib)
    # The package scenario, and the source's autopkgtest as that build has it.
    shutil.copy(os.path.join(PACKAGING, 'vm-package-scenario'), lib)
    if os.path.isdir(os.path.join(debs['current'], 'debian-tests')):
        shutil.copytree(os.path.join(debs['current'], 'debian-tests'), os.path.join(lib, 'debian-tests'))
    unit_dir = os.path.join(root, 'etc', 'systemd', 'system')
    for unit in units:
        shutil.copy(os.path.join(HERE, 'guest', unit), unit_dir)
        wants = os.path.join(unit_dir, 'multi-user.target.wants')
        os.makedirs(wants, exist_ok=True)
        link = os.path.join(wants, unit)
        if not os.path.lexists(link):
            os.symlink(f'/etc/systemd/system/{unit}', link)
    boot = os.path.join(root, 'boot')
    kernel = sorted(f for f in os.listdir(boot) if f.startswith('vmlinuz-'))[-1]
    initrd = sorted(f for f in os.listdir(boot) if f.startswith('initrd.img-'))[-1]
    for f in (kernel, initrd):
        shutil.copy(os.path.join(boot, f), run_dir)
    return root, os.path.join(run_dir, kernel), os.path.join(run_dir, initrd)


def install_seatgate(root, debdir, log):
    '''The replaceable step: apt install of the current packages; their
    postinst enables the service.'''
    run([os.path.join(HERE, 'install-seatgate'), root, debdir], 300, log)


KERNEL_TROUBLE = re.compile(r'\] (BUG: |Oops|WARNING: CPU|watchdog: BUG|INFO: task .* blocked for more than|'
                            r'Kernel panic|rcu: INFO: rcu_\w+ detected stalls)')


# After the guest kernel first reports trouble, the boot gets this long to
# recover or to print the rest of its traces; a hung guest (seen on 6.1 under
# TCG) otherwise waited the whole QEMU_TIMEOUT.
TROUBLE_GRACE = int(os.environ.get('SEATGATE_VM_TROUBLE_GRACE', '90'))


def boot(run_dir, kernel, initrd, img, accel, extra=(), tcg_cpu='max'):
    '''Runs the guest until it powers off, QEMU_TIMEOUT passes, or
    TROUBLE_GRACE after its kernel reports trouble. The console (first serial
    port, QEMU's stdout) is copied to console.log line by line as it comes.
    extra: more QEMU arguments (the desktop test's QMP and control port);
    tcg_cpu: the CPU model under TCG (desktoptest.py's GNOME_CPU says why
    GNOME's is not max).'''
    console = os.path.join(run_dir, 'console.log')
    results = os.path.join(run_dir, 'results.jsonl')
    qemu_log = os.path.join(run_dir, 'qemu.log')
    for f in (console, results):
        if os.path.exists(f):
            os.unlink(f)
    cmd = ['qemu-system-x86_64', '-machine', 'q35', '-accel', accel,
           '-cpu', 'host' if accel == 'kvm' else tcg_cpu, '-smp', '2', '-m', '2048',
           '-kernel', kernel, '-initrd', initrd,
           '-append', 'root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=1',
           '-drive', f'file={img},if=virtio,format=raw',
           '-nic', 'none', '-display', 'none', '-vga', 'std', '-monitor', 'none',
           '-serial', 'stdio', '-serial', f'file:{results}', '-no-reboot', *extra]
    t0 = time.monotonic()
    stopped = {}

    def stop(why):
        stopped.setdefault('why', why)
        if p.poll() is None:
            p.kill()

    with open(qemu_log, 'w') as err, open(console, 'wb') as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        deadline = threading.Timer(QEMU_TIMEOUT, stop, (f'killed after {QEMU_TIMEOUT} s',))
        deadline.start()
        grace = None
        try:
            for raw in p.stdout:
                out.write(raw)
                out.flush()
                if grace is None and KERNEL_TROUBLE.search(raw.decode(errors='replace')):
                    grace = threading.Timer(TROUBLE_GRACE, stop, (
                        f'killed {TROUBLE_GRACE} s after the guest kernel first reported trouble',))
                    grace.start()
            p.wait()
        finally:
            deadline.cancel()
            if grace is not None:
                grace.cancel()
            if p.poll() is None:  # the reader failed: leave no guest behind
                stop('stopped by the test')
            p.wait()
    with open(qemu_log, errors='replace') as f:
        qemu_out = f.read()
    return time.monotonic() - t0, stopped.get('why'), p.returncode, qemu_out, console, results


def kernel_trouble(console):
    '''The guest kernel's own reports of trouble in the serial console log.'''
    try:
        with open(console, errors='replace') as f:
            return [line.rstrip() for line in f if KERNEL_TROUBLE.search(line)]
    except FileNotFoundError:
        return []


def read_results(path):
    events = []
    try:
        with open(path, errors='replace') as f:
            for line in f:
                line = line.strip().strip('\x00')
                if not line.startswith('{'):
                    continue
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return events


def write_summary(out_dir, release, entry):
    '''What the README's "Tested on" table is written from: the versions,
    passed/failed per scenario group, the package scenario's steps.'''
    entry = {'release': release, 'distribution': RELEASES[release],
             'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), **entry}
    for path in (os.path.join(out_dir, '..', 'last-run.json'), os.path.join(HERE, 'last-run.json')):
        path = os.path.abspath(path)
        with locked(path + '.lock'):
            try:
                with open(path) as f:
                    data = json.load(f)
            except (FileNotFoundError, ValueError):
                data = {}
            data[release] = entry
            with open(path + '.new', 'w') as f:
                json.dump(data, f, indent=2, sort_keys=True)
                f.write('\n')
            os.replace(path + '.new', path)
        try:
            os.unlink(path + '.lock')
        except FileNotFoundError:
            pass


class Record:
    '''TAP plus what last-run.json keeps of each check, by group.'''

    def __init__(self, tap):
        self.tap = tap
        self.checks = {}
        self.groups = {}

    def result(self, group, ok, name, detail='', **extra):
        self.tap.result(ok, name, detail)
        self.checks[name] = {'ok': bool(ok), 'group': group, 'detail': detail.split('\nevidence:')[0][:2000],
                             **extra}
        g = self.groups.setdefault(group, {'passed': 0, 'failed': 0, 'failed_checks': []})
        if ok:
            g['passed'] += 1
        else:
            g['failed'] += 1
            g['failed_checks'].append(name)


def git_facts():
    '''(HEAD, uncommitted changes to what the packages are built from).'''
    head = subprocess.run(['git', '-C', SOURCE, 'rev-parse', 'HEAD'], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    if head.returncode != 0:
        return None, ''
    dirty = subprocess.run(['git', '-C', SOURCE, 'status', '--porcelain', '--untracked-files=no', '--',
                            'agent', 'cli', 'common', 'helper', 'data', 'docs', 'polkit', 'debian', 'meson.build',
                            'meson_options.txt'], stdout=subprocess.PIPE, text=True).stdout
    return head.stdout.strip(), dirty.strip()


INFRA = 'infrastructure'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('release', choices=sorted(RELEASES))
    ap.add_argument('--build', required=True, help='the meson build directory')
    ap.add_argument('--out', required=True, help='where this run keeps its logs')
    args = ap.parse_args()

    if os.geteuid() != 0:
        skip('the VM suite needs root (debootstrap, chroot, mke2fs -d of a root file system): run it with sudo')
    missing = [t for t in ('qemu-system-x86_64', 'debootstrap', 'mke2fs', 'chroot', 'dpkg-deb', 'git')
               if shutil.which(t) is None]
    if missing:
        skip(f'{", ".join(missing)} not installed (Debian: qemu-system-x86 debootstrap e2fsprogs dpkg git; '
             'tests/run installs them)')
    head, dirty = git_facts()
    if head is None:
        skip(f'{SOURCE} is not a git checkout: the guests install the packages tests/packaging/build-debs '
             'builds from git archive HEAD')
    mirror = apt_mirror(args.release)
    if mirror is None:
        skip("no Debian mirror for main in this machine's apt sources (apt-cache policy), so no image can be built")

    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    log = os.path.join(out_dir, 'host.log')
    open(log, 'w').close()
    tap = Tap()
    rec = Record(tap)
    timings = {}
    accel = 'kvm' if kvm_works() else 'tcg'
    tap.comment(f'{RELEASES[args.release]} ({args.release}) from {mirror}, accelerator {accel}; logs in {out_dir}')
    if dirty:
        tap.comment('uncommitted changes are NOT in the packages the guest installs (built from HEAD):\n' + dirty)
    summary = {'accelerator': accel, 'commit': head, 'timings': timings}

    def finish(info=None):
        summary.update(versions=info or {}, groups=rec.groups, checks=rec.checks,
                       passed=sum(g['passed'] for g in rec.groups.values()),
                       failed=sum(g['failed'] for g in rec.groups.values()))
        write_summary(out_dir, args.release, summary)
        tap.end()

    t = time.monotonic()
    try:
        debs = build_packages(args.build, log)
    except Skip as e:
        skip(f'the Debian packages cannot be built here: {e}')
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        rec.result(INFRA, False, 'seatgate\'s Debian packages build from the committed tree (build-debs)', str(e))
        finish()
        return 1
    timings['debs_s'] = round(time.monotonic() - t, 1)
    current = {d: os.path.join(debs['current'], d) for d in package_debs(debs['current'])}
    previous = {d: os.path.join(debs['previous'], d) for d in package_debs(debs['previous'])}
    version = deb_field(next(iter(current.values())), 'Version')
    prev_version = deb_field(next(iter(previous.values())), 'Version')
    summary['packages'] = {'version': version, 'previous_version': prev_version,
                           'previous_commit': open(os.path.join(debs['previous'], 'commit')).read().strip(),
                           'debs': sorted(current)}
    rec.result(INFRA, True, 'seatgate\'s Debian packages build from the committed tree (build-debs)',
               f'{version} ({", ".join(sorted(current))}) in {debs["current"]}; previous build {prev_version} '
               f'in {debs["previous"]}; {"built now: " + ", ".join(debs["built"]) if debs["built"] else "both cached"}')
    tap.measured('debs_build_s' if debs['built'] else 'debs_cached_s', timings['debs_s'], 's')

    t = time.monotonic()
    try:
        base, key, built = image(args.release, mirror, log)
    except RuntimeError as e:
        rec.result(INFRA, False, f'the {args.release} image is built with debootstrap', str(e))
        finish()
        return 1
    timings['image_s'] = round(time.monotonic() - t, 1)
    timings['image_built'] = built
    rec.result(INFRA, True, f'the {args.release} image is built with debootstrap',
               f'{"built" if built else "cached"}: {base}')
    tap.measured('image_build_s' if built else 'image_cached_s', timings['image_s'], 's')

    t = time.monotonic()
    img = os.path.join(out_dir, 'disk.img')
    installed = 'seatgate is installed into the guest from its packages (apt install ./seatgate_*.deb ' \
                './seatgate-agent_*.deb; the package enables the service)'
    try:
        root, kernel, initrd = stage(base, out_dir, debs, log)
        if os.path.exists(img):
            os.unlink(img)
        run(['mke2fs', '-q', '-t', 'ext4', '-L', 'sg-root', '-d', root, img, '3G'], 300, log)
        shutil.rmtree(root, ignore_errors=True)
    except (RuntimeError, OSError, IndexError) as e:
        rec.result(INFRA, False, installed, str(e))
        finish()
        return 1
    timings['install_s'] = round(time.monotonic() - t, 1)
    rec.result(INFRA, True, installed, f'{version}; disk {img}, kernel {os.path.basename(kernel)}')
    tap.measured('install_and_disk_s', timings['install_s'], 's')

    # The Debian 12 guest kernel (6.1) under TCG has hung once in four runs
    # (both vCPUs in a soft lockup in the IPv6 loopback TCP path while the
    # denied uid hammered ::1). That boot is kept and named, and the guest
    # runs once more from the same fresh disk; a second hang fails the run.
    fresh = img + '.fresh'
    run(['cp', '--sparse=always', img, fresh], 300, log)
    first_trouble = []
    for attempt in (1, 2):
        wall, killed, rc, qemu_out, console, results = boot(out_dir, kernel, initrd, img, accel)
        trouble = kernel_trouble(console)
        if attempt == 2 or not trouble:
            break
        first_trouble = trouble
        for f in (console, results):
            os.replace(f, f + '.first-boot')
        os.replace(fresh, img)
        tap.comment(f'the first boot\'s kernel reported trouble after {wall:.0f} s (its console: '
                    f'{console}.first-boot); booting once more from a fresh disk:\n' + '\n'.join(trouble[:12]))
    if os.path.exists(fresh):
        os.unlink(fresh)
    timings['qemu_s'] = round(wall, 1)
    if first_trouble:
        summary['first_boot_kernel_trouble'] = first_trouble[:12]
    events = read_results(results)
    if not killed:
        os.unlink(img)  # 3 GB sparse; rebuilt each run. Kept after an overrun for a look.
    plan, info = None, {'accelerator': accel}
    for e in events:
        if 'plan' in e:
            plan = e['plan']
        elif 'info' in e:
            info.update(e['info'])
    booted = plan is not None
    boot_s = next((e['t'] for e in events if 'plan' in e), None)
    rec.result(INFRA, booted, f'{RELEASES[args.release]} boots and its driver starts (systemd as PID 1)',
               f'driver started {boot_s} s after the kernel' if booted else
               f'no plan from the guest driver; QEMU rc {rc}{"; " + killed if killed else ""}'
               f'\n{qemu_out[-1000:]}')
    if boot_s is not None:
        timings['boot_s'] = boot_s
        tap.measured('boot_to_driver_s', boot_s, 's')
    if info:
        tap.comment('guest: ' + ', '.join(f'{k} {v}' for k, v in sorted(info.items())))
    for e in events:
        if 'measured' in e:
            tap.measured(e['measured'], e['value'], e.get('unit', ''))
            timings.setdefault('guest', {})[e['measured']] = e['value']
    for e in events:
        if 'error' in e:
            tap.comment('guest driver: ' + e['error'])
    results_by_name = {e['check']: e for e in events if 'check' in e}
    for name in plan or []:
        e = results_by_name.get(name)
        if e is None:
            rec.result('not run', False, name, 'no result: the guest stopped before this check ran')
            continue
        group = e.get('group', 'other')
        # A check made of steps (the package scenario): each step its own
        # subtest, then the check itself.
        steps = e.get('subtests') or []
        for st in steps:
            tap.result(st['ok'], f'{e.get("prefix", "step")}: {st["name"]}'
                       + (f' # SKIP {st["skip"]}' if st.get('skip') else ''), st.get('detail', ''))
        if steps:
            summary.setdefault('packages', {})['scenario'] = {
                'passed': sum(1 for st in steps if st['ok'] and not st.get('skip')),
                'failed': sum(1 for st in steps if not st['ok']),
                'skipped': [st['name'] for st in steps if st.get('skip')],
                'failed_steps': [st['name'] for st in steps if not st['ok']],
                'steps': [{'ok': st['ok'], 'name': st['name']} for st in steps]}
        detail = e.get('detail', '')
        if e.get('s') is not None:
            detail += f'\n(took {e["s"]} s)'
        if not e['ok'] and e.get('evidence'):
            detail += '\nevidence:\n' + e['evidence']
        rec.result(group, e['ok'], name, detail.strip(), s=e.get('s'))
    # A guest kernel in trouble (seen once on 6.1: both vCPUs in a soft
    # lockup in the IPv6 loopback TCP path while the denied uid hammered
    # ::1) stops the driver without a word of its own: name it.
    rec.result(INFRA, not trouble, 'the guest kernel reports no BUG, oops, soft lockup, hung task or panic',
               '\n'.join(trouble[:12])
               + (f'{chr(10) if trouble else ""}(the first boot\'s kernel did, and the guest ran again: '
                  f'{first_trouble[0]})' if first_trouble else ''))
    done = any(e.get('done') for e in events)
    rec.result(INFRA, done and not killed, 'the guest powers off by itself when the driver is done',
               f'QEMU ran {wall:.1f} s' + (f'; {killed}' if killed else ''))
    tap.measured('qemu_wall_s', round(wall, 1), 's')
    if tap.failed:
        tap.comment(f'--- serial console ({console}), last 150 lines ---')
        tap.comment(tail(console, 150))
    finish(info)
    return 0


if __name__ == '__main__':
    sys.exit(main())
