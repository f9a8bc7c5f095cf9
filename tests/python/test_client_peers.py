"""irohds.peers() and irohds.join() outside network namespaces: argument
checks (ValueError before any daemon is asked or started), the error of
peers() and the warning of join() when no daemon answers, and a lone real
daemon (LAN off): no peers, its own node refused as a bootstrap, an
unreachable bootstrap (loopback only) returning [] after the timeout.
Two-node behaviour is tests/cluster/test_python_peers.py."""
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings

import pytest

import irohds
from irohds import _log, _peers, _transport
from client_support import PYTHON, irohds_test, pin_home

NODE_ID = "ab" * 32


@pytest.fixture
def no_daemon(monkeypatch):
    """A home where no daemon runs, whose "daemon binary" only leaves a
    mark: a test sees whether the client tried to start one."""
    home = irohds_test.make_home()
    mark = os.path.join(home, "started")
    fake = os.path.join(home, "fake-daemon")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\ntouch '%s'\nexit 1\n" % mark)
    os.chmod(fake, 0o700)
    pin_home(monkeypatch, home)
    monkeypatch.setenv("IROHDS_DAEMON", fake)
    monkeypatch.setenv("IROHDS_TIMEOUT", "1")
    _log.reset()
    _log.counters.clear()
    _drop_transport()
    yield mark
    _drop_transport()
    shutil.rmtree(home, ignore_errors=True)


def _drop_transport():
    t = _transport._transport
    if t is not None:
        t.close()
        _transport._transport = None


BAD = [
    "198.18.0.1:47460#" + NODE_ID,                  # no scheme
    "udp://198.18.0.1:47460#" + NODE_ID,            # not tcp
    "tcp://198.18.0.1#" + NODE_ID,                  # no port
    "tcp://198.18.0.1:0#" + NODE_ID,                # port 0
    "tcp://198.18.0.1:65536#" + NODE_ID,            # port too big
    "tcp://198.18.0.1:123456#" + NODE_ID,           # six digits
    "tcp://198.18.0.1:4x#" + NODE_ID,               # not a number
    "tcp://:47460#" + NODE_ID,                      # no host
    "tcp://bad_host:47460#" + NODE_ID,              # '_' not allowed
    "tcp://[::1]:47460#" + NODE_ID,                 # no IPv6 literals
    "tcp://h\u00e9st:47460#" + NODE_ID,             # non-ASCII host
    "tcp://198.18.0.1:\u0664\u0667#" + NODE_ID,     # non-ASCII digits
    " tcp://198.18.0.1:47460#" + NODE_ID,           # stray space
    "tcp://" + "h" * 60 + ":47460#" + NODE_ID,      # address over 64 bytes
    "tcp://198.18.0.1:47460#",                      # empty node id
    "tcp://198.18.0.1:47460#" + NODE_ID.upper(),    # upper case
    "tcp://198.18.0.1:47460#" + NODE_ID[:-1],       # 63 characters
    "tcp://198.18.0.1:47460#" + NODE_ID + "0",      # 65 characters
    "tcp://198.18.0.1:47460#" + "g" * 64,           # not hex
    "",
]


@pytest.mark.parametrize("entry", BAD)
def test_bad_bootstrap_is_value_error_before_any_daemon(no_daemon, entry):
    with pytest.raises(ValueError, match="irohds.join"):
        irohds.join("lab", bootstrap=entry, timeout=0)
    # The same inside a list, after a good entry: nothing is sent first.
    with pytest.raises(ValueError, match="irohds.join"):
        irohds.join(bootstrap=["tcp://127.0.0.1:9#" + NODE_ID, entry], timeout=0)
    assert not os.path.exists(no_daemon), "a daemon start was tried"
    assert _transport._transport is None or not _transport._transport._start_tried


