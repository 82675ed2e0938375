'''org.kde.StatusNotifierWatcher stand-in for seatgate's agent tests
(a python-dbusmock template, session bus).

Behaves as KDE's and the haskell status-notifier-watcher do for an item:

- RegisterStatusNotifierItem(s service): a bus name, or an object path
  (then the item is sender + path); the item is listed in
  RegisteredStatusNotifierItems and StatusNotifierItemRegistered is sent.
  An item whose bus name leaves the bus is dropped, with
  StatusNotifierItemUnregistered.
- RegisterStatusNotifierHost(s service) and the property
  IsStatusNotifierHostRegistered (parameter "host", default true).
- DropItem, below: what GNOME's AppIndicator extension's watcher does
  when it destroys an indicator whose name is still on the bus.

Control methods for tests (org.freedesktop.DBus.Mock on /StatusNotifierWatcher):

  SetHostRegistered(b)   flips IsStatusNotifierHostRegistered and sends
                         StatusNotifierHostRegistered / ...Unregistered
  GetRegistrations() -> a(ss)   every registration so far: (sender, argument)
  DropItem(s item)       the item unlisted and StatusNotifierItemUnregistered
                         sent for it, its name still on the bus: as
                         gnome-shell-extension-appindicator's
                         statusNotifierWatcher.js _onIndicatorDestroyed does
                         after appIndicator.js _setupProxy failed
'''

import dbus

from dbusmock import MOCK_IFACE

BUS_NAME = 'org.kde.StatusNotifierWatcher'
MAIN_OBJ = '/StatusNotifierWatcher'
MAIN_IFACE = 'org.kde.StatusNotifierWatcher'
SYSTEM_BUS = False


def _set_items(mock):
    mock.UpdateProperties(MAIN_IFACE, {
        'RegisteredStatusNotifierItems': dbus.Array(mock.sni_items, signature='s')})


def _name_owner_changed(mock, name, old, new):
    if new:
        return
    gone = [i for i in mock.sni_items if i == name or i.startswith(name + '/')]
    for item in gone:
        mock.sni_items.remove(item)
        mock.EmitSignal(MAIN_IFACE, 'StatusNotifierItemUnregistered', 's', [item])
    if gone:
        _set_items(mock)


def load(mock, parameters):
    mock.sni_items = []
    mock.sni_registrations = []
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary({
        'RegisteredStatusNotifierItems': dbus.Array([], signature='s'),
        'IsStatusNotifierHostRegistered': dbus.Boolean(parameters.get('host', True)),
        'ProtocolVersion': dbus.Int32(0),
    }, signature='sv'))
    mock.connection.add_signal_receiver(
        lambda name, old, new: _name_owner_changed(mock, name, old, new),
        signal_name='NameOwnerChanged', dbus_interface='org.freedesktop.DBus',
        bus_name='org.freedesktop.DBus', path='/org/freedesktop/DBus')


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='', sender_keyword='sender')
def RegisterStatusNotifierItem(self, service, sender=None):
    self.sni_registrations.append((str(sender), str(service)))
    item = sender + service if service.startswith('/') else str(service)
    if item not in self.sni_items:
        self.sni_items.append(item)
        _set_items(self)
    self.EmitSignal(MAIN_IFACE, 'StatusNotifierItemRegistered', 's', [item])


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='')
def RegisterStatusNotifierHost(self, service):
    self.SetHostRegistered(True)


@dbus.service.method(MOCK_IFACE, in_signature='b', out_signature='')
def SetHostRegistered(self, registered):
    self.UpdateProperties(MAIN_IFACE, {'IsStatusNotifierHostRegistered': dbus.Boolean(registered)})
    self.EmitSignal(MAIN_IFACE, 'StatusNotifierHostRegistered' if registered
                    else 'StatusNotifierHostUnregistered', '', [])


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='a(ss)')
def GetRegistrations(self):
    return dbus.Array(self.sni_registrations, signature='(ss)')


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='')
def DropItem(self, item):
    # statusNotifierWatcher.js _onIndicatorDestroyed: only an indicator it
    # holds is destroyed, so only a listed item is dropped and announced.
    if item not in self.sni_items:
        raise dbus.exceptions.DBusException(f'{item} is not registered',
                                            name='org.freedesktop.DBus.Error.InvalidArgs')
    self.sni_items.remove(item)
    _set_items(self)
    self.EmitSignal(MAIN_IFACE, 'StatusNotifierItemUnregistered', 's', [item])
