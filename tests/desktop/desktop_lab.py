'''Real desktops' programs over the agent lab (tests/agent/agent_lab.py):
an X server (Xvfb), the seatgate build installed into a private root
(`meson install --destdir`, then the icon cache refreshed as the Debian
package's trigger does), and each desktop's own panel or notification
server on the desk's private session bus, running as the person.

    with Desktop(desk, CONSOLE_UID) as d:
        panel = d.xfce4_panel()
        agent = desk.agent(CONSOLE_UID, CONSOLE_SESSION)
        d.wait_icon(panel, GRANTED_RGB)
'''

import contextlib
import os
import re
import shutil
import subprocess
import time

import seatgate_lab
from seatgate_lab import LabError, wait_until

XFCONFD = '/usr/lib/x86_64-linux-gnu/xfce4/xfconf/xfconfd'
XFCE4_NOTIFYD = '/usr/lib/x86_64-linux-gnu/xfce4/notifyd/xfce4-notifyd'
MATE_TRAY_APPLET = '/usr/lib/mate-panel/notification-area-applet'
MATE_NOTIFICATION_DAEMON = '/usr/lib/mate-notification-daemon/mate-notification-daemon'
MATE_LAYOUTS = '/usr/share/mate-panel/layouts'
GNOME_SHELL_NOTIFICATIONS = '/usr/share/gnome-shell/org.gnome.Shell.Notifications'
KACTIVITYMANAGERD = '/usr/lib/x86_64-linux-gnu/libexec/kactivitymanagerd'

# The icons' own colours (data/icons/*.svg), as the panel draws them.
GRANTED_RGB = (0x2e, 0x9e, 0x4f)
DENIED_RGB = (0x6b, 0x75, 0x80)
UNAVAILABLE_RGB = (0xd9, 0x89, 0x1a)

# xfce4-panel's configuration: one panel at the top holding the status
# tray (systray: XEmbed and StatusNotifierItem host in 4.18), as xfconf
# keeps it (xfce4-panel's own default.xml has the same shape).
XFCE_PANEL_XML = '''<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
'''

# xfce4-session's failsafe session (Debian's /etc/xdg/xfce4/xfconf/.../
# xfce4-session.xml lists xfwm4, xfsettingsd, xfce4-panel, Thunar and
# xfdesktop): here the panel alone, as there is no window manager.
XFCE_SESSION_XML = '''<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-session" version="1.0">
  <property name="general" type="empty">
    <property name="FailsafeSessionName" type="string" value="Failsafe"/>
    <property name="SaveOnExit" type="bool" value="false"/>
  </property>
  <property name="sessions" type="empty">
    <property name="Failsafe" type="empty">
      <property name="IsFailsafe" type="bool" value="true"/>
      <property name="Count" type="int" value="1"/>
      <property name="Client0_Command" type="array">
        <value type="string" value="xfce4-panel"/>
        <value type="string" value="--disable-wm-check"/>
      </property>
      <property name="Client0_Priority" type="int" value="25"/>
      <property name="Client0_PerScreen" type="bool" value="false"/>
    </property>
  </property>
</channel>
'''


# lxqt-panel: one panel at the top holding the status notifier plugin.
LXQT_PANEL_CONF = '''[General]
panels=panel1

[panel1]
plugins=statusnotifier
position=Top
panelSize=32
iconSize=22

[statusnotifier]
type=statusnotifier
'''

# mate-panel's default layout (mate-panel/panel-layout.c reads
# MATE_LAYOUTS/<org.mate.panel default-layout>.layout when the person has
# no panels yet): one top panel holding the notification area (XEmbed tray
# and StatusNotifierItem host with its own watcher, mate-panel 1.26+). The
# shipped default.layout also has the menu bar, clock and window list,
# whose applets the lab's bus cannot start.
MATE_LAYOUT = '''[Toplevel top]
expand=true
orientation=top
size=32

[Object notification-area]
object-type=applet
applet-iid=NotificationAreaAppletFactory::NotificationArea
toplevel-id=top
position=0
relative-to-edge=end
locked=true
'''

# plasmashell's layout (~/.config/plasma-org.kde.plasma.desktop-appletsrc, as
# plasmashell 5.27 writes it): one panel (org.kde.panel) at the top edge
# (location 3) holding the system tray, whose own containment
# (org.kde.plasma.private.systemtray) carries the notifications plasmoid,
# which draws plasmashell's notification popups. Without the file
# plasmashell lays out Debian's default panel (kickoff, pager, task manager
# with pinned launchers, tray, clock), whose launchers' icons and clock
# text have colours near the icons'. The desktop containment is created by
# plasmashell for the current activity.
PLASMA_APPLETSRC = '''[Containments][2]
formfactor=2
immutability=1
lastScreen=0
location=3
plugin=org.kde.panel
wallpaperplugin=org.kde.image

[Containments][2][Applets][3]
immutability=1
plugin=org.kde.plasma.systemtray

[Containments][2][Applets][3][Configuration]
SystrayContainmentId=4

[Containments][2][General]
AppletOrder=3

[Containments][4]
formfactor=2
immutability=1
lastScreen=0
location=3
plugin=org.kde.plasma.private.systemtray
wallpaperplugin=org.kde.image

[Containments][4][General]
extraItems=org.kde.plasma.notifications
knownItems=org.kde.plasma.notifications
'''
# The panel's thickness, kept by plasmashell in plasmashellrc.
PLASMASHELLRC = '''[PlasmaViews][Panel 2][Defaults]
thickness=32
'''

