'''The lab's logind stand-in (tests/lab/logind_mock.py, unchanged) with one
addition for the benchmark: the CLOCK_MONOTONIC time at which it emitted each
signal, taken just before the message goes to the bus, so that a revoke's
latency is counted from logind's PropertiesChanged itself.

Extra control method (org.freedesktop.DBus.Mock on /org/freedesktop/login1):
  BenchTakeEmitted() -> a(tss)   (ns, object path, member) of the signals
                                 emitted since the last call
'''

import importlib.util
import os
import time

import dbus
import dbus.service

_BASE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'lab',
                          'logind_mock.py')
_spec = importlib.util.spec_from_file_location('seatgate_logind_mock', _BASE_PATH)
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)

# Everything the stand-in offers (its constants, D-Bus methods and load()).
globals().update({k: v for k, v in vars(_base).items() if not k.startswith('__')})

_EMITTED = []
_base_send_signal = _base._send_signal


def _timed_send_signal(obj, iface, member, signature, *args):
    _EMITTED.append((time.monotonic_ns(), str(obj.path), member))
    _base_send_signal(obj, iface, member, signature, *args)


# The stand-in's own functions look _send_signal up in their module.
_base._send_signal = _timed_send_signal


@dbus.service.method(_base.MOCK_IFACE, in_signature='', out_signature='a(tss)')
def BenchTakeEmitted(self):
    out = [(dbus.UInt64(t), path, member) for t, path, member in _EMITTED]
    _EMITTED.clear()
    return dbus.Array(out, signature='(tss)')