@pytest.mark.parametrize("kwargs", [
    {"bootstrap": b"tcp://127.0.0.1:9#" + NODE_ID.encode()},
    {"bootstrap": [None]},
    {"bootstrap": 47460},
    {"bootstrap": {"tcp://127.0.0.1:9#" + NODE_ID: 1}},
    {"timeout": -1}, {"timeout": float("nan")}, {"timeout": float("inf")},
    {"timeout": "10"}, {"timeout": True},
    {"ns": ""}, {"ns": 5}, {"ns": "x" * 256},
])
def test_bad_arguments_are_value_errors(no_daemon, kwargs):
    kwargs = dict(kwargs)
    ns = kwargs.pop("ns", "lab")
    with pytest.raises(ValueError, match="irohds.join"):
        irohds.join(ns, **kwargs)
    assert not os.path.exists(no_daemon)


def test_peers_without_daemon_raises_and_starts_none(no_daemon):
    start = time.monotonic()
    with pytest.raises(irohds.DaemonUnavailable, match="no irohds daemon answers") as info:
        irohds.peers()
    assert isinstance(info.value, ConnectionError)
    assert "irohds-ctl up" in str(info.value)
    assert time.monotonic() - start < 30        # a bound against hangs only
    assert not os.path.exists(no_daemon), "peers() must not start a daemon"


def test_join_without_daemon_warns_once_and_returns_empty(no_daemon):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert irohds.join("lab", bootstrap="tcp://127.0.0.1:9#" + NODE_ID, timeout=5) == []
        assert irohds.join("lab", timeout=5) == []
    # join tried to start the daemon (once per process), then degraded.
    assert os.path.exists(no_daemon)
    notes = [w for w in caught if issubclass(w.category, irohds.IrohdsWarning)]
    assert len(notes) == 1 and "not reachable" in str(notes[0].message)
    assert irohds.status()["client"]["daemon_down"] == 2
    # The namespace is recorded all the same (as join("ns") always did).
    assert "lab" in irohds.status()["namespaces"]


# ------------------------------------------------------------ real daemon

@pytest.fixture(scope="module")
def lone():
    yield from irohds_test.serve(irohds_test.Daemon())


@pytest.fixture
def at_lone(lone, monkeypatch):
    pin_home(monkeypatch, lone.home)
    _log.reset()
    _drop_transport()
    yield lone
    _drop_transport()


