"""Fixtures shared by the client suites: a real daemon in a temp home
(function scope; a suite may override it with its own), a side-effect
counter file in that home, and this pytest process's client pointed at it
with its back-off and one-time notices reset."""
import os

import pytest

from client_support import irohds_test, pin_home
from irohds import _daemon, _log, _transport

@pytest.fixture
def daemon():
    yield from irohds_test.serve(irohds_test.Daemon())


@pytest.fixture
def counter(daemon):
    return os.path.join(daemon.home, "count.txt")


@pytest.fixture
def here(daemon, monkeypatch):
    """Point this pytest process's client at the daemon's home."""
    pin_home(monkeypatch, daemon.home)
    _daemon.state().down_until = 0.0
    _daemon.state().backoff = 0.0
    _log.reset()
    yield daemon
    t = _transport._transport
    if t is not None:
        t.close()
        _transport._transport = None
