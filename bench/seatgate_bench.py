#!/usr/bin/python3
'''seatgate's benchmark: how fast the gate opens and closes, what it costs on
the packet path and at rest, and the same figures for the old ways, measured
in the same run with the cases interleaved (A B C A B C ...).

Run it through bench/run (root; it builds, then runs this under
tests/lab/netns-run, so everything happens in network namespaces of its own):

    sudo bench/run [--quick | --smoke] [--json FILE] [--only SECTIONS]

Sections (--only control,polkitd,packet,rest,scale):
  control  Grant() -> first connect; seat switch / holder leaving the bus ->
           (a) the set element gone (new connects refused) and (b) the held
           connection closed; the helper's own netlink batch; the old ways
           (iptables-nft, iptables-legacy, nft as processes).
  packet   iperf3 throughput and connect/echo/close rate of the granted uid
           to a gated port, against no table, at 1 and 1,000 grants, and the
           old rule layout (one owner rule per uid, then REJECT).
  polkitd  Grant() -> first connect with Debian's real polkitd instead of the
           stand-in (tests/cli's RealPolkitLab, in a mount namespace of its
           own: bench/run runs everything under tests/cli/mountns-run).
  rest     idle helper and agent (grant held): memory and context switches.
  scale    grant/revoke with 1,000 sessions, 100 seats x 64 ports and 200
           idle agents; the helper's memory.

Times are CLOCK_MONOTONIC: sg-bench (bench/sg-bench.c) stamps them where they
happen, in the probe processes, and this driver only subtracts.'''

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('SEATGATE_SOURCE_DIR', os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'lab'))
sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'agent'))

import seatgate_lab  # noqa: E402
from seatgate_lab import (CONSOLE_SESSION, CONSOLE_UID, INACTIVE_SESSION,  # noqa: E402
                          Lab, LabError, hold_netns, wait_until)

BUILD_DIR = os.environ.get('SEATGATE_BENCH_BUILD', os.path.join(SOURCE_DIR, 'build-bench'))
PROBE = os.environ.get('SEATGATE_BENCH_PROBE', os.path.join(BUILD_DIR, 'bench', 'sg-bench'))
KERNEL = os.environ.get('SEATGATE_BENCH_KERNEL', os.path.join(BUILD_DIR, 'bench', 'sg-bench-kernel'))
HELPER = os.environ.get('SEATGATE_HELPER', os.path.join(BUILD_DIR, 'helper', 'seatgate-helper'))
os.environ.setdefault('SEATGATE_AGENT', os.path.join(BUILD_DIR, 'agent', 'seatgate-agent'))
# The polkit policy is built (merged with po/): tests/cli/polkit_real.py reads it there.
os.environ.setdefault('SEATGATE_BUILD_DIR', BUILD_DIR)
PATH_ENV = '/usr/sbin:/usr/bin:/sbin:/bin'

V4 = '127.0.0.1'
SG_PORT = 5930          # gated by the helper
SETTLE_S = 0.05         # pause before each control-plane case
OLD_PORTS = {'iptables-nft': 5931, 'iptables-legacy': 5932, 'nft-command': 5933}

PROFILES = {
    'full': dict(rounds=200, rtt=100, pingpong=200, iperf_reps=21, iperf_secs=1, iperf_bytes=None,
                 conn_reps=21, conn_secs=0.5, idle=60, scale_rounds=40, scale_idle=20,
                 scale_seats=100, scale_ports=64, scale_sessions=1000, scale_agents=200),
    'quick': dict(rounds=40, rtt=30, pingpong=50, iperf_reps=7, iperf_secs=1, iperf_bytes=None,
                  conn_reps=7, conn_secs=0.5, idle=10, scale_rounds=12, scale_idle=5,
                  scale_seats=100, scale_ports=64, scale_sessions=1000, scale_agents=200),
    'smoke': dict(rounds=2, rtt=3, pingpong=20, iperf_reps=1, iperf_secs=1, iperf_bytes='4M',
                  conn_reps=1, conn_secs=0.1, idle=1, scale_rounds=2, scale_idle=1,
                  scale_seats=4, scale_ports=4, scale_sessions=20, scale_agents=4),
}