def _ctl_json(daemon, *args):
    proc = daemon.ctl("--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_lone_daemon_has_no_peers(at_lone):
    assert irohds.peers() == [] == _ctl_json(at_lone, "peers")
    start = time.monotonic()
    assert irohds.join("lab", timeout=0) == []
    assert time.monotonic() - start < 30
    assert "lab" in irohds.status()["namespaces"]
    # LAN off, no bootstrap given or configured: nothing can be found, so
    # join returns at once instead of sitting out its timeout.
    start = time.monotonic()
    assert irohds.join(timeout=60) == []
    assert time.monotonic() - start < 30


def test_bootstrap_without_node_id_is_accepted(at_lone):
    """tcp://HOST:PORT alone is trust on first use: join sends it to the
    daemon (which fetches the key from HOST:PORT+1); nobody answers here."""
    target = "tcp://127.0.0.1:%d" % _closed_port()
    assert irohds.join(bootstrap=target, timeout=0.5) == []


def test_join_self_is_refused_by_the_daemon(at_lone):
    me = _ctl_json(at_lone, "info")
    port = _ctl_json(at_lone, "peers", "--stats")["gossip"]["port"]
    own = "tcp://127.0.0.1:%d#%s" % (port, me["node_id"])
    with pytest.raises(ValueError, match="that is this node"):
        irohds.join(bootstrap=own, timeout=0)


def _closed_port():
    """A loopback TCP port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_bootstrap_returns_empty_after_timeout(at_lone, caplog):
    target = "tcp://127.0.0.1:%d#%s" % (_closed_port(), NODE_ID)
    caplog.set_level(logging.INFO, logger="irohds")
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert irohds.join("lab", bootstrap=[target, target], timeout=1.5) == []
    took = time.monotonic() - start
    assert not caught                           # a timeout is no degradation
    assert took >= 1.5                          # it waited for its timeout ...
    assert took < 60                            # ... and did not hang
    assert any("no peer alive after 1.5 s" in r.getMessage() for r in caplog.records)
    # The daemon took the join (the joined peer is not alive, so not listed
    # as alive; it may be listed as suspect or dead).
    assert not [p for p in irohds.peers() if p["state"] == "alive"]


def test_join_starts_the_daemon_and_its_timeout_counts_from_then():
    """A daemon binary that takes 3 s to start, a 3 s timeout, nobody to
    find: join waits its full timeout after the daemon answers (the start
    does not eat the time given to discovery), then returns []."""
    home = irohds_test.make_home()
    slow = os.path.join(home, "slow-daemon")
    with open(slow, "w") as f:
        f.write("#!/bin/sh\nsleep 3\nexec '%s' \"$@\"\n" % irohds_test.binary("irohds-daemon"))
    os.chmod(slow, 0o700)
    # An unreachable bootstrap: something to wait for.
    target = "tcp://127.0.0.1:%d#%s" % (_closed_port(), NODE_ID)
    code = ("import irohds, json, time; t = time.monotonic(); out = irohds.join('lab', "
            "bootstrap=%r, timeout=3); print(json.dumps([out, time.monotonic() - t, "
            "irohds.status()['daemon']]))" % target)
    try:
        proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120,
                              env=irohds_test.test_env(home, IROHDS_DAEMON=slow))
        assert proc.returncode == 0, proc.stderr
        out, took, running = json.loads(proc.stdout)
        assert out == [] and running
        assert took >= 6.0, took        # 3 s start + the whole 3 s timeout
    finally:
        irohds_test.stop_detached(home)
        shutil.rmtree(home, ignore_errors=True)


# -------------------------------------------------------------- conversion

def test_row_conversion_follows_ctl_rules():
    frames = [b"T1\tid:s\tname:s\taddress:s\tstate:s\trtt_us:u\tcpu_idle_ppm:u\tram_free:u\t"
              b"load1_milli:u\tgpu:s\tgpu_mem_free:u\tstatus:s\tresults:u\tversion:s\t"
              b"incarnation:u\tlast_seen_ms:u",
              ("%s\tn1\ttcp://198.18.0.2:47460\talive\t1234\t935001\t8589934592\t1250\t"
               "RTX\\t4090\t1073741824\tbusy\t7\t0.1.0\t3\t2500" % NODE_ID).encode(),
              b"cd\tn2\ttcp://198.18.0.3:47460\tsuspect\t0\t0\t0\t0\t\t5\tidle\t0\t\t0\t0"]
    first, second = _peers._peer_list(frames)
    assert first == {"id": NODE_ID, "name": "n1", "address": "tcp://198.18.0.2:47460",
                     "state": "alive", "rtt_ms": 1.234, "cpu_idle": 93.5001,
                     "ram_free": 8589934592, "gpu": {"model": "RTX\t4090",
                                                    "mem_free": 1073741824},
                     "status": "busy", "results": 7, "load": 1.25, "version": "0.1.0",
                     "last_seen_s": 2.5}
    assert list(first) == [key for key, _ in _peers.FIELDS]
    # Zero RTT and last-seen are "not yet": null; no GPU model: null.
    assert second["rtt_ms"] is None and second["last_seen_s"] is None
    assert second["gpu"] is None and second["cpu_idle"] == 0.0
    # A column the daemon did not send reads as 0 / "" (as irohds-ctl).
    assert _peers.peer_from_row({"id": "x"})["ram_free"] == 0
    assert _peers.peer_from_row({"id": "x"})["name"] == ""
    with pytest.raises(irohds.DaemonUnavailable, match="cannot be read"):
        _peers._peer_list([b"T1\tid:s", b"a\tb"])