# sway with waybar as its bar; waybar with its tray module alone.
SWAY_CONFIG = '''output HEADLESS-1 resolution 800x600
bar {
  swaybar_command waybar
}
'''
WAYBAR_CONFIG = '''{ "layer": "top", "position": "top", "height": 30,
  "modules-right": ["tray"], "tray": { "icon-size": 22, "spacing": 4 } }
'''


def build_dir():
    path = os.environ.get('SEATGATE_BUILD_DIR')
    if not path or not os.path.isfile(os.path.join(path, 'build.ninja')):
        raise LabError('SEATGATE_BUILD_DIR must name the meson build directory')
    return path


def missing(*programs):
    '''The programs of this list that are not installed.'''
    return [p for p in programs if not (shutil.which(p) or os.access(p, os.X_OK))]


class Xvfb:
    '''An X server of its own. Its number is picked here, not with
    -displayfd (under the lab's namespaces Xvfb 21.1 failed to write it:
    "Cannot write display number to fd 5"): the first free one from 100,
    the next if another test's Xvfb took it first.'''

    def __init__(self, directory, size='800x600x24'):
        self._log = open(os.path.join(directory, 'xvfb.log'), 'wb')
        for number in range(100, 200):
            if os.path.exists(f'/tmp/.X{number}-lock'):
                continue
            self.proc = subprocess.Popen(['Xvfb', f':{number}', '-screen', '0', size,
                                          '-nolisten', 'tcp', '-noreset'],
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT)
            self.display = f':{number}'
            if wait_until(self._up, 10, 0.02, 'Xvfb to start') == 'up':
                return
        raise LabError('no free X display number in 100-199')

    def _up(self):
        if self.proc.poll() is not None:
            return 'exited'  # lost the race for this number: the next one
        return subprocess.run(['xdpyinfo', '-display', self.display], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0 and 'up'

    def close(self):
        seatgate_lab.stop_process(self.proc)
        self._log.close()


class Process:
    '''A desktop program run as the person, with its log.'''

    def __init__(self, desktop, name, cmd, env=None, uid=None):
        self.name = name
        self.log_path = os.path.join(desktop.dir, f'{name}.log')
        self._log = open(self.log_path, 'wb')
        uid = desktop.uid if uid is None else uid
        if uid != 0:
            cmd = ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + cmd
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=dict(desktop.env, **(env or {})),
                                     cwd='/')

    def running(self):
        return self.proc.poll() is None

    def log(self):
        self._log.flush()
        return seatgate_lab.Lab.read(self.log_path)

    def close(self):
        seatgate_lab.stop_process(self.proc)
        self._log.close()


