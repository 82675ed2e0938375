'''The seatgate lab with Debian's real polkitd instead of the mock.

polkitd runs on the lab's private system bus with seatgate's .policy and the
rules a test picks, inside the test's own mount namespace: the policy and
rules directories, /etc/passwd and /etc/group are bind-mounted over with
the lab's copies, so neither the host's polkit configuration nor its users
change. The meson test runs the test under
`tests/lab/netns-run tests/cli/mountns-run`; RealPolkitLab
refuses to run in the host's mount namespace.

    with RealPolkitLab(rules=['50-seatgate-group.rules'],
                       groups={'vmusers': [CONSOLE_UID]}) as lab:
        lab.start()                 # bus, logind stand-in, real polkitd
        lab.standard_world()
        lab.start_helper()
        lab.pkcheck(pid)            # pkcheck's exit status for that process

What polkitd sees without a real logind: no session for any process (it
reads sessions from /run/systemd and cgroups, not from D-Bus), so
allow_active and allow_inactive never apply; allow_any and the rules decide,
and uid 0 is always authorised.
'''

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))

import seatgate_lab  # noqa: E402
from seatgate_lab import LabError, POLKIT_NAME, wait_until  # noqa: E402

POLKITD = '/usr/lib/polkit-1/polkitd'
POLKIT_BUS_POLICY = '/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf'
# Built: the action texts are merged with po/ at build time (polkit/meson.build).
POLICY_FILE = os.path.join(os.environ.get('SEATGATE_BUILD_DIR', os.path.join(seatgate_lab.SOURCE_DIR, 'build')),
                           'polkit', 'io.github.seatgate.policy')
EXAMPLES_DIR = os.path.join(seatgate_lab.SOURCE_DIR, 'polkit', 'examples')
LAB_UIDS = range(1000, 1010)

# pkcheck's exit statuses (pkcheck(1))
PKCHECK_AUTHORIZED = 0
PKCHECK_NOT_AUTHORIZED = 1
PKCHECK_CHALLENGE = 2


def in_private_mountns():
    '''True inside the namespace tests/cli/mountns-run made (it exports its
    inode), or in any namespace other than pid 1's where that can be read.'''
    own = os.stat('/proc/self/ns/mnt').st_ino
    if os.environ.get('SEATGATE_LAB_MNTNS') == str(own):
        return True
    try:
        return own != os.stat('/proc/1/ns/mnt').st_ino
    except OSError:
        return False


def _mount_is_private():
    '''True if / propagates nothing back to the host (mount --make-rprivate).'''
    with open('/proc/self/mountinfo', encoding='utf-8') as f:
        for line in f:
            fields = line.split()
            if fields[4] == '/':
                optional = fields[6:fields.index('-')]
                return not any(o.startswith('shared:') for o in optional)
    return False