def log(msg):
    print(f'[bench {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Statistics

def pct(values, p):
    '''Nearest-rank percentile.'''
    s = sorted(values)
    if not s:
        return None
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def summary(values):
    if not values:
        return {'n': 0, 'p50': None, 'p99': None}
    return {'n': len(values), 'p50': statistics.median(values), 'p99': pct(values, 99),
            'min': min(values), 'max': max(values), 'samples': [round(v, 3) for v in values]}


def median_ci(values, level=0.95, resamples=2000):
    '''Bootstrap confidence interval of the median (fixed seed: the same
    samples give the same interval).'''
    import random
    if len(values) < 3:
        return None
    rng = random.Random(7)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    lo = meds[int((1 - level) / 2 * resamples)]
    hi = meds[int((1 + level) / 2 * resamples) - 1]
    return [lo, hi]


def rotate(seq, k):
    k %= len(seq)
    return seq[k:] + seq[:k]


# ---------------------------------------------------------------------------
# Processes

class ProbeError(Exception):
    pass


class Probe:
    '''An `sg-bench client`: as uid (setpriv), or root; in a network
    namespace (nsenter) when netns_pid is given.'''

    def __init__(self, uid=0, bus_address=None, netns_pid=None, name=None):
        cmd = [PROBE, 'client']
        if uid != 0:
            cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + cmd
        if netns_pid is not None:
            cmd = ['nsenter', '-t', str(netns_pid), '-n'] + cmd
        env = {'PATH': PATH_ENV, 'LANG': 'C.UTF-8'}
        if bus_address:
            env['DBUS_SYSTEM_BUS_ADDRESS'] = bus_address
        self.name = name or f'probe-{uid}'
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1, env=env, cwd='/')
        hello = self.proc.stdout.readline().split()
        if not hello or hello[0] != 'hello' or int(hello[1]) != uid:
            raise ProbeError(f'{self.name} did not start as uid {uid}: {hello}')

    def send(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise ProbeError(f'{self.name} died')
        words = line.split()
        if words[0] != 'ok':
            raise ProbeError(f'{self.name}: {line.strip()}')
        return words[1:]

    def req(self, line):
        self.send(line)
        return self.reply()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send('quit')
                self.proc.wait(3)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class EchoServer:
    def __init__(self, ports, netns_pid=None):
        cmd = [PROBE, 'serve'] + [str(p) for p in ports]
        if netns_pid is not None:
            cmd = ['nsenter', '-t', str(netns_pid), '-n'] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != 'ready':
            raise ProbeError(f'echo server on {ports} did not start')

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(cmd, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({r.returncode}): {r.stderr.strip()}')
    return r.stdout


class Netns:
    '''A network namespace of its own (lo up), held by an `unshare -n sleep`.'''

    def __init__(self, name):
        self.name = name
        self.proc = hold_netns(f'netns {name}')
        self.pid = self.proc.pid
        self.run(['ip', 'link', 'set', 'lo', 'up'])

    def cmd(self, argv, uid=None):
        if uid is not None:
            argv = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + list(argv)
        return ['nsenter', '-t', str(self.pid), '-n'] + list(argv)

    def run(self, argv, uid=None, **kw):
        return run(self.cmd(argv, uid), **kw)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def count_elements(ns=None):
    '''Elements in seatgate's granted set (in ns, a Netns, or here).'''
    argv = ['nft', '-j', 'list', 'set', 'inet', 'seatgate', 'granted']
    out = ns.run(argv) if ns is not None else run(argv)
    for item in json.loads(out)['nftables']:
        if 'set' in item:
            return len(item['set'].get('elem', []))
    return 0


rollup = seatgate_lab.smaps_rollup
switches = seatgate_lab.context_switches


def dirty_by_mapping(pid, top=4):
    '''The mappings with the most Private_Dirty kB: [(name, kB)].'''
    sums, name = {}, None
    with open(f'/proc/{pid}/smaps', encoding='utf-8', errors='replace') as f:
        for line in f:
            parts = line.split()
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                addr = parts[0]
                name = parts[5] if len(parts) > 5 else f'[anon {addr}]'
            elif parts and parts[0] == 'Private_Dirty:':
                sums[name] = sums.get(name, 0) + int(parts[1])
    return sorted(sums.items(), key=lambda kv: -kv[1])[:top]


def threads(pid):
    return len(os.listdir(f'/proc/{pid}/task'))


def helper_batches(log_path):
    '''{'grant': [µs...], 'revoke': [µs...]} from the helper's debug records.'''
    out = {'grant': [], 'revoke': []}
    with open(log_path, encoding='utf-8', errors='replace') as f:
        for m in re.finditer(r'nftables batch for (grant|revoke) of uid \d+[^:]*: (\d+) ns \(1 batch\)',
                             f.read()):
            out[m.group(1)].append(int(m.group(2)) / 1000)
    return out


# ---------------------------------------------------------------------------
# 1-3. Control plane: grant and revoke, seatgate and the old ways

OLD_WAYS = {
    # name: (grant argv, revoke argv) as a login/logout script would run them
    'iptables-nft': (
        'iptables-nft -w -I OUTPUT 1 -p tcp --dport {p} -m owner --uid-owner {u} -j ACCEPT',
        'iptables-nft -w -D OUTPUT -p tcp --dport {p} -m owner --uid-owner {u} -j ACCEPT'),
    'iptables-legacy': (
        'iptables-legacy -w -I OUTPUT 1 -p tcp --dport {p} -m owner --uid-owner {u} -j ACCEPT',
        'iptables-legacy -w -D OUTPUT -p tcp --dport {p} -m owner --uid-owner {u} -j ACCEPT'),
    'nft-command': (
        'nft add element inet oldgate granted { {u} . {p} }',
        'nft delete element inet oldgate granted { {u} . {p} }'),
}


def setup_old_ways():
    for tool in ('iptables-nft', 'iptables-legacy'):
        run([tool, '-w', '-A', 'OUTPUT', '-p', 'tcp', '--dport', str(OLD_PORTS[tool]),
             '-j', 'REJECT', '--reject-with', 'tcp-reset'])
    p = OLD_PORTS['nft-command']
    run(['nft', '-f', '-'], input=f'''table inet oldgate {{
  set granted {{ type uid . inet_service; }}
  chain output {{
    type filter hook output priority 0; policy accept;
    tcp flags & (syn | ack) == syn tcp dport {p} meta skuid . tcp dport != @granted reject with tcp reset
  }}
}}
''')


def teardown_old_ways():
    for tool in ('iptables-nft', 'iptables-legacy'):
        subprocess.run([tool, '-w', '-F', 'OUTPUT'], capture_output=True)
    subprocess.run(['iptables-nft', '-w', '-X'], capture_output=True)
    subprocess.run(['nft', 'delete', 'table', 'ip', 'filter'], capture_output=True)
    subprocess.run(['nft', 'delete', 'table', 'inet', 'oldgate'], capture_output=True)


class BenchLab(Lab):
    '''The lab with bench/logind_bench_mock.py as logind: the stand-in
    itself, which also tells when it emitted each signal.'''

    def start_mocks(self, logind=True, polkit=True):
        if logind:
            self._spawn_mock('logind', os.path.join(HERE, 'logind_bench_mock.py'),
                             seatgate_lab.LOGIND_NAME)
        if polkit:
            self._spawn_mock('polkitd', 'polkitd', seatgate_lab.POLKIT_NAME)
        if logind:
            self._wait_mock('logind')
            self.logind = seatgate_lab.Logind(self.client)
        if polkit:
            self._wait_mock('polkitd')
            self.polkit = seatgate_lab.Polkit(self.client)

    helper_env = ()     # NAME=VALUE for the helper, on top of the lab's environment

    def helper_command(self, config=None, args=('--verbose',)):
        cmd = super().helper_command(config, args)
        return ['env'] + list(self.helper_env) + cmd if self.helper_env else cmd

    def logind_emitted(self):
        '''[(ns, path, member)] of logind's signals since the last call.'''
        return self.client.call(seatgate_lab.LOGIND_NAME, seatgate_lab.LOGIND_PATH,
                                seatgate_lab.MOCK_IFACE, 'BenchTakeEmitted')[0]


class ControlBench:
    '''One seatgate lab (standard world: uid 1000 at seat0, session "4" of
    uid 1002 in the background) plus the old ways' rules on ports 5931-5933.'''

    def __init__(self, prof):
        self.prof = prof
        self.samples = {k: [] for k in (
            'sg_grant', 'sg_grant_reply', 'sg_switch_a', 'sg_switch_b', 'sg_leave_a', 'sg_leave_b',
            'signal_delivery')}
        for way in OLD_WAYS:
            self.samples[f'{way}_grant'] = []
            self.samples[f'{way}_grant_exit'] = []
            self.samples[f'{way}_revoke_a'] = []
        self.failures = []
        self.old_still_open = {way: 0 for way in OLD_WAYS}
        self.cases = ['seatgate/switch', 'iptables-nft', 'seatgate/leave', 'iptables-legacy',
                      'nft-command']
        self.sg_probe_not_refused = 0

    def sg_grant(self):
        t0, t1, t2, _tries = map(int, self.user.req(f'grant {V4} {SG_PORT}'))
        if t2 < 0:
            self.failures.append('seatgate grant: never connected')
            return
        self.samples['sg_grant'].append((t2 - t0) / 1000)
        self.samples['sg_grant_reply'].append((t1 - t0) / 1000)

    def sg_revoke(self, how):
        self.user.req(f'open {V4} {SG_PORT}')
        self.root.req('nftdrain')
        if how == 'switch':
            self.lab.logind_emitted()
            self.user.req('arm')
            self.root.send('nftwait 3000')
            self.user.send(f'watch {V4} {SG_PORT}')
            self.lab.logind.activate(INACTIVE_SESSION)
        else:
            self.root.send('nftwait 3000')
            self.user.send(f'leave {V4} {SG_PORT}')
        ta, = map(int, self.root.reply())
        w = self.user.reply()
        t0, tb, probe = int(w[0]), int(w[1]), w[2]
        if how == 'switch':
            # T0: the stand-in's PropertiesChanged (old session: Active false),
            # the first signal of a switch and the one the helper acts on.
            emitted = [int(t) for t, path, member in self.lab.logind_emitted()
                       if member == 'PropertiesChanged'
                       and path == seatgate_lab.session_path(CONSOLE_SESSION)]
            if t0 > 0 and emitted:
                self.samples['signal_delivery'].append((t0 - emitted[0]) / 1000)
            t0 = emitted[0] if emitted else -1
            self.lab.logind.activate(CONSOLE_SESSION)
        else:
            self.user.req('bus')
        if probe != 'refused':
            self.sg_probe_not_refused += 1
        if t0 < 0 or ta < 0 or tb < 0:
            self.failures.append(f'seatgate {how}: t0={t0} element-gone={ta} held-closed={tb}')
            return
        self.samples[f'sg_{how}_a'].append((ta - t0) / 1000)
        self.samples[f'sg_{how}_b'].append((tb - t0) / 1000)

    def old_way(self, way):
        port = OLD_PORTS[way]
        grant, revoke = (c.replace('{u}', str(CONSOLE_UID)).replace('{p}', str(port))
                         for c in OLD_WAYS[way])
        t0, t1, t2, _tries, status = map(int, self.root.req(f'run {CONSOLE_UID} ok {V4} {port} {grant}'))
        if status != 0 or t2 < 0:
            self.failures.append(f'{way} grant: status {status}, connected {t2 >= 0}')
            return
        self.samples[f'{way}_grant'].append((t2 - t0) / 1000)
        self.samples[f'{way}_grant_exit'].append((t1 - t0) / 1000)
        self.root.req(f'open {V4} {port} {CONSOLE_UID}')
        t0, t1, t2, _tries, status = map(int, self.root.req(
            f'run {CONSOLE_UID} refused {V4} {port} {revoke}'))
        if status != 0 or t2 < 0:
            self.failures.append(f'{way} revoke: status {status}, refused {t2 >= 0}')
            return
        self.samples[f'{way}_revoke_a'].append((t2 - t0) / 1000)
        # The old ways leave established connections alone.
        if self.root.req('isopen')[0] == 'open':
            self.old_still_open[way] += 1
        self.root.req('drop')

    def run(self):
        prof = self.prof
        with BenchLab(helper_path=HELPER) as lab:
            self.lab = lab
            lab.start()
            lab.standard_world()
            server = EchoServer([SG_PORT] + list(OLD_PORTS.values()))
            try:
                lab.start_helper()
                setup_old_ways()
                self.user = Probe(CONSOLE_UID, lab.bus_address, name='uid 1000')
                self.root = Probe(0, name='root')
                self.user.req('bus')
                cases = self.cases
                log(f'control plane: {prof["rounds"]} rounds of {", ".join(cases)}, interleaved')
                for r in range(prof['rounds']):
                    for case in rotate(cases, r):
                        # Each case starts on a settled machine: an old way's
                        # process leaves the kernel deferred work (RCU, nf_tables
                        # cleanup) that would otherwise land on the next case.
                        time.sleep(SETTLE_S)
                        if case.startswith('seatgate/'):
                            self.sg_grant()
                            self.sg_revoke(case.split('/')[1])
                        else:
                            self.old_way(case)
                # The same back to back (no pause): caches and CPUs warm.
                n_warm = max(2, prof['rounds'] // 2)
                before = {k: len(v) for k, v in self.samples.items()}
                n_batches = {k: len(v) for k, v in helper_batches(lab.helper.log_path).items()}
                for r in range(n_warm):
                    self.sg_grant()
                    self.sg_revoke('switch')
                warm_grants = self.samples['sg_grant'][before['sg_grant']:]
                for k, n in before.items():
                    del self.samples[k][n:]
                rtts = self.rtt_breakdown()
                batches = helper_batches(lab.helper.log_path)
                warm_batches = batches['grant'][n_batches['grant']:]
                for k, n in n_batches.items():
                    del batches[k][n:]
            finally:
                for p in ('user', 'root'):
                    if hasattr(self, p):
                        getattr(self, p).close()
                server.close()
                teardown_old_ways()
        out = {k: summary(v) for k, v in self.samples.items()}
        out['sg_grant_warm'] = summary(warm_grants)
        out['helper_batch_grant_warm'] = summary(warm_batches)
        out['helper_batch_grant'] = summary(batches['grant'])
        out['helper_batch_revoke'] = summary(batches['revoke'])
        out.update(rtts)
        out['old_still_open_after_revoke'] = self.old_still_open
        out['old_revokes'] = {way: len(self.samples[f'{way}_revoke_a']) for way in OLD_WAYS}
        out['sg_new_connect_not_refused_after_close'] = self.sg_probe_not_refused
        out['failures'] = self.failures
        return out

    def rtt_breakdown(self):
        '''Round trips from uid 1000's probe to each party of a Grant().'''
        kinds = ['bus', 'logind', 'polkit', 'gate']
        got = {k: [] for k in kinds}
        for i in range(self.prof['rtt']):
            for kind in rotate(kinds, i):
                time.sleep(SETTLE_S)
                got[kind] += [int(x) / 1000 for x in self.user.req(f'rtt {kind} 1')]
        pp = run([PROBE, 'pingpong', str(self.prof['pingpong']), str(int(SETTLE_S * 1e6))]).split()
        out = {'rtt_' + k: summary(v) for k, v in got.items()}
        out['pingpong'] = summary([int(x) / 1000 for x in pp])
        # The helper's kernel work without the daemon, in a namespace of its own.
        ns = Netns('kernel')
        try:
            for line in ns.run([KERNEL, 'nft', str(self.prof['rtt'])]).splitlines() + \
                    ns.run([KERNEL, 'diag', str(min(100, self.prof['rtt']))]).splitlines():
                name, *values = line.split()
                out['kernel_' + name] = summary([int(x) / 1000 for x in values])
        finally:
            ns.close()
        return out


# ---------------------------------------------------------------------------
# 3b. Grant with Debian's polkitd

def real_polkitd(prof):
    '''Grant() -> first connect as in the control section, with Debian's
    polkitd instead of the stand-in: what a lab machine pays. Without a real
    logind polkitd sees no session, so the example rule
    50-seatgate-group.rules decides (uid 1000 in group vmusers). The grant is
    released between rounds.'''
    sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'cli'))
    from polkit_real import RealPolkitLab
    grants, replies, rtt = [], [], []
    with RealPolkitLab(rules=['50-seatgate-group.rules'], groups={'vmusers': [CONSOLE_UID]},
                       helper_path=HELPER) as lab:
        lab.start()
        lab.standard_world()
        server = EchoServer([SG_PORT])
        user = None
        try:
            lab.start_helper()
            user = Probe(CONSOLE_UID, lab.bus_address, name='uid 1000')
            user.req('bus')
            log(f'polkitd: {prof["rounds"]} grants with Debian\'s polkitd')
            for _ in range(prof['rounds']):
                time.sleep(SETTLE_S)
                t0, t1, t2, _tries = map(int, user.req(f'grant {V4} {SG_PORT}'))
                if t2 < 0:
                    raise RuntimeError('polkitd: granted, yet never connected')
                grants.append((t2 - t0) / 1000)
                replies.append((t1 - t0) / 1000)
                user.req('release')
            for _ in range(prof['rtt']):
                time.sleep(SETTLE_S)
                rtt += [int(x) / 1000 for x in user.req('rtt polkit 1')]
        finally:
            if user is not None:
                user.close()
            server.close()
    return {'sg_grant': summary(grants), 'sg_grant_reply': summary(replies),
            'rtt_polkit': summary(rtt)}


# ---------------------------------------------------------------------------
# 4. Packet path

PP_IPERF_PORT = 5930
PP_ECHO_PORT = 5931
PP_OTHER_UID = 1001     # never granted: the sanity check's refused uid
# Clients on one CPU, servers on the other, the same in every case: left to
# the scheduler, a 2-core machine's processes land differently from run to
# run (together, apart, migrating), one more source of spread between runs.
PP_CLIENT_CPU, PP_SERVER_CPU = (0, 1) if (os.cpu_count() or 1) >= 2 else (0, 0)


def pinned(cpu, argv):
    return ['taskset', '-c', str(cpu)] + list(argv)


def old_layout_rules(n_uids, granted_at):
    '''iptables-restore input: one owner ACCEPT per uid (the measured uid
    1000 at position granted_at), then REJECT.'''
    others = iter(range(3000, 3000 + n_uids))
    lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']
    for i in range(n_uids):
        uid = CONSOLE_UID if i == granted_at else next(others)
        lines.append(f'-A OUTPUT -p tcp --dport {PP_IPERF_PORT}:{PP_ECHO_PORT} -m owner --uid-owner {uid} -j ACCEPT')
    lines.append(f'-A OUTPUT -p tcp --dport {PP_IPERF_PORT}:{PP_ECHO_PORT} -j REJECT --reject-with tcp-reset')
    lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


# seatgate's two base chains (output and input) without a rule: what the
# netfilter hooks alone cost, which every packet on loopback passes twice.
HOOKS_ONLY_TABLE = '''table inet seatgate {
  chain output { type filter hook output priority filter; policy accept; }
  chain input { type filter hook input priority filter; policy accept; }
}
'''

# Run as pairs with a no-table run (see paired_rounds).
PP_PAIRED = ('seatgate-1', 'seatgate-1000', 'hooks-only')


def seatgate_table(ns, workdir, n_grants):
    '''The helper's own table, made by `seatgate-helper --reset` in the
    namespace (TableMode=plain, so nft may add elements afterwards), then
    n_grants (uid . port) elements, uid 1000 on 5930-5931 among them.'''
    n_seats = max(1, n_grants // 2)
    lines = ['[Gate]', 'AlwaysAllow=', 'TableMode=plain', '', '[Seat seat0]',
             f'Ports={PP_IPERF_PORT}-{PP_ECHO_PORT}']
    for k in range(1, n_seats):
        lines += ['', f'[Seat seat{k}]', f'Ports={6000 + 2 * k}-{6001 + 2 * k}']
    conf = os.path.join(workdir, f'seatgate-{n_grants}.conf')
    with open(conf, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    ns.run([HELPER, '--config', conf, '--reset'])
    elems = [f'{CONSOLE_UID} . {PP_IPERF_PORT}', f'{CONSOLE_UID} . {PP_ECHO_PORT}']
    for k in range(1, n_seats):
        elems += [f'{2000 + k} . {6000 + 2 * k}', f'{2000 + k} . {6001 + 2 * k}']
    elems = elems[:max(n_grants, 2)]
    ns.run(['nft', '-f', '-'], input=f'add element inet seatgate granted {{ {", ".join(elems)} }}\n')
    return count_elements(ns)


class PacketCase:
    def __init__(self, name, label, workdir, setup):
        self.name, self.label = name, label
        self.ns = Netns(name)
        self.elements = setup(self.ns, workdir)
        self.echo = EchoServer([PP_ECHO_PORT], self.ns.pid)
        # nsenter execs the server: its pid is the server's.
        os.sched_setaffinity(self.echo.proc.pid, {PP_SERVER_CPU})
        self.iperf_server = None
        if not shutil.which('iperf3'):
            return
        self.iperf_server = subprocess.Popen(
            self.ns.cmd(pinned(PP_SERVER_CPU, ['iperf3', '-s', '-p', str(PP_IPERF_PORT)])),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: f':{PP_IPERF_PORT}' in self.ns.run(['ss', '-Hltn']), 5,
                   what=f'iperf3 server in {name}')

    def connect_as(self, uid):
        out = self.ns.run([PROBE, 'connrate', V4, str(PP_ECHO_PORT), '0.001'], uid=uid)
        return json.loads(out)['ok'] > 0

    def iperf(self, secs, nbytes):
        '''Throughput, and CPU time (client + server, from their rusage as
        iperf3 reports it) per GB received.'''
        args = ['iperf3', '-c', V4, '-p', str(PP_IPERF_PORT), '-J']
        args += ['-n', nbytes] if nbytes else ['-t', str(secs)]
        end = json.loads(self.ns.run(pinned(PP_CLIENT_CPU, args), uid=CONSOLE_UID,
                                     timeout=secs + 30))['end']
        got, cpu = end['sum_received'], end['cpu_utilization_percent']
        cpu_s = (cpu['host_total'] * end['sum_sent']['seconds']
                 + cpu['remote_total'] * got['seconds']) / 100
        return {'gbps': got['bits_per_second'] / 1e9, 'cpu_ms_per_gb': cpu_s * 1e3 / (got['bytes'] / 1e9)}

    def connrate(self, secs):
        argv = [PROBE, 'connrate', V4, str(PP_ECHO_PORT), str(secs)]
        return json.loads(self.ns.run(pinned(PP_CLIENT_CPU, argv), uid=CONSOLE_UID, timeout=secs + 60))

    def close(self):
        if self.iperf_server is not None:
            self.iperf_server.kill()
            self.iperf_server.wait()
        self.echo.close()
        self.ns.close()


def paired_rounds(cases, reps, measure):
    '''reps rounds over the cases, the order rotated each round. Each
    seatgate case (and the hooks alone) runs as a pair with a no-table run
    right before or after it (which one alternates), and is compared with
    that run alone: the machine's drift (others share it) is the same for
    both. The old layouts,
    far from the target, are compared with the mean of the round's no-table
    runs. Returns {case: [(its measurement, the no-table one it is compared
    with)]}, and the no-table runs.'''
    base = next(c for c in cases if c.name == 'none')
    paired = [c for c in cases if c.name in PP_PAIRED]
    others = [c for c in cases if c is not base and c not in paired]
    out = {c.name: [] for c in paired + others}
    bases = []
    for r in range(reps):
        round_bases, pending = [], []
        for c in rotate(paired + others, r):
            if c in paired:
                if r % 2 == 0:
                    b = measure(base)
                    x = measure(c)
                else:
                    x = measure(c)
                    b = measure(base)
                out[c.name].append((x, b))
                round_bases.append(b)
            else:
                pending.append((c, measure(c)))
        mean = {k: statistics.fmean(b[k] for b in round_bases) for k in round_bases[0]} \
            if round_bases else None
        for c, x in pending:
            out[c.name].append((x, mean or measure(base)))
        bases += round_bases
    return out, bases


def ratio_stats(pairs, key):
    ratios = [x[key] / b[key] for x, b in pairs if b[key]]
    return summary(ratios), median_ci(ratios)


def cost_verdict(ratio, ci, target):
    '''For costs against no table (lower is better): met, not
    distinguishable from met, or missed.'''
    if ratio <= target:
        return 'yes'
    if ci and ci[0] <= target:
        return 'noise'
    return 'NO'


def packet_path(prof):
    workdir = tempfile.mkdtemp(prefix='seatgate-bench-')
    os.chmod(workdir, 0o755)

    def none(ns, wd):
        return 0

    def hooks_only(ns, wd):
        ns.run(['nft', '-f', '-'], input=HOOKS_ONLY_TABLE)
        return 0

    def iptables(tool, n):
        def setup(ns, wd):
            ns.run([f'{tool}-restore'], input=old_layout_rules(n, n // 2))
            return n
        return setup

    specs = [
        ('none', 'no table', none),
        ('seatgate-1', 'seatgate, 1 grant', lambda ns, wd: seatgate_table(ns, wd, 2)),
        ('seatgate-1000', 'seatgate, 1,000 grants', lambda ns, wd: seatgate_table(ns, wd, 1000)),
        ('hooks-only', "seatgate's 2 chains without rules", hooks_only),
        ('iptables-nft-1', 'old layout, iptables-nft, 1 uid', iptables('iptables-nft', 1)),
        ('iptables-nft-1000', 'old layout, iptables-nft, 1,000 uids', iptables('iptables-nft', 1000)),
        ('iptables-legacy-1', 'old layout, iptables-legacy, 1 uid', iptables('iptables-legacy', 1)),
        ('iptables-legacy-1000', 'old layout, iptables-legacy, 1,000 uids', iptables('iptables-legacy', 1000)),
    ]
    cases = []
    try:
        for name, label, setup in specs:
            c = PacketCase(name, label, workdir, setup)
            cases.append(c)
            # The gate works as it should, or the figures mean nothing.
            if not c.connect_as(CONSOLE_UID):
                raise RuntimeError(f'{name}: the granted uid cannot connect')
            if name not in ('none', 'hooks-only') and c.connect_as(PP_OTHER_UID):
                raise RuntimeError(f'{name}: a uid without a grant can connect')
        log(f'packet path: iperf3 {prof["iperf_reps"]} x {prof["iperf_bytes"] or str(prof["iperf_secs"]) + " s"} '
            f'and connection rate {prof["conn_reps"]} x {prof["conn_secs"]} s per case, seatgate cases '
            f'paired with a no-table run, clients on CPU {PP_CLIENT_CPU}, servers on CPU {PP_SERVER_CPU}')
        # CI's smoke run may lack iperf3 (bench/debian-packages.txt); bench/run installs it.
        iperf_reps = prof['iperf_reps'] if shutil.which('iperf3') else 0
        if iperf_reps == 0:
            if prof is not PROFILES['smoke']:
                raise RuntimeError('iperf3 is not installed (Debian package iperf3): run bench/run')
            log('packet path: iperf3 is not installed; throughput skipped')
        tput, tput_base = paired_rounds(cases, iperf_reps,
                                        lambda c: c.iperf(prof['iperf_secs'], prof['iperf_bytes']))
        stalls = {c.name: 0 for c in cases}
        failed = {c.name: 0 for c in cases}

        def connrate(c):
            got = c.connrate(prof['conn_secs'])
            stalls[c.name] += got['stalled']
            failed[c.name] += got['failed']
            return {'rate': got['rate']}
        rate, rate_base = paired_rounds(cases, prof['conn_reps'], connrate)

        out = {'none': {'label': 'no table', 'elements_or_rules': 0,
                        'throughput_gbps': summary([b['gbps'] for b in tput_base]),
                        'cpu_ms_per_gb': summary([b['cpu_ms_per_gb'] for b in tput_base]),
                        'conn_per_s': summary([b['rate'] for b in rate_base]),
                        'conn_stalls_over_100ms': stalls['none'], 'conn_failed': failed['none']},
               'client_cpu': PP_CLIENT_CPU, 'server_cpu': PP_SERVER_CPU}
        for c in cases[1:]:
            x = {'label': c.label, 'elements_or_rules': c.elements,
                 'throughput_gbps': summary([m['gbps'] for m, _ in tput[c.name]]),
                 'cpu_ms_per_gb': summary([m['cpu_ms_per_gb'] for m, _ in tput[c.name]]),
                 'conn_per_s': summary([m['rate'] for m, _ in rate[c.name]]),
                 'conn_stalls_over_100ms': stalls[c.name], 'conn_failed': failed[c.name]}
            x['throughput_ratio'], x['throughput_ratio_ci95'] = ratio_stats(tput[c.name], 'gbps')
            x['cpu_ratio'], x['cpu_ratio_ci95'] = ratio_stats(tput[c.name], 'cpu_ms_per_gb')
            x['conn_ratio'], x['conn_ratio_ci95'] = ratio_stats(rate[c.name], 'rate')
            out[c.name] = x
        return out
    finally:
        for c in cases:
            c.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# 5. At rest

def at_rest(prof):
    from agent_lab import AgentLab
    with BenchLab(helper_path=HELPER) as lab:
        lab.start()
        lab.standard_world()
        lab.listen(SG_PORT)
        helper = lab.start_helper(args=())
        with AgentLab(lab) as desk:
            desk.start_watcher()
            desk.start_notifications()
            agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION, args=())
            agent.wait_state('seatgate-granted')
            if not [g for g in lab.gate.grants() if g[1] == CONSOLE_UID]:
                raise RuntimeError('the agent holds no grant')
            time.sleep(1.0)
            idle = prof['idle']
            log(f'at rest: helper and agent idle for {idle} s with a grant held')
            before = {p: switches(p) for p in (helper.pid, agent.pid)}
            time.sleep(idle)
            after = {p: switches(p) for p in (helper.pid, agent.pid)}
            out = {}
            for name, pid in (('helper', helper.pid), ('agent', agent.pid)):
                mem = rollup(pid)
                out[name] = {'rss_kb': mem['Rss'], 'pss_kb': mem['Pss'],
                             'private_dirty_kb': mem['Private_Dirty'], 'threads': threads(pid),
                             'wakeups': after[pid] - before[pid], 'idle_s': idle}
            # The same with the shipped unit's WatchdogSec=5, as systemd would
            # run it: the helper pings every WATCHDOG_USEC / 2.
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify_path = os.path.join(lab.dir, 'notify.sock')
            notify.bind(notify_path)
            pings = []

            def serve_notify():
                # As systemd does: read every message (an unread socket's
                # queue fills after 10 and the helper's sendto() then blocks).
                while True:
                    try:
                        msg = notify.recv(4096)
                    except OSError:
                        return
                    if not msg:
                        return
                    pings.append(msg)
            threading.Thread(target=serve_notify, daemon=True).start()
            try:
                helper.stop()
                lab.helper_env = ('WATCHDOG_USEC=5000000', f'NOTIFY_SOCKET={notify_path}')
                helper = lab.start_helper(args=())
                agent.wait_state('seatgate-granted')
                wait_until(lambda: [g for g in lab.gate.grants() if g[1] == CONSOLE_UID], 10,
                           what='the agent to hold its grant again')
                time.sleep(1.0)
                before, pings0 = switches(helper.pid), len(pings)
                time.sleep(idle)
                after, pings1 = switches(helper.pid), len(pings)
                out['helper_watchdog'] = {'wakeups': after - before, 'idle_s': idle,
                                          'watchdog_usec': 5000000, 'notify_messages': pings1 - pings0}
            finally:
                notify.shutdown(socket.SHUT_RDWR)
                notify.close()
            return out


# ---------------------------------------------------------------------------
# 6. Scale

SCALE_UID_BASE = 2000


class ExtraUsers:
    '''uids SCALE_UID_BASE.. in /etc/passwd and /etc/group, by bind mounts in
    the private mount namespace tests/lab/netns-run made (dbus-daemon refuses
    uids it cannot look up). Refuses to run anywhere else.'''

    def __init__(self, n):
        # netns-run's mount namespace is the one whose /etc/passwd is already
        # a bind mount (of the lab's users); anywhere else, touch nothing.
        with open('/proc/self/mountinfo', encoding='utf-8') as f:
            mounted = [line.split()[4] for line in f]
        if os.environ.get('SEATGATE_LAB_NETNS') != str(os.stat('/proc/self/ns/net').st_ino) \
                or '/etc/passwd' not in mounted:
            raise LabError('refusing to change /etc/passwd outside tests/lab/netns-run\'s namespaces')
        for path, fmt in (('/etc/passwd', 'sgbench{u}:x:{u}:{u}:seatgate bench:/nonexistent:/usr/sbin/nologin'),
                          ('/etc/group', 'sgbench{u}:x:{u}:')):
            with open(path, encoding='utf-8') as f:
                text = f.read()
            fd, tmp = tempfile.mkstemp(prefix='seatgate-bench-')
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(text + ''.join(fmt.format(u=u) + '\n'
                                       for u in range(SCALE_UID_BASE, SCALE_UID_BASE + n)))
            os.chmod(tmp, 0o644)
            # netns-run's file is unlinked, so nothing can be mounted over it:
            # replace its mount by a superset (lab users + ours), which then
            # stays for the rest of this namespace's life.
            run(['umount', path])
            run(['mount', '--bind', tmp, path])
            os.unlink(tmp)

    def close(self):
        pass


def scale(prof):
    from agent_lab import AgentLab
    n_seats, n_ports = prof['scale_seats'], prof['scale_ports']
    n_sessions, n_agents = prof['scale_sessions'], prof['scale_agents']
    per_seat = max(2, n_sessions // n_seats)
    users = ExtraUsers(n_sessions)
    try:
        with BenchLab(helper_path=HELPER) as lab:
            lab.start()
            seats = {'seat0': f'{SG_PORT}-{SG_PORT + n_ports - 1}'}
            for k in range(1, n_seats):
                base = 10000 + k * n_ports
                seats[f'seat{k}'] = f'{base}-{base + n_ports - 1}'
            lab.write_config(seats=seats)
            log(f'scale: {n_seats} seats x {n_ports} ports, ~{n_sessions} sessions, {n_agents} agents')
            # seat0: the standard world's uid 1000 (active) and 1002, then more.
            lab.standard_world()
            sessions = []       # (session id, uid, seat, active)
            sid, uid = 100, SCALE_UID_BASE
            for k in range(n_seats):
                seat = f'seat{k}'
                if k > 0:
                    lab.logind.add_seat(seat)
                for j in range(per_seat - (2 if k == 0 else 0)):
                    active = k > 0 and j == 0
                    lab.logind.add_session(str(sid), uid, seat=seat, active=active)
                    sessions.append((str(sid), uid, seat, active))
                    sid, uid = sid + 1, uid + 1
            n_known = len(sessions) + 3
            server = EchoServer([SG_PORT])
            helper = lab.start_helper(timeout=30)
            mem_start = rollup(helper.pid)
            with AgentLab(lab) as desk:
                desk.start_watcher()
                desk.start_notifications()
                actives = [s for s in sessions if s[3]]
                idle = [s for s in sessions if not s[3]]
                chosen = (actives + idle)[:n_agents]
                for s_id, s_uid, _seat, _active in chosen:
                    desk.agent(s_uid, s_id, args=())
                want = sum(1 for s in chosen if s[3])
                wait_until(lambda: len(lab.gate.grants()) >= want, 120, 0.5,
                           what=f'{want} agents to hold their grants')
                time.sleep(2.0)
                n_elements = count_elements()
                mem_before = rollup(helper.pid)
                user = Probe(CONSOLE_UID, lab.bus_address, name='uid 1000')
                root = Probe(0, name='root')
                bench = ControlBench(prof)
                bench.lab, bench.user, bench.root = lab, user, root
                agent_pids = [a.pid for a in desk.agents if a.running()]
                agents_sw0 = sum(switches(p) for p in agent_pids)
                try:
                    user.req('bus')
                    for r in range(prof['scale_rounds']):
                        for how in rotate(['switch', 'leave'], r):
                            time.sleep(SETTLE_S)
                            bench.sg_grant()
                            bench.sg_revoke(how)
                    agents_sw1 = sum(switches(p) for p in agent_pids)
                    time.sleep(1.0)
                    sw0 = switches(helper.pid)
                    time.sleep(prof['scale_idle'])
                    sw1 = switches(helper.pid)
                finally:
                    user.close()
                    root.close()
                mem = rollup(helper.pid)
                batches = helper_batches(helper.log_path)
                out = {k: summary(v) for k, v in bench.samples.items() if k.startswith('sg_')}
                out.update({
                    'seats': n_seats, 'ports_per_seat': n_ports, 'sessions_known': n_known,
                    'agents': len(chosen), 'grants_held_by_agents': want,
                    'set_elements': n_elements,
                    'helper_batch_grant': summary(batches['grant'][-len(bench.samples['sg_grant']):]),
                    'helper_batch_revoke': summary(batches['revoke'][-2 * prof['scale_rounds']:]),
                    'helper_rss_kb': mem['Rss'], 'helper_private_dirty_kb': mem['Private_Dirty'],
                    'helper_rss_kb_at_start': mem_start['Rss'],
                    'helper_private_dirty_kb_at_start': mem_start['Private_Dirty'],
                    'helper_rss_kb_with_agents': mem_before['Rss'],
                    'helper_private_dirty_kb_with_agents': mem_before['Private_Dirty'],
                    'agents_running_at_end': sum(1 for a in desk.agents if a.running()),
                    'agents_wakeups_per_grant_revoke_cycle':
                        (agents_sw1 - agents_sw0) / max(1, len(bench.samples['sg_grant'])),
                    'helper_dirty_by_mapping_kb': dirty_by_mapping(helper.pid),
                    'helper_wakeups_idle': sw1 - sw0, 'idle_s': prof['scale_idle'],
                    'failures': bench.failures,
                })
                server.close()
                return out
    finally:
        users.close()


# ---------------------------------------------------------------------------
# The table

def us(v):
    if v is None:
        return '—'
    if v >= 1000:
        return f'{v / 1000:.2f} ms'
    return f'{v:.0f} µs' if v >= 10 else f'{v:.1f} µs'


def ratio(a, b):
    if a is None or not b:
        return '—'
    return f'{a / b:.2f}×'


def check(ok):
    return 'yes' if ok else 'NO'


def ci_text(ci):
    return f' [{ci[0]:.2f}–{ci[1]:.2f}]' if ci else ''


def verdict(ratio, ci, target):
    '''For ratios against no table: met, or not distinguishable from met
    (the 95% interval reaches the target), or missed.'''
    if ratio >= target:
        return 'yes'
    if ci and ci[1] >= target:
        return 'noise'
    return 'NO'


PACKET_ROWS = ('seatgate-1', 'seatgate-1000', 'hooks-only', 'iptables-nft-1', 'iptables-nft-1000',
               'iptables-legacy-1', 'iptables-legacy-1000')


def render(res):
    rows = []   # (measure, sg p50, sg p99, against, p50, p99, ratio, target, met)

    def row(*cells):
        rows.append(tuple(cells))

    c = res.get('control')
    if c:
        g = c['sg_grant']
        olds = [('iptables-nft', 'iptables-nft -I'), ('iptables-legacy', 'iptables-legacy -I'),
                ('nft-command', 'nft add element')]
        first = True
        for way, label in olds:
            o = c[f'{way}_grant']
            row('Grant() → first connect' if first else '', us(g['p50']) if first else '',
                us(g['p99']) if first else '', label + ' → connect', us(o['p50']), us(o['p99']),
                ratio(g['p50'], o['p50']), 'p50 ≤ 2 ms' if first else '',
                check(g['p50'] is not None and g['p50'] <= 2000) if first else '')
            first = False
        hb = c['helper_batch_grant']
        row("  helper's netlink batch", us(hb['p50']), us(hb['p99']), '', '', '', '', '≤ 20 µs',
            check(hb['p50'] is not None and hb['p50'] <= 20))
        w, wb = c['sg_grant_warm'], c['helper_batch_grant_warm']
        row('  same, back to back (warm)', us(w['p50']), us(w['p99']), '', '', '', '', 'p50 ≤ 2 ms',
            check(w['p50'] is not None and w['p50'] <= 2000))
        row("  helper's netlink batch (warm)", us(wb['p50']), us(wb['p99']), '', '', '', '', '≤ 20 µs',
            check(wb['p50'] is not None and wb['p50'] <= 20))
        for how, label in (('switch', 'Seat switch'), ('leave', 'Holder leaves bus')):
            for part, what in (('a', '(a) new connect refused'), ('b', '(b) connection closed')):
                s = c[f'sg_{how}_{part}']
                met = s['p50'] is not None and s['p50'] <= 2000 and s['p99'] <= 10000
                tgt = 'p50 ≤ 2 ms, p99 ≤ 10 ms'
                if how == 'switch' and part == 'a':
                    first = True
                    for way, lbl in olds:
                        o = c[f'{way}_revoke_a']
                        lbl = lbl.replace(' -I', ' -D').replace('add', 'delete')
                        row(f'{label} → {what}' if first else '', us(s['p50']) if first else '',
                            us(s['p99']) if first else '', lbl + ' → refused', us(o['p50']),
                            us(o['p99']), ratio(s['p50'], o['p50']), tgt if first else '',
                            check(met) if first else '')
                        first = False
                elif how == 'switch' and part == 'b':
                    open_after = sum(c['old_still_open_after_revoke'].values())
                    total = sum(c['old_revokes'].values())
                    row(f'{label} → {what}', us(s['p50']), us(s['p99']),
                        f'old ways: never ({open_after}/{total} still open)', '∞', '∞', '0', tgt,
                        check(met))
                else:
                    row(f'{label} → {what}', us(s['p50']), us(s['p99']), '(no old way)', '', '', '',
                        tgt, check(met))
        hb = c['helper_batch_revoke']
        row("  helper's netlink batch (revoke)", us(hb['p50']), us(hb['p99']), '', '', '', '', '', '')
        for k, label in (('rtt_bus', 'D-Bus round trip: bus daemon'),
                         ('rtt_logind', 'D-Bus round trip: logind stand-in'),
                         ('rtt_polkit', 'D-Bus round trip: polkit stand-in'),
                         ('rtt_gate', 'D-Bus round trip: helper (Get)'),
                         ('signal_delivery', 'logind signal: emitted → at a client'),
                         ('pingpong', 'pipe ping-pong, 2 wake-ups from idle'),
                         ('kernel_grant1', "helper code alone: the helper's grant batch (1 msg)"),
                         ('kernel_grant1_idle', '  … after 50 ms idle'),
                         ('kernel_grant', 'helper code alone: grant batch (2 msgs)'),
                         ('kernel_revoke', 'helper code alone: revoke batch (1 msg)'),
                         ('kernel_cut', 'helper code alone: 1-message add batch'),
                         ('kernel_diag', 'helper code alone: sock_diag walk v4+v6')):
            if k in c:
                row(label, us(c[k]['p50']), us(c[k]['p99']), '(breakdown)', '', '', '', '', '')
    d = res.get('polkitd')
    if d:
        row("Grant() → first connect, Debian's polkitd", us(d['sg_grant']['p50']),
            us(d['sg_grant']['p99']), '', '', '', '', '', '')
        row("  D-Bus round trip: polkitd's CheckAuthorization", us(d['rtt_polkit']['p50']),
            us(d['rtt_polkit']['p99']), '(breakdown)', '', '', '', '', '')
    p = res.get('packet')
    if p:
        base = p['none']
        have_tput = base['throughput_gbps']['p50'] is not None

        def against_no_table(title, value, fmt, ratio, target, judge, extra=lambda x: ''):
            row(f'{title}, no table', fmt(base[value]['p50']), '', '', '', '', '', '', '')
            for name in PACKET_ROWS:
                x = p[name]
                r = x[ratio]['p50']
                sg = name.startswith('seatgate')
                row(f'{title}, {x["label"]}', fmt(x[value]['p50']) + extra(x), '',
                    'no table', fmt(base[value]['p50']), '',
                    f'{r:.3f}×{ci_text(x.get(ratio + "_ci95"))}',
                    target if sg else '', judge(r, x.get(ratio + '_ci95')) if sg else '')

        if have_tput:
            against_no_table('Throughput', 'throughput_gbps', lambda v: f'{v:.2f} Gb/s',
                             'throughput_ratio', '≥ 0.99×', lambda r, ci: verdict(r, ci, 0.99))
            against_no_table('CPU per GB', 'cpu_ms_per_gb',
                             lambda v: f'{v:.0f} ms', 'cpu_ratio', '≤ 1.01×',
                             lambda r, ci: cost_verdict(r, ci, 1.01))
        against_no_table('Connections/s', 'conn_per_s', lambda v: f'{v:.0f}', 'conn_ratio', '≥ 0.98×',
                         lambda r, ci: verdict(r, ci, 0.98),
                         lambda x: f' ({x["conn_stalls_over_100ms"]} stalls)'
                         if x['conn_stalls_over_100ms'] else '')
    r = res.get('rest')
    if r:
        for who in ('helper', 'agent'):
            x = r[who]
            row(f'At rest: {who} RSS / Private_Dirty', f'{x["rss_kb"] / 1024:.1f} MiB',
                f'{x["private_dirty_kb"]} kB', 'old ways: no process', '0', '0', '',
                '≤ 1 MiB dirty' if who == 'agent' else '',
                check(x['private_dirty_kb'] <= 1024) if who == 'agent' else '')
            row(f'At rest: {who} wake-ups / {x["idle_s"]} s', str(x['wakeups']), '', '', '', '', '',
                '0', check(x['wakeups'] == 0))
            if who == 'helper' and 'helper_watchdog' in r:
                w = r['helper_watchdog']
                row('  … under systemd, WatchdogSec=5', str(w['wakeups']), '', '', '', '', '',
                    '0', check(w['wakeups'] == 0))
    s = res.get('scale')
    if s:
        world = (f'{s["sessions_known"]} sessions, {s["seats"]} seats × {s["ports_per_seat"]} ports, '
                 f'{s["agents"]} agents, {s["set_elements"]} elements')
        row(f'Scale ({world})', '', '', '', '', '', '', '', '')
        g = s['sg_grant']
        row('  Grant() → first connect', us(g['p50']), us(g['p99']), '', '', '', '', 'p50 ≤ 2 ms',
            check(g['p50'] is not None and g['p50'] <= 2000))
        hb = s['helper_batch_grant']
        row("  helper's netlink batch (grant)", us(hb['p50']), us(hb['p99']), '', '', '', '', '≤ 20 µs',
            check(hb['p50'] is not None and hb['p50'] <= 20))
        for how, label in (('switch', 'seat switch'), ('leave', 'holder leaves')):
            for part in ('a', 'b'):
                x = s[f'sg_{how}_{part}']
                met = x['p50'] is not None and x['p50'] <= 2000 and x['p99'] <= 10000
                row(f'  {label} → ({part})', us(x['p50']), us(x['p99']), '', '', '', '',
                    'p50 ≤ 2 ms, p99 ≤ 10 ms', check(met))
        row('  helper RSS / Private_Dirty, started', f'{s["helper_rss_kb_at_start"] / 1024:.1f} MiB',
            f'{s["helper_private_dirty_kb_at_start"]} kB', '', '', '', '', '', '')
        row('  helper RSS / Private_Dirty, at the end', f'{s["helper_rss_kb"] / 1024:.1f} MiB',
            f'{s["helper_private_dirty_kb"]} kB', '', '', '', '', '', '')
        row('  all agents\' wake-ups per grant + revoke of uid 1000',
            f'{s["agents_wakeups_per_grant_revoke_cycle"]:.0f}', '', '', '', '', '', '', '')
        row(f'  helper wake-ups / {s["idle_s"]} s idle', str(s['helper_wakeups_idle']), '', '', '',
            '', '', '0', check(s['helper_wakeups_idle'] == 0))

    if res['profile'] == 'smoke':
        rows = [r[:-1] + ('',) for r in rows]   # a smoke run checks nothing
    head = ('measure', 'seatgate p50', 'p99', 'against', 'p50', 'p99', 'ratio', 'target', 'met')
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ['  '.join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [head] + rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def notes(res):
    out = []
    m = res['machine']
    loads = ', '.join(f'{k} {v}' for k, v in m.get('load_by_section', {}).items())
    out.append(f'Machine: {m["cpus"]} × {m["cpu"]}, {m["mem_gib"]:.0f} GiB, Linux {m["kernel"]}; '
               f'load average (1/5/15 min) at each section\'s start: {loads}; at the end {m["load_end"]} '
               f'(the scale section\'s 200 agents count); profile {res["profile"]}, {res["seconds"]:.0f} s.')
    c = res.get('control')
    if c:
        out.append('Grant: the probe (uid 1000) calls Grant() and connects once the reply is in; the old '
                   'ways: a root process runs the command, then connects as uid 1000. Revoke (a): the '
                   'nf_tables notification of the element\'s removal (from then on new connects are '
                   'refused; a connect right after (b) confirmed it, '
                   f'{c["sg_new_connect_not_refused_after_close"]} exceptions); (b) the held connection '
                   'wakes its poll(). Seat switch T0: the logind stand-in emitting the old session\'s '
                   'PropertiesChanged (Active false), stamped in the stand-in; holder leaves: the '
                   'close of its bus connection. Old ways: process start -> refused connect, after '
                   'the process exits, as a login script would see it. Cases interleaved, rotated '
                   f'each round, {int(SETTLE_S * 1000)} ms pause before each.')
        if c['failures']:
            out.append(f'Control failures: {len(c["failures"])}: {c["failures"][:3]}')
    if res.get('polkitd'):
        out.append("Debian's polkitd: the real polkitd on the lab bus (tests/cli/polkit_real.py) with "
                   'seatgate\'s .policy and the example rule 50-seatgate-group.rules (uid 1000 in group '
                   'vmusers); without a real logind it sees no session, so the rule decides. The probe '
                   'grants, connects and releases, 50 ms pause before each round.')
    p = res.get('packet')
    if p:
        out.append('Packet path: each case in a network namespace of its own; seatgate\'s table is the '
                   'helper\'s (seatgate-helper --reset, TableMode=plain) with elements added; old layout: '
                   'one `-m owner --uid-owner U -j ACCEPT` per uid, the measured uid in the middle, then '
                   'REJECT, on every packet; "seatgate\'s 2 chains without rules": its output and input '
                   'base chains alone, what the netfilter hooks cost that every loopback packet passes '
                   'twice. Connections: connect/64-byte echo/close as uid 1000. Clients '
                   f'(uid 1000) pinned to CPU {p["client_cpu"]}, servers to CPU {p["server_cpu"]}. Each '
                   'seatgate run (and hooks-alone run) is paired with a no-table run right before or '
                   'after it (alternating), '
                   'the order of cases rotated each round; the old layouts are compared with the mean of '
                   'their round\'s no-table runs. Ratios: median of the per-pair ratios, [95% bootstrap '
                   'interval]; "noise": target missed but the interval reaches it. CPU per GB: the '
                   'iperf3 client\'s and server\'s CPU time (their rusage, which includes the loopback '
                   'softirq work done in their context) per GB received: the per-byte cost; unlike Gb/s '
                   'it does not drop when other processes take CPU time from client or server, but it '
                   'rises as Gb/s falls when the VM\'s CPUs themselves run slower.')
    r = res.get('rest')
    if r:
        out.append('At rest: the helper pings a systemd watchdog only when WATCHDOG_USEC is set, which '
                   'it is not in the lab: its first idle figure counts only its own work. The second '
                   'runs it as systemd would with the shipped seatgate.service (WatchdogSec=5: a ping '
                   'every 2.5 s).')
    s = res.get('scale')
    if s:
        out.append(f'Scale: {s["agents"]} seatgate-agent processes ({s["agents_running_at_end"]} still running '
                   f'at the end), {s["grants_held_by_agents"]} of them holding their seat\'s grant; the '
                   'probe\'s uid 1000 is granted and revoked on seat0 as in the control section.')
    if s and s['failures']:
        out.append(f'Scale failures: {len(s["failures"])}: {s["failures"][:3]}')
    return '\n'.join('- ' + n for n in out)


def machine():
    cpu = 'unknown'
    with open('/proc/cpuinfo', encoding='ascii', errors='replace') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo', encoding='ascii') as f:
        mem_kb = int(f.readline().split()[1])
    return {'cpus': os.cpu_count(), 'cpu': cpu, 'mem_gib': mem_kb / 1024 / 1024,
            'kernel': platform.release(), 'load_start': loadavg(), 'load_end': None}


def loadavg():
    with open('/proc/loadavg', encoding='ascii') as f:
        return ' '.join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description='seatgate benchmark (run it through bench/run)')
    ap.add_argument('--quick', action='store_const', dest='profile', const='quick')
    ap.add_argument('--smoke', action='store_const', dest='profile', const='smoke')
    ap.add_argument('--json', default=os.path.join(HERE, 'results', 'latest.json'))
    ap.add_argument('--only', default='control,polkitd,packet,rest,scale')
    args = ap.parse_args()
    profile = args.profile or 'full'
    # Everything below changes firewall rules: only ever in namespaces of our own.
    if os.geteuid() != 0 or not seatgate_lab.in_private_netns():
        sys.exit('run the benchmark through bench/run (root, in network namespaces of its own)')
    prof = PROFILES[profile]
    for path in (PROBE, HELPER, os.environ['SEATGATE_AGENT']):
        if not os.access(path, os.X_OK):
            sys.exit(f'{path} is not built: run bench/run')

    res = {'profile': profile, 'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
           'machine': machine(), 'parameters': prof}
    try:
        res['commit'] = subprocess.run(['git', '-C', SOURCE_DIR, 'rev-parse', '--short', 'HEAD'],
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    start = time.monotonic()
    sections = {'control': lambda: ControlBench(prof).run(), 'polkitd': lambda: real_polkitd(prof),
                'packet': lambda: packet_path(prof),
                'rest': lambda: at_rest(prof), 'scale': lambda: scale(prof)}
    res['machine']['load_by_section'] = {}
    for name in args.only.split(','):
        log(f'section {name} (load average {loadavg()})')
        res['machine']['load_by_section'][name] = loadavg()
        res[name] = sections[name]()
    res['seconds'] = time.monotonic() - start
    res['machine']['load_end'] = loadavg()

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w', encoding='utf-8') as f:
        json.dump(res, f, indent=1)
    print(render(res))
    print()
    print(notes(res))
    print(f'\nJSON: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