class Desktop:
    '''An X display and a person's desktop home over an AgentLab.'''

    def __init__(self, desk, uid):
        self.desk = desk
        self.uid = uid
        self.dir = os.path.join(desk.dir, f'desktop-{uid}')
        os.makedirs(self.dir, mode=0o755)
        self.home = desk.home(uid)
        self.root = os.path.join(self.dir, 'root')
        self.processes = []
        self.shots = []
        self.unmount = []
        self.install()
        self.x = Xvfb(self.dir)
        self.env = {
            'PATH': f'{desk.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': self.home,
            'DISPLAY': self.x.display,
            'DBUS_SESSION_BUS_ADDRESS': desk.bus.address,
            'XDG_CONFIG_HOME': os.path.join(self.home, '.config'),
            'XDG_CACHE_HOME': os.path.join(self.home, '.cache'),
            'XDG_DATA_HOME': os.path.join(self.home, '.local', 'share'),
            'XDG_DATA_DIRS': f'{self.datadir}:/usr/share',
            'XDG_CONFIG_DIRS': f'{self.sysconfdir}/xdg:/etc/xdg',
            'LANG': 'C.UTF-8',
            'NO_AT_BRIDGE': '1',
        }

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the build, installed as a package would ------------------------------
    def install(self):
        build = build_dir()
        out = subprocess.run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet',
                              '--destdir', self.root], capture_output=True, text=True)
        if out.returncode != 0:
            raise LabError(f'meson install failed: {out.stdout}{out.stderr}')
        prefix = self.meson_option('prefix')
        self.prefix = self.root + prefix
        self.datadir = os.path.join(self.prefix, self.meson_option('datadir'))
        sysconfdir = self.meson_option('sysconfdir')
        self.sysconfdir = os.path.join(self.root + prefix if not sysconfdir.startswith('/')
                                       else self.root, sysconfdir.lstrip('/'))
        # What the package's trigger does (DESTDIR installs skip meson's
        # post-install step): without it GTK trusts a stale cache.
        icons = os.path.join(self.datadir, 'icons', 'hicolor')
        shutil.copy('/usr/share/icons/hicolor/index.theme', icons)
        subprocess.run(['gtk-update-icon-cache', '-q', '-f', icons], check=True)
        for dirpath, dirnames, filenames in os.walk(self.dir):
            os.chmod(dirpath, 0o755)

    def meson_option(self, name):
        import json
        out = subprocess.run(['meson', 'introspect', '--buildoptions', build_dir()],
                             capture_output=True, text=True, check=True)
        for option in json.loads(out.stdout):
            if option['name'] == name:
                return option['value']
        raise LabError(f'no meson option {name}')

    def mount_installed_share(self):
        '''Binds the installed datadir over the prefix's real one, inside
        the test's private mount namespace (tests/lab/netns-run), so that
        the agent finds its translations where it was built to look
        (SG_LOCALEDIR) and the desktop its icons, as after an install.'''
        target = os.path.join(self.meson_option('prefix'), self.meson_option('datadir'))
        if not os.path.isdir(target):
            raise LabError(f'{target} does not exist to bind the installed files over')
        subprocess.run(['mount', '--bind', self.datadir, target], check=True)
        self.mounted = target

    def autostart_file(self):
        return os.path.join(self.sysconfdir, 'xdg', 'autostart', 'seatgate-agent.desktop')

    # --- programs -------------------------------------------------------------
    def run(self, name, cmd, env=None, uid=None):
        p = Process(self, name, cmd, env, uid)
        self.processes.append(p)
        return p

    def write_panel_config(self):
        channels = os.path.join(self.home, '.config', 'xfce4', 'xfconf', 'xfce-perchannel-xml')
        os.makedirs(channels, exist_ok=True)
        for name, text in (('xfce4-panel.xml', XFCE_PANEL_XML),
                           ('xfce4-session.xml', XFCE_SESSION_XML)):
            with open(os.path.join(channels, name), 'w', encoding='utf-8') as f:
                f.write(text)
        for dirpath, _d, filenames in os.walk(os.path.join(self.home, '.config')):
            os.chown(dirpath, self.uid, self.uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid)

    def xfconfd(self):
        '''xfconfd, which the session bus would start on demand: the lab's
        bus has no service files, so it is started first.'''
        self.write_panel_config()
        p = self.run('xfconfd', [XFCONFD])
        wait_until(lambda: self.desk.bus.client.name_owner('org.xfce.Xfconf'), 10,
                   what='xfconfd on the session bus')
        return p

    def xfce4_panel(self):
        '''xfce4-panel with its status tray. --disable-wm-check: there is
        no window manager here, and without the flag the panel waits 5 s
        for one before it maps (seen: "No window manager registered").'''
        self.xfconfd()
        p = self.run('xfce4-panel', ['xfce4-panel', '--disable-wm-check'])
        wait_until(lambda: self.window_geometry('xfce4-panel', min_width=100), 10,
                   what='the panel window')
        return p

    def lxqt_config(self, name, text):
        '''Writes ~/.config/lxqt/NAME as the person's own.'''
        conf = os.path.join(self.home, '.config')
        os.makedirs(os.path.join(conf, 'lxqt'), exist_ok=True)
        with open(os.path.join(conf, 'lxqt', name), 'w', encoding='utf-8') as f:
            f.write(text)
        for path in (conf, os.path.join(conf, 'lxqt'), os.path.join(conf, 'lxqt', name)):
            os.chown(path, self.uid, self.uid)

    def lxqt_panel(self, start=True):
        '''lxqt-panel with its statusnotifier plugin (its own watcher and
        host), configured in ~/.config/lxqt/panel.conf.'''
        self.lxqt_config('panel.conf', LXQT_PANEL_CONF)
        self.panel_name = 'LXQt Panel'
        if not start:
            return None
        p = self.run('lxqt-panel', ['lxqt-panel'], env={'QT_QPA_PLATFORM': 'xcb'})
        wait_until(lambda: self.window_geometry(self.panel_name, min_width=100), 10,
                   what='the panel window')
        return p

    def lxqt_notificationd(self):
        '''lxqt-notificationd 1.2, LXQt's notification server (its popups
        bottom-right by default: ~/.config/lxqt/notifications.conf
        placement). The session bus would start it on demand; the lab's
        bus has no service files.'''
        p = self.run('lxqt-notificationd', ['lxqt-notificationd'], env={'QT_QPA_PLATFORM': 'xcb'})
        wait_until(lambda: self.desk.bus.client.name_owner('org.freedesktop.Notifications'), 10,
                   what='lxqt-notificationd on the session bus')
        return p

    def mate_session_settings(self):
        '''mate-session's required components, in GLib's keyfile settings
        backend (GSETTINGS_BACKEND=keyfile reads
        $XDG_CONFIG_HOME/glib-2.0/settings/keyfile): the panel alone, as
        there is no window manager or file manager here (the schema's
        default also lists marco, caja and a dock).'''
        folder = os.path.join(self.home, '.config', 'glib-2.0', 'settings')
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'keyfile'), 'w', encoding='utf-8') as f:
            f.write("[org/mate/desktop/session]\nrequired-components-list=['panel']\n"
                    "gnome-compat-startup=@as []\n"
                    "[org/mate/desktop/session/required-components]\npanel='mate-panel'\n")
        for dirpath, _d, filenames in os.walk(os.path.join(self.home, '.config')):
            os.chown(dirpath, self.uid, self.uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid)
        self.env['GSETTINGS_BACKEND'] = 'keyfile'

    def mate_panel(self, start=True):
        '''mate-panel with its notification area applet. The applet is a
        program of its own that the session bus starts on demand
        (org.mate.panel.applet.NotificationAreaAppletFactory); the lab's bus
        has no service files, so it is started first. The settings live in
        memory (GSETTINGS_BACKEND=memory: no dconf service on the lab's
        bus), so the panel starts from its default layout, which is bound
        over the shipped one inside the test's private mount namespace.'''
        layouts = os.path.join(self.dir, 'mate-layouts')
        os.makedirs(layouts)
        with open(os.path.join(layouts, 'default.layout'), 'w', encoding='utf-8') as f:
            f.write(MATE_LAYOUT)
        subprocess.run(['mount', '--bind', layouts, MATE_LAYOUTS], check=True)
        self.unmount.append(MATE_LAYOUTS)
        self.env.setdefault('GSETTINGS_BACKEND', 'memory')
        self.run('notification-area-applet', [MATE_TRAY_APPLET])
        wait_until(lambda: self.desk.bus.client.name_owner(
            'org.mate.panel.applet.NotificationAreaAppletFactory'), 10,
            what='the notification area applet on the session bus')
        self.panel_name = 'Top Panel'
        if not start:
            return None  # the session starts it
        p = self.run('mate-panel', ['mate-panel'])
        wait_until(lambda: self.window_geometry(self.panel_name, min_width=100), 10,
                   what='the panel window')
        return p

    def gnome_shell(self, extensions=()):
        '''GNOME Shell 43 as the X11 window manager and compositor of the
        Xvfb display (--x11; software GL), its settings in GLib's keyfile
        backend with the given extensions enabled. It reads logind from the
        lab's system bus (misc/loginManager.js). Returns once its top bar's
        window is mapped.'''
        self.gnome_settings(extensions)
        p = self.run('gnome-shell', ['gnome-shell', '--x11'])
        self.wait_gnome_shell(p)
        return p

    def gnome_settings(self, extensions=()):
        '''The person's GNOME settings and environment, for a shell started
        here or by gnome-session.'''
        folder = os.path.join(self.home, '.config', 'glib-2.0', 'settings')
        os.makedirs(folder, exist_ok=True)
        listed = ', '.join(f"'{e}'" for e in extensions)
        with open(os.path.join(folder, 'keyfile'), 'w', encoding='utf-8') as f:
            f.write(f"[org/gnome/shell]\nenabled-extensions=[{listed}]\n"
                    "disable-user-extensions=false\nwelcome-dialog-last-shown-version='999'\n")
        # Without GDM the shell puts up "Screen Lock disabled" once per person
        # (ui/main.js _handleLockScreenWarning, which keeps this file), and
        # an idle person's banner stays: as if this person had seen it.
        shell_data = os.path.join(self.home, '.local', 'share', 'gnome-shell')
        os.makedirs(shell_data, exist_ok=True)
        open(os.path.join(shell_data, 'lock-warning-shown'), 'w').close()
        for dirpath, _d, filenames in os.walk(os.path.join(self.home, '.local')):
            os.chown(dirpath, self.uid, self.uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid)
        for dirpath, _d, filenames in os.walk(os.path.join(self.home, '.config')):
            os.chown(dirpath, self.uid, self.uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid)
        run_dir = os.path.join(self.dir, 'runtime')
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        os.chown(run_dir, self.uid, self.uid)
        self.env.update({'GSETTINGS_BACKEND': 'keyfile', 'XDG_RUNTIME_DIR': run_dir,
                         'DBUS_SYSTEM_BUS_ADDRESS': self.desk.lab.bus_address,
                         'LIBGL_ALWAYS_SOFTWARE': '1'})
        # The top bar is drawn by the compositor, not an X window of its own:
        # its status area, right of the clock and left of the system menu.
        # On the dark bar the antialiased white text has greys close to the
        # denied icon's, hence the narrow colour tolerance.
        self.bar_box = (480, 0, 270, 32)
        self.icon_tolerance = 8

    def wait_gnome_shell(self, p):
        '''Waits until the shell (p, or the session that started it, whose
        output it shares) is up, and starts its notification service.'''
        wait_until(lambda: 'GNOME Shell started' in p.log() or not p.running(), 60,
                   what='gnome-shell to start')
        if not p.running():
            raise LabError(f'gnome-shell exited: {p.log()[-2000:]}')
        # org.freedesktop.Notifications is owned by a gjs service of the
        # shell's own (js/dbusServices/notifications) that forwards to the
        # shell; the session bus starts it on demand
        # (org.gnome.Shell.Notifications.service), the lab's bus has no
        # service files, so it is started here.
        self.run('gnome-shell-notifications', ['/usr/bin/gjs', GNOME_SHELL_NOTIFICATIONS])
        wait_until(lambda: self.desk.bus.client.name_owner('org.freedesktop.Notifications'), 30,
                   what='gnome-shell\'s notification service')

    def wait_gnome_bar(self, p, timeout=60.0):
        '''Waits until the shell's top bar is on screen: its clock (the
        white text in the middle of the bar, drawn by the compositor, not
        an X window of its own) in a direct grab, every 20 ms. Returns the
        monotonic time of the first grab that showed it.'''
        clock = (300, 0, 200, 32)

        def look():
            if not p.running():
                return 'exited'
            started = time.monotonic()
            return self.count_colour(self.grab_pixels(clock), (0xff, 0xff, 0xff), 24) >= 20 \
                and started
        seen = wait_until(look, timeout, 0.02, 'the top bar\'s clock on screen')
        if seen == 'exited':
            raise LabError(f'gnome-shell exited: {p.log()[-2000:]}')
        return seen

    def gnome_icon_centre(self, rgb):
        '''The middle of the icon's pixels in the top bar's status area,
        on a fresh screenshot.'''
        box = self.bar_box
        pixels = self.pixels(self.screenshot('find-icon'), box)
        w = box[2]
        hits = [(i % w, i // w) for i, px in enumerate(pixels)
                if all(abs(a - b) <= self.icon_tolerance for a, b in zip(px, rgb))]
        if not hits:
            raise LabError(f'no pixel of {rgb} in the top bar (screenshots in {self.dir})')
        xs, ys = [h[0] for h in hits], [h[1] for h in hits]
        return box[0] + (min(xs) + max(xs)) // 2, box[1] + (min(ys) + max(ys)) // 2

    def plasma_config(self):
        '''The person's plasmashell layout and the environment a Plasma
        session gives its programs (startkde/startplasma.cpp,
        setupPlasmaEnvironment): KDE_FULL_SESSION, KDE_SESSION_VERSION=5,
        KDE_SESSION_UID, XDG_CURRENT_DESKTOP=KDE.'''
        conf = os.path.join(self.home, '.config')
        os.makedirs(conf, exist_ok=True)
        for name, text in (('plasma-org.kde.plasma.desktop-appletsrc', PLASMA_APPLETSRC),
                           ('plasmashellrc', PLASMASHELLRC)):
            with open(os.path.join(conf, name), 'w', encoding='utf-8') as f:
                f.write(text)
        for dirpath, _d, filenames in os.walk(conf):
            os.chown(dirpath, self.uid, self.uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid)
        run_dir = os.path.join(self.dir, 'runtime')
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        os.chown(run_dir, self.uid, self.uid)
        self.env.update({'KDE_FULL_SESSION': 'true', 'KDE_SESSION_VERSION': '5',
                         'KDE_SESSION_UID': str(self.uid), 'XDG_CURRENT_DESKTOP': 'KDE',
                         'XDG_RUNTIME_DIR': run_dir, 'QT_QPA_PLATFORM': 'xcb'})

    def kded5(self):
        '''kded5, which holds Plasma 5's StatusNotifierWatcher: its module
        statusnotifierwatcher (X-KDE-Kded-autoload true, phase 1, not
        loaded on demand) is loaded when kded starts in a KDE session
        (kded.cpp, Kded::initModules: phase 1 needs KDE_FULL_SESSION,
        KDE_SESSION_VERSION=5 and KDE_SESSION_UID = its own uid). Nothing
        in plasmashell 5.27 asks kded for it: the tray's host only watches
        for the name (applets/systemtray/statusnotifieritemhost.cpp,
        StatusNotifierItemHost::init). The session bus would start kded on
        demand; the lab's bus has no service files.'''
        p = self.run('kded5', ['kded5'])
        wait_until(lambda: self.desk.bus.client.name_owner('org.kde.StatusNotifierWatcher'), 20,
                   what='kded5\'s StatusNotifierWatcher on the session bus')
        return p

    def plasma_shell(self, tray=True):
        '''plasmashell 5.27 on the Xvfb display (Qt Quick on Mesa's
        software GL through Xvfb's GLX) with the layout above; with
        tray=True kded5 first, which holds the StatusNotifierWatcher.
        kactivitymanagerd is started first: without it ShellCorona::load
        (shell/shellcorona.cpp) aborts ("Aborting shell load: The activity
        manager daemon (kactivitymanagerd) is not running") and no panel
        is drawn; the session bus would start it on demand. Returns once
        the panel's window is mapped.'''
        self.plasma_config()
        self.run('kactivitymanagerd', [KACTIVITYMANAGERD])
        wait_until(lambda: self.desk.bus.client.name_owner('org.kde.ActivityManager'), 20,
                   what='kactivitymanagerd on the session bus')
        if tray:
            self.kded5()
        # --no-respawn: KCrash would restart a crashed shell behind the test.
        p = self.run('plasmashell', ['plasmashell', '--no-respawn'])
        self.panel_name = 'Plasma'

        def panel():
            # Its desktop's and popups' windows are also named "Plasma".
            for _id, n, w, h, x, y in self.windows():
                if n == 'Plasma' and w >= 400 and 16 <= h <= 64 and y == 0:
                    return (x, y, w, h)
            return not p.running() and 'exited'
        box = wait_until(panel, 60, 0.1, 'plasmashell\'s panel window')
        if box == 'exited':
            raise LabError(f'plasmashell exited: {p.log()[-2000:]}')
        self.bar_box = box
        self.panel_mapped = time.monotonic()
        return p

    def startplasma_x11(self, env=None):
        '''Plasma 5.27's own session start, as SDDM's X11 session runs it:
        startplasma-x11 (startkde/startplasma-x11.cpp) with `startkderc`
        [General] systemdBoot=false, so startPlasmaSession
        (startkde/startplasma.cpp; useSystemdBoot reads that key) runs
        plasma_session, which starts kcminit, kded5, kwin_x11, ksmserver
        and the XDG autostart entries of each phase (plasma-session/
        startup.cpp), plasmashell among them (/etc/xdg/autostart/
        org.kde.plasmashell.desktop, phase 0). No splash (ksplashrc Engine
        None: it waits on nothing but would fill the screen). The lab's
        session bus has no service files, so kactivitymanagerd, which the
        bus would start on demand for plasmashell, is started first.
        Returns startplasma-x11's process; the panel is not waited for.'''
        self.plasma_config()
        conf = os.path.join(self.home, '.config')
        for name, text in (('startkderc', '[General]\nsystemdBoot=false\n'),
                           ('ksplashrc', '[KSplash]\nEngine=None\n')):
            path = os.path.join(conf, name)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
            os.chown(path, self.uid, self.uid)
        self.run('kactivitymanagerd', [KACTIVITYMANAGERD])
        wait_until(lambda: self.desk.bus.client.name_owner('org.kde.ActivityManager'), 20,
                   what='kactivitymanagerd on the session bus')
        self.panel_name = 'Plasma'
        return self.run('startplasma-x11', ['startplasma-x11'], env=env)

    def wait_plasma_panel(self, p, timeout=90.0):
        '''The panel's window of a plasmashell started by someone else
        (its desktop's and popups' windows are also named "Plasma");
        fails if p, the process it depends on, exits first.'''
        def panel():
            for _id, n, w, h, x, y in self.windows():
                if n == 'Plasma' and w >= 400 and 16 <= h <= 64 and y == 0:
                    return (x, y, w, h)
            return not p.running() and 'exited'
        box = wait_until(panel, timeout, 0.1, 'plasmashell\'s panel window')
        if box == 'exited':
            raise LabError(f'{p.name} exited: {p.log()[-3000:]}')
        self.bar_box = box
        self.panel_mapped = time.monotonic()
        return box

    def mate_notification_daemon(self):
        p = self.run('mate-notification-daemon', [MATE_NOTIFICATION_DAEMON],
                     env={'GSETTINGS_BACKEND': 'memory'})
        wait_until(lambda: self.desk.bus.client.name_owner('org.freedesktop.Notifications'), 10,
                   what='mate-notification-daemon on the session bus')
        return p

    def sway_waybar(self, bar=True, config=''):
        '''sway on its headless backend (WLR_BACKENDS=headless, pixman
        renderer: no GPU here) with waybar as its bar (bar=False: none),
        holding waybar's tray module (its own StatusNotifierWatcher and
        host); `config` is appended to sway's config. sway refuses to run
        as root: it runs as the person, like the panel. Returns once its
        Wayland and IPC sockets are there (SWAYSOCK set for swaymsg).'''
        run_dir = os.path.join(self.dir, 'runtime')
        os.makedirs(run_dir, mode=0o700)
        os.chown(run_dir, self.uid, self.uid)
        conf = os.path.join(self.home, '.config')
        text = SWAY_CONFIG if bar else SWAY_CONFIG.split('bar {')[0]
        files = [('sway', 'config', text + config)]
        if bar:
            files.append(('waybar', 'config', WAYBAR_CONFIG))
        for d, name, text in files:
            os.makedirs(os.path.join(conf, d), exist_ok=True)
            with open(os.path.join(conf, d, name), 'w', encoding='utf-8') as f:
                f.write(text)
            os.chown(conf, self.uid, self.uid)
            os.chown(os.path.join(conf, d), self.uid, self.uid)
            os.chown(os.path.join(conf, d, name), self.uid, self.uid)
        self.env.update({'XDG_RUNTIME_DIR': run_dir, 'WLR_BACKENDS': 'headless',
                         'WLR_RENDERER': 'pixman', 'WLR_LIBINPUT_NO_DEVICES': '1'})
        self.env.pop('DISPLAY', None)
        p = self.run('sway', ['sway'])

        def socket(pattern):
            names = [n for n in os.listdir(run_dir) if re.fullmatch(pattern, n)]
            if names:
                return names[0]
            if not p.running():
                raise LabError(f'sway exited: {p.log()[-2000:]}')
            return None
        self.env['WAYLAND_DISPLAY'] = wait_until(lambda: socket(r'wayland-\d+'), 10,
                                                 what='sway\'s Wayland socket')
        self.env['SWAYSOCK'] = os.path.join(run_dir, wait_until(
            lambda: socket(r'sway-ipc\.\d+\.\d+\.sock'), 10, what='sway\'s IPC socket'))
        self.wayland = True
        self.bar_box = (0, 0, 800, 30)
        return p

    def swaymsg(self, *args):
        '''Runs swaymsg as the person; returns its output (JSON for -t).'''
        out = subprocess.run(['setpriv', f'--reuid={self.uid}', f'--regid={self.uid}',
                              '--clear-groups', 'swaymsg'] + list(args), env=self.env,
                             capture_output=True, text=True, cwd='/')
        if out.returncode != 0:
            raise LabError(f'swaymsg {" ".join(args)} failed: {out.stdout}{out.stderr}')
        return out.stdout

    def seat_capabilities(self):
        import json
        return {s['name']: s['capabilities'] for s in json.loads(self.swaymsg('-t', 'get_seats'))}

    def sway_pointer(self):
        '''Gives seat0 a pointer. On the headless backend sway's seat has
        no input devices, so it offers clients no wl_pointer (get_seats:
        capabilities 0; sway/input/seat.c seat_update_capabilities counts
        the seat's devices) and `seat seat0 cursor press` reaches nobody.
        wayvnc (a VNC server for wlroots compositors) creates a virtual
        pointer and keyboard (wlr-virtual-pointer, virtual-keyboard) as it
        starts, before any VNC client: on a Unix socket, input unused.
        Returns the seat's capabilities before and after.'''
        before = self.seat_capabilities().get('seat0')
        p = self.run('wayvnc', ['wayvnc', '--unix-socket', '--seat=seat0',
                                os.path.join(self.env['XDG_RUNTIME_DIR'], 'wayvnc.sock')])
        # WL_SEAT_CAPABILITY_POINTER (1) | KEYBOARD (2)
        wait_until(lambda: self.seat_capabilities().get('seat0', 0) & 1 or
                   (not p.running() and LabError(f'wayvnc exited: {p.log()[-2000:]}')),
                   10, what='a pointer on sway\'s seat0 (wayvnc\'s virtual pointer)')
        return before, self.seat_capabilities()['seat0']

    def sway_click(self, button, x, y):
        '''A click as sway(5) "seat <name> cursor" makes it: the seat's
        cursor moved to x, y (layout coordinates), the button pressed and
        released.'''
        self.swaymsg('seat', 'seat0', 'cursor', 'set', str(x), str(y))
        self.swaymsg('seat', 'seat0', 'cursor', 'press', f'button{button}')
        self.swaymsg('seat', 'seat0', 'cursor', 'release', f'button{button}')

    def grim_pixels(self, box):
        '''[(r, g, b)] of box=(x, y, w, h) of the screen, straight from grim
        as PPM (no PNG to write and decode: for timing).'''
        x, y, w, h = box
        out = subprocess.run(['setpriv', f'--reuid={self.uid}', f'--regid={self.uid}',
                              '--clear-groups', 'grim', '-t', 'ppm', '-g', f'{x},{y} {w}x{h}', '-'],
                             env=self.env, capture_output=True, cwd='/')
        if out.returncode != 0:
            raise LabError(f'grim failed: {out.stderr.decode(errors="replace")}')
        m = re.match(rb'P6\s+(\d+)\s+(\d+)\s+255\s', out.stdout)
        if not m:
            raise LabError('grim wrote no PPM')
        data = out.stdout[m.end():]
        return [tuple(data[i:i + 3]) for i in range(0, len(data) - 2, 3)]

    def xfce4_notifyd(self):
        p = self.run('xfce4-notifyd', [XFCE4_NOTIFYD])
        wait_until(lambda: self.desk.bus.client.name_owner('org.freedesktop.Notifications'), 10,
                   what='xfce4-notifyd on the session bus')
        return p

    # --- looking at the screen --------------------------------------------------
    def windows(self):
        '''[(id, name, width, height, x, y)] of every window, from xwininfo.'''
        out = subprocess.run(['xwininfo', '-root', '-tree', '-display', self.x.display],
                             capture_output=True, text=True).stdout
        found = []
        for m in re.finditer(r'^\s+(0x[0-9a-f]+) (?:"([^"]*)"|\(has no name\)).*?'
                             r'(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+(-?\d+)\+(-?\d+)', out, re.M):
            found.append((m.group(1), m.group(2) or '', int(m.group(3)), int(m.group(4)),
                          int(m.group(7)), int(m.group(8))))
        return found

    def window_geometry(self, name, min_width=1):
        '''(x, y, width, height) of the widest mapped window so named.'''
        best = None
        for _id, n, w, h, x, y in self.windows():
            if n == name and w >= min_width and (best is None or w > best[2]):
                best = (x, y, w, h)
        return best

    def screenshot(self, label):
        '''The whole screen as PNG (ImageMagick import; grim on Wayland),
        kept with the test.'''
        path = os.path.join(self.dir, f'{len(self.shots):02d}-{label}.png')
        # The grab happens as the program starts; writing the PNG is what
        # takes time (up to 1 s on a loaded 2-core machine).
        self.last_shot_started = time.monotonic()
        if getattr(self, 'wayland', False):
            # Written where the person may write, then kept with the rest.
            tmp = os.path.join(self.env['XDG_RUNTIME_DIR'], 'grim.png')
            out = subprocess.run(['setpriv', f'--reuid={self.uid}', f'--regid={self.uid}',
                                  '--clear-groups', 'grim', tmp], env=self.env,
                                 capture_output=True, text=True, cwd='/')
            if out.returncode != 0:
                raise LabError(f'grim failed: {out.stderr}')
            shutil.move(tmp, path)
        else:
            subprocess.run(['import', '-display', self.x.display, '-window', 'root', path],
                           check=True, capture_output=True)
        self.shots.append(path)
        return path

    @staticmethod
    def pixels(png, box):
        '''[(r, g, b)] of the area box=(x, y, w, h) of a PNG.'''
        x, y, w, h = box
        data = subprocess.run(['convert', png, '-crop', f'{w}x{h}+{x}+{y}', '+repage',
                               '-depth', '8', 'rgb:-'], capture_output=True, check=True).stdout
        return [tuple(data[i:i + 3]) for i in range(0, len(data) - 2, 3)]

    @staticmethod
    def count_colour(pixels, rgb, tolerance=24):
        return sum(1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, rgb)))

    def icon_pixels(self, rgb, label='tray'):
        '''Pixels of colour rgb in the panel, on a fresh screenshot.'''
        if getattr(self, 'bar_box', None):
            box = self.bar_box
        else:
            box = self.window_geometry(getattr(self, 'panel_name', 'xfce4-panel'), min_width=100)
        if box is None:
            return 0, None
        shot = self.screenshot(label)
        return self.count_colour(self.pixels(shot, box), rgb,
                                 getattr(self, 'icon_tolerance', 24)), shot

    def wait_icon(self, rgb, what, timeout=5.0, present=True, minimum=20):
        '''Waits until the panel shows (or, present=False, no longer shows)
        at least `minimum` pixels of the icon colour; returns the count.'''
        last = [0]

        def look():
            n, _shot = self.icon_pixels(rgb, what.replace(' ', '-'))
            last[0] = n
            return (n >= minimum) == present and (n if present else True)
        try:
            return wait_until(look, timeout, 0.05, what)
        except LabError as e:
            raise LabError(f'{e}; {last[0]} pixels of {rgb} in the panel '
                           f'(screenshots in {self.dir})') from None

    def grab_pixels(self, box):
        '''[(r, g, b)] of the area box=(x, y, w, h) of the screen, read from
        the X server directly (GetImage through GDK, ~2 ms): for timing,
        where a screenshot through `import` takes 0.1 s on an idle machine
        and 2-3 s beside a busy plasmashell on a loaded one.'''
        import gi
        gi.require_version('Gdk', '3.0')
        from gi.repository import Gdk
        if getattr(self, '_gdk_display', None) is None:
            self._gdk_display = Gdk.Display.open(self.x.display)
            if self._gdk_display is None:
                raise LabError(f'GDK cannot open the X display {self.x.display}')
        root = self._gdk_display.get_default_screen().get_root_window()
        x, y, w, h = box
        pb = Gdk.pixbuf_get_from_window(root, x, y, w, h)
        if pb is None:
            raise LabError(f'GDK could not read {w}x{h}+{x}+{y} of the screen')
        data, stride, n = pb.get_pixels(), pb.get_rowstride(), pb.get_n_channels()
        return [tuple(data[r * stride + c * n:r * stride + c * n + 3])
                for r in range(h) for c in range(w)]

    def wait_drawn(self, rgb, what, timeout=5.0, minimum=20):
        '''Waits until the panel's area holds at least `minimum` pixels of
        colour rgb, grabbing it every 20 ms; returns the monotonic time of
        the first grab that did, and keeps a screenshot of the moment.'''
        box = self.bar_box
        tolerance = getattr(self, 'icon_tolerance', 24)
        last = [0]

        def look():
            started = time.monotonic()
            last[0] = self.count_colour(self.grab_pixels(box), rgb, tolerance)
            return last[0] >= minimum and started
        try:
            seen = wait_until(look, timeout, 0.02, what)
        except LabError as e:
            self.screenshot(what.replace(' ', '-'))
            raise LabError(f'{e}; {last[0]} pixels of {rgb} in the panel '
                           f'(screenshots in {self.dir})') from None
        self.screenshot(what.replace(' ', '-'))
        return seen

    def keep_screenshot(self, name):
        '''Copies the last screenshot to SEATGATE_SCREENSHOT_DIR, if set.'''
        target = os.environ.get('SEATGATE_SCREENSHOT_DIR')
        if target and self.shots:
            os.makedirs(target, exist_ok=True)
            shutil.copy(self.shots[-1], os.path.join(target, name))

    # --- logs -------------------------------------------------------------------
    def logs(self):
        out = {f'{p.name} ({"running" if p.running() else "exit " + str(p.proc.returncode)})':
               p.log() for p in self.processes}
        out['windows'] = '\n'.join(repr(w) for w in self.windows())
        return out

    def close(self):
        for p in reversed(self.processes):
            p.close()
        self.x.close()
        for target in self.unmount:
            subprocess.run(['umount', '-l', target], check=True)
        if getattr(self, 'mounted', None):
            # Lazily: the agents, stopped after the desktop, still map the
            # catalogue.
            subprocess.run(['umount', '-l', self.mounted], check=True)