class RealPolkitLab(seatgate_lab.Lab):
    '''A Lab whose polkit is the real polkitd.

    rules: example rules file names (from polkit/examples) or
           (name, text) pairs, installed as /etc/polkit-1/rules.d.
    names: {uid: user name} for the lab uids (default sglab<uid>).
    groups: {group name: [uids]} created for the test.
    policy_edit: a function(text) -> text applied to our .policy, to plant
           a changed policy (doctor's tests).
    '''

    def __init__(self, rules=(), names=None, groups=None, policy_edit=None, **kw):
        if os.geteuid() == 0 and not in_private_mountns():
            raise LabError('refusing to bind-mount over the host\'s polkit configuration: '
                           'run under tests/cli/mountns-run')
        super().__init__(**kw)
        if not _mount_is_private():
            raise LabError('the mount namespace shares mounts with the host: '
                           'use unshare -m --propagation private')
        self.rules = list(rules)
        self.names = dict(names or {})
        self.groups = dict(groups or {})
        self.policy_edit = policy_edit
        self.mounted = []
        self.polkitd = None

    # --- the bus gets polkit's own bus policy: user polkitd owns the name
    # and may call authentication agents (pkttyagent)
    def bus_config(self):
        conf = super().bus_config()
        if os.path.exists(POLKIT_BUS_POLICY):
            extra = f'  <include>{POLKIT_BUS_POLICY}</include>\n'
        else:
            extra = f'''  <policy user="polkitd">
    <allow own="{POLKIT_NAME}"/>
    <allow send_interface="org.freedesktop.PolicyKit1.AuthenticationAgent"/>
  </policy>
'''
        return conf.replace('</busconfig>', extra + '</busconfig>')

    def user_name(self, uid):
        return self.names.get(uid, f'sglab{uid}')

    # --- files polkitd reads ---------------------------------------------
    def _write_world(self):
        '''passwd and group with the lab's users and groups, over the host's.'''
        etc = os.path.join(self.dir, 'etc')
        os.makedirs(etc, mode=0o755)
        with open('/etc/passwd', encoding='utf-8') as f:
            passwd = [line for line in f.read().splitlines()
                      if line and int(line.split(':')[2]) not in LAB_UIDS]
        with open('/etc/group', encoding='utf-8') as f:
            group = [line for line in f.read().splitlines()
                     if line and int(line.split(':')[2]) not in LAB_UIDS
                     and line.split(':')[0] not in self.groups]
        for uid in LAB_UIDS:
            name = self.user_name(uid)
            passwd.append(f'{name}:x:{uid}:{uid}:seatgate lab:/nonexistent:/usr/sbin/nologin')
            group.append(f'{name}:x:{uid}:')
        gid = 2000
        for gname, uids in self.groups.items():
            group.append(f'{gname}:x:{gid}:' + ','.join(self.user_name(u) for u in uids))
            gid += 1
        for name, lines in (('passwd', passwd), ('group', group)):
            path = os.path.join(etc, name)
            with open(path, 'w', encoding='utf-8') as f:
                f.write('\n'.join(lines) + '\n')
            os.chmod(path, 0o644)
            self._bind(path, '/etc/' + name)

    def _write_polkit_config(self):
        actions = os.path.join(self.dir, 'polkit-actions')
        rules = os.path.join(self.dir, 'polkit-rules')
        share_rules = os.path.join(self.dir, 'polkit-share-rules')
        for d in (actions, rules, share_rules):
            os.makedirs(d, mode=0o755)
        with open(POLICY_FILE, encoding='utf-8') as f:
            policy = f.read()
        if self.policy_edit:
            policy = self.policy_edit(policy)
        if policy is not None:
            self._write(os.path.join(actions, 'io.github.seatgate.policy'), policy)
        for rule in self.rules:
            if isinstance(rule, str):
                shutil.copy(os.path.join(EXAMPLES_DIR, rule), os.path.join(rules, rule))
                os.chmod(os.path.join(rules, rule), 0o644)
            else:
                self._write(os.path.join(rules, rule[0]), rule[1])
        # The distribution's defaults (admin identities) stay; nothing else.
        default = '/usr/share/polkit-1/rules.d/50-default.rules'
        if os.path.exists(default):
            shutil.copy(default, share_rules)
            os.chmod(os.path.join(share_rules, '50-default.rules'), 0o644)
        self._bind(actions, '/usr/share/polkit-1/actions')
        self._bind(rules, '/etc/polkit-1/rules.d')
        self._bind(share_rules, '/usr/share/polkit-1/rules.d')

    @staticmethod
    def _write(path, text):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, 0o644)

    def _bind(self, source, target):
        # tests/lab/netns-run may have bound its own copy of passwd/group
        # there and deleted it; a bind onto a deleted file fails (ENOENT), so
        # that one goes first. Ours holds the same users and more.
        if os.path.isfile(target) and os.stat(target).st_nlink == 0:
            subprocess.run(['umount', target], capture_output=True)
        r = subprocess.run(['mount', '--bind', source, target], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError(f'mount --bind {source} {target}: {r.stderr.strip()}')
        self.mounted.append(target)

    # --- polkitd -----------------------------------------------------------
    def start_polkitd(self):
        out = open(os.path.join(self.dir, 'polkitd-real.out'), 'wb')
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': self.bus_address}
        proc = subprocess.Popen([POLKITD], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd='/')
        self.mocks['polkitd-real'] = (proc, POLKIT_NAME, out)
        self._wait_mock('polkitd-real')
        self.polkitd = proc

    def start(self, allowed=None):
        '''Bus, logind stand-in and the real polkitd (allowed is ignored:
        the rules decide).'''
        self._write_world()
        self._write_polkit_config()
        self.start_bus()
        self.start_mocks(polkit=False)
        self.start_polkitd()
        return self

    def pkcheck(self, pid=None, bus_name=None, action=seatgate_lab.ACTION_GRANT, details=None):
        '''pkcheck's exit status for a process or bus name (as root, which may
        ask about anyone and pass details).'''
        cmd = ['pkcheck', '--action-id', action]
        if pid is not None:
            cmd += ['--process', str(pid)]
        else:
            cmd += ['--system-bus-name', bus_name]
        for key, value in (details or {}).items():
            cmd += ['--detail', key, value]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                           env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
                                'DBUS_SYSTEM_BUS_ADDRESS': self.bus_address})
        with open(os.path.join(self.dir, 'pkcheck.log'), 'a', encoding='utf-8') as f:
            f.write(f'$ {" ".join(cmd)}\n[exit {r.returncode}]\n{r.stdout}{r.stderr}\n')
        return r.returncode

    def logs(self):
        out = super().logs()
        out['pkcheck'] = self.read(os.path.join(self.dir, 'pkcheck.log'))
        out['polkit rules'] = '\n'.join(os.listdir(os.path.join(self.dir, 'polkit-rules'))) \
            if os.path.isdir(os.path.join(self.dir, 'polkit-rules')) else ''
        return out

    def close(self):
        keep_dir = self.keep
        self.keep = True
        try:
            super().close()
        finally:
            self.keep = keep_dir
            # passwd and group stay: the lab's users must go on resolving
            # for as long as this namespace lives.
            for target in reversed(self.mounted):
                if not target.startswith('/etc/pass') and not target.startswith('/etc/group'):
                    subprocess.run(['umount', target], capture_output=True)
            self.mounted = []
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ['RealPolkitLab', 'PKCHECK_AUTHORIZED', 'PKCHECK_NOT_AUTHORIZED',
           'PKCHECK_CHALLENGE', 'wait_until']
