"""config.toml that is a FIFO, a directory, huge or binary, and values
that cannot work (issue 8 items 9, 10, 11): the daemon (foreground and
--detach) and irohds-ctl never block, run with the defaults, and the
problem is in the config error list (logged, counted in config_errors).
"""
import os
import subprocess
import time

import pytest

from faults import Daemon, binary, broker_stats, get, key_of, put, status, store_stats
from irohds_test import test_env as env_for


def config_path(d):
    return os.path.join(d.home, "config.toml")


def make_fifo(path):
    os.unlink(path)
    os.mkfifo(path)


def make_dir(path):
    os.unlink(path)
    os.mkdir(path)


def make_huge(path):
    with open(path, "wb") as f:
        f.write(b"# padding\n" * (300 * 1024))          # 3 MB of comments


def make_binary(path):
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * 64)


@pytest.mark.parametrize("make", [make_fifo, make_dir, make_huge, make_binary])
def test_hostile_config_file(make):
    d = Daemon()
    make(config_path(d))
    try:
        started = time.monotonic()
        d.start(timeout=15.0)
        assert time.monotonic() - started < 15.0
        c = d.client()
        try:
            assert broker_stats(c)["config_errors"] >= 1, d.read_log()
            assert status(c)["store"]["state"] == "running"
            assert put(c, key_of("k"), b"v")[0] == "OK"
            assert get(c, key_of("k")) == ("hit", b"v")
        finally:
            c.close()
        log = d.read_log()
        if make in (make_fifo, make_dir):
            assert "is not a regular file" in log, log
        if make is make_huge:
            assert "is larger than" in log, log
        # irohds-ctl reads the same file: it must not block either.
        r = d.ctl("status", timeout=20)
        assert r.returncode == 0, r.stderr
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def test_fifo_config_with_detach():
    d = Daemon()
    make_fifo(config_path(d))
    pid = None
    try:
        r = subprocess.run([binary("irohds-daemon"), "--home", d.home, "--detach"],
                           capture_output=True, text=True, timeout=30, env=env_for(d.home))
        assert r.returncode == 0, r.stderr
        with open(os.path.join(d.home, "run", "irohds-daemon.pid")) as f:
            pid = int(f.read())
        d.wait_ready(15.0)
        r = d.ctl("down", timeout=20)
        assert r.returncode == 0, r.stderr
        for _ in range(100):
            if not os.path.exists("/proc/%d" % pid):
                pid = None
                break
            time.sleep(0.1)
        assert pid is None, "daemon still running after down"
    finally:
        if pid is None:
            # Blocked or failed before we read it: the pidfile (written
            # before the config is read) names what we started.
            try:
                with open(os.path.join(d.home, "run", "irohds-daemon.pid")) as f:
                    pid = int(f.read())
            except (OSError, ValueError):
                pass
        if pid is not None and os.path.exists("/proc/%d" % pid):
            os.kill(pid, 9)
        d.cleanup()


def configured(text):
    d = Daemon()
    with open(config_path(d), "a") as f:
        f.write(text)
    return d


def test_values_that_cannot_work_fall_back():
    d = configured("[store]\nmap_initial = 1\nmap_size = 100\ninline_max = 1 TiB\n"
                   "sync_interval = 30d\n[broker]\nmax_message = 1\n")
    try:
        d.start()
        c = d.client()
        try:
            # Every value out of range is one config problem, default used.
            log = d.read_log()
            for text in ("store.map_initial = 1 is out of range",
                         "store.map_size = 100 is out of range",
                         "store.inline_max = 1099511627776 is out of range",
                         "store.sync_interval = 2592000000 ms is out of range",
                         "broker.max_message = 1 is out of range"):
                assert text in log, (text, log)
            assert broker_stats(c)["config_errors"] >= 1
            # The store opened at once, never restarted, and works.
            row = status(c)["store"]
            assert row["state"] == "running" and row["restarts"] == 0, row
            big = os.urandom(200000)
            assert put(c, key_of("big"), big)[0] == "OK"
            assert get(c, key_of("big")) == ("hit", big)
            assert store_stats(c)["map_full"] == 0
        finally:
            c.close()
        # The broker takes its own control messages: down works.
        r = d.ctl("down", timeout=20)
        assert r.returncode == 0, r.stderr
        d.proc.wait(10)
    finally:
        d.cleanup()


def test_node_name_and_peer_keys():
    """The peer keys are known (no "unknown key" warning); a node.name with
    a control character is one config problem (logged, counted, shown by
    irohds-ctl) and the daemon runs on."""
    d = configured('[node]\nname = "bad\\tname"\n'
                   '[peers]\nlisten = "tcp://*:47460"\n'
                   'bootstrap = ["tcp://198.18.0.2:47460"]\n')
    try:
        d.start()
        r = d.ctl("status", timeout=20)
        assert r.returncode == 0, r.stderr
        assert "unknown key" not in r.stderr, r.stderr
        assert r.stderr.count("node.name must be 1 to 64 bytes of printable UTF-8") == 1, \
            r.stderr
        c = d.client()
        try:
            assert broker_stats(c)["config_errors"] == 1, d.read_log()
        finally:
            c.close()
        assert "node.name must be" in d.read_log()
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()