def make_locale(directory, name):
    '''Compiles locale `name` (e.g. de_DE.UTF-8) from the `locales`
    package's sources into directory, for LOCPATH: a fresh machine has
    only C.UTF-8, and the host's locale set stays untouched.'''
    lang, charset = name.split('.')
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    if not os.path.isdir(path):
        out = subprocess.run(['localedef', '-i', lang, '-f', charset, path], capture_output=True,
                             text=True)
        # localedef exits 1 on mere warnings; the locale is there all the same.
        if not os.path.isfile(os.path.join(path, 'LC_MESSAGES', 'SYS_LC_MESSAGES')):
            raise LabError(f'localedef {name} failed: {out.stderr}')
    os.chmod(directory, 0o755)
    return directory


class NotifyCalls:
    '''The Notify calls made on a session bus while a `with` block ran
    (dbus-monitor): `actions` holds each call's action list, `text` the
    monitor's output for messages.'''

    def __init__(self):
        self.actions = []
        self.text = ''


@contextlib.contextmanager
def notify_calls(desk):
    seen = NotifyCalls()
    monitor = subprocess.Popen(['dbus-monitor', '--address', desk.bus.address,
                                "type='method_call',member='Notify'"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(0.3)  # the monitor's match rule in place
        yield seen
    finally:
        monitor.terminate()
        seen.text = monitor.communicate(timeout=5)[0]
        for block in re.split(r'\n(?=method call|signal|method return|error)', seen.text):
            if 'member=Notify' not in block.splitlines()[0]:
                continue
            m = re.search(r'array \[(.*?)\]', block, re.S)
            seen.actions.append(re.findall(r'string "([^"]*)"', m.group(1)) if m else [])
