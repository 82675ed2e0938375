'''The lab's logind stand-in (tests/lab/logind_mock.py), with its seats and
sessions already there when it answers its first call: like a restarted
systemd-logind, which reads its state from /run before its event loop
answers anyone.

Parameters (dbusmock -p JSON): {"seats": [id...], "sessions": [{"id", "uid",
and AddSession's options: "seat", "remote", "class", "type", "active", ...}]}.
'''

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))

import logind_mock  # noqa: E402
from logind_mock import *  # noqa: E402,F401,F403  (the template's methods)


def load(mock, parameters):
    logind_mock.load(mock, parameters)
    for seat in parameters.get('seats', []):
        mock.sg.add_seat(str(seat))
    for session in parameters.get('sessions', []):
        options = {k: v for k, v in session.items() if k not in ('id', 'uid')}
        mock.sg.add_session(str(session['id']), int(session['uid']), options)
