"""irohds-daemon as a supervisor: lifecycle, the home lock, --detach,
restarts with backoff and a restart budget, hung-actor detection.

Most tests run the daemon with IROHDS_ACTORS pointing at the echo test
actor (supervisor/echo_actor.c), so they exercise the supervisor and not
the store; test_default_table runs the real actor table.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test  # noqa: E402
from irohds_test import Client, Daemon, binary, make_home, serve  # noqa: E402
from irohds._transport import parse_table as table  # noqa: E402

test_env = irohds_test.test_env
test_env.__test__ = False

ECHO = "echo:irohds-echo-actor:echo"


class EchoDaemon(Daemon):
    """A Daemon whose actor table comes from IROHDS_ACTORS."""

    def __init__(self, actors=ECHO, **kw):
        super().__init__(**kw)
        self.actors = actors

    def start(self, timeout=10.0, services=("sup", "echo")):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [binary("irohds-daemon"), "--home", self.home, "-v"] + self.args,
            stdout=logf, stderr=subprocess.STDOUT,
            env=test_env(self.home, IROHDS_ACTORS=self.actors))
        logf.close()
        self.wait_ready(timeout, services=services)
        return self


def status(client):
    st, frames = client.call("sup", "status")
    assert st == "OK"
    return {row["name"]: row for row in table(frames)}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purposes: check /proc state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


@pytest.fixture
def daemon():
    yield from serve(EchoDaemon())


def assert_clean_exit(d, pids, started):
    assert d.proc.wait(5) == 0
    assert time.monotonic() - started < 5
    for pid in pids:
        assert wait_for(lambda: not alive(pid), 2), "pid %d survived" % pid
    run = os.path.join(d.home, "run")
    assert not os.path.exists(os.path.join(run, "broker.ipc"))
    assert not os.path.exists(os.path.join(run, "irohds-daemon.pid"))


def test_status_and_sigterm(daemon):
    c = daemon.client()
    try:
        rows = status(c)
    finally:
        c.close()
    assert rows["supervisor"]["state"] == "running"
    assert int(rows["supervisor"]["pid"]) == daemon.proc.pid
    echo = rows["echo"]
    assert echo["state"] == "running" and int(echo["pid"]) > 0
    assert int(echo["rss_bytes"]) > 0
    assert int(echo["last_heartbeat_ms"]) < 3000
    pids = [daemon.proc.pid, int(echo["pid"])]
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert_clean_exit(daemon, pids, started)


def test_down(daemon):
    c = daemon.client()
    try:
        pids = [daemon.proc.pid, int(status(c)["echo"]["pid"])]
        started = time.monotonic()
        st, frames = c.call("sup", "down")
        assert st == "OK" and frames[0][0] == 1      # message "ok" (common.def)
    finally:
        c.close()
    assert_clean_exit(daemon, pids, started)


def test_second_daemon_refused(daemon):
    r = subprocess.run([binary("irohds-daemon"), "--home", daemon.home],
                       capture_output=True, text=True, timeout=10,
                       env=test_env(daemon.home, IROHDS_ACTORS=ECHO))
    assert r.returncode != 0
    assert "already running" in r.stderr and str(daemon.proc.pid) in r.stderr
    # The first one is untouched.
    c = daemon.client()
    try:
        assert c.call("sup", "ping")[0] == "OK"
    finally:
        c.close()


def test_detach():
    home = make_home()
    pid = None
    try:
        r = subprocess.run([binary("irohds-daemon"), "--home", home, "--detach"],
                           capture_output=True, text=True, timeout=15,
                           env=test_env(home, IROHDS_ACTORS=ECHO))
        assert r.returncode == 0, r.stderr
        with open(os.path.join(home, "run", "irohds-daemon.pid")) as f:
            pid = int(f.read())
        assert alive(pid)
        # It answers right away: the parent returned only once it did.
        c = Client("ipc://%s/run/broker.ipc" % home)
        try:
            assert c.call("sup", "ping", timeout=2)[0] == "OK"
        finally:
            c.close()
        with open(os.path.join(home, "irohds.log")) as f:
            assert "broker listening" in f.read()
        # A second --detach on the same home fails with the reason.
        r = subprocess.run([binary("irohds-daemon"), "--home", home, "--detach"],
                           capture_output=True, text=True, timeout=15,
                           env=test_env(home, IROHDS_ACTORS=ECHO))
        assert r.returncode != 0 and "already running" in r.stderr
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not alive(pid), 5)
        assert not os.path.exists(os.path.join(home, "run", "broker.ipc"))
        pid = None
    finally:
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
        import shutil
        shutil.rmtree(home, ignore_errors=True)


def echo_back(c, old_pid, timeout):
    """Wait until echo runs with a pid other than old_pid and answers."""
    def ready():
        row = status(c)["echo"]
        if row["state"] == "running" and int(row["pid"]) not in (0, old_pid):
            if c.call("echo", "ping", timeout=1)[0] == "OK":
                return row
        return None
    return wait_for(ready, timeout)


def configured_daemon(config):
    """An EchoDaemon whose config.toml also holds `config`."""
    d = EchoDaemon()
    with open(os.path.join(d.home, "config.toml"), "a") as f:
        f.write(config)
    return d


def broker_stats(c):
    st, frames = c.call("sup", "broker_stats")
    assert st == "OK"
    return {r["name"]: int(r["value"]) for r in table(frames)}


def kill_until_failed(c, kills, back_within):
    """SIGKILL echo `kills` times, each time (but the last) waiting until it
    is back; returns the status row once it is failed (or whatever it is)."""
    pid = int(status(c)["echo"]["pid"])
    for i in range(kills):
        os.kill(pid, signal.SIGKILL)
        if i < kills - 1:
            row = echo_back(c, pid, back_within)
            assert row, "restart %d did not happen" % (i + 1)
            pid = int(row["pid"])
    return wait_for(lambda: status(c)["echo"]["state"] == "failed" and status(c)["echo"],
                    3.0) or status(c)["echo"]


def test_restart_after_kill(daemon):
    c = daemon.client()
    try:
        old = int(status(c)["echo"]["pid"])
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        row = echo_back(c, old, 2.0)
        assert row, "echo not back within 2 s"
        assert time.monotonic() - killed < 2.0
        assert int(row["restarts"]) == 1
    finally:
        c.close()


def test_failed_after_too_many_restarts(daemon):
    c = daemon.client()
    try:
        row = kill_until_failed(c, 6, 8.0)
        assert row and row["state"] == "failed" and int(row["restarts"]) == 5
        # The rest keeps serving; requests for the failed service fail fast.
        assert c.call("sup", "ping")[0] == "OK"
        started = time.monotonic()
        st, frames = c.call("echo", "ping", timeout=2)
        assert st == "ERR" and frames[0] == b"actor-down"
        assert time.monotonic() - started < 1.0
        time.sleep(0.5)
        assert status(c)["echo"]["state"] == "failed"
    finally:
        c.close()


def test_configured_restart_max():
    """supervisor.restart_max = 2: the 3rd fast death marks echo failed."""
    d = configured_daemon("[supervisor]\nrestart_max = 2\nrestart_window = 60s\n"
                          "backoff_min = 50ms\nbackoff_max = 1s\nstable_after = 10s\n")
    try:
        d.start()
        c = d.client()
        try:
            assert broker_stats(c).get("config_errors", 0) == 0, d.read_log()
            row = kill_until_failed(c, 3, 4.0)
            assert row["state"] == "failed" and int(row["restarts"]) == 2, row
            st, frames = c.call("echo", "ping", timeout=2)
            assert st == "ERR" and frames[0] == b"actor-down"
        finally:
            c.close()
    finally:
        try:
            d.stop()
        finally:
            log = d.read_log()
            d.cleanup()
    assert "unknown key" not in log
    assert "2 restarts within 60000 ms, marked failed" in log


def test_bad_restart_policy_uses_defaults():
    """Nonsense values are config problems (logged, counted) and the
    defaults apply: 5 restarts allowed, first backoff 100 ms (not 10 s)."""
    d = configured_daemon("[supervisor]\nrestart_max = 0\n"
                          "backoff_min = 10s\nbackoff_max = 1s\n"
                          "stable_after = \"soon\"\n")
    try:
        d.start()
        c = d.client()
        try:
            # restart_max out of range, min > max, stable_after not an integer
            assert broker_stats(c)["config_errors"] == 3, d.read_log()
            log = d.read_log()
            assert "supervisor.restart_max = 0 is out of range" in log
            assert "supervisor.backoff_min (10000 ms) is larger than" in log
            assert "supervisor.stable_after should be an integer" in log
            # Backoff is the default 100 ms doubling: back well before 10 s.
            pid = int(status(c)["echo"]["pid"])
            os.kill(pid, signal.SIGKILL)
            started = time.monotonic()
            row = echo_back(c, pid, 2.0)
            assert row and time.monotonic() - started < 2.0, "not back within 2 s"
            # Default restart_max = 5: four more deaths are restarted ...
            for i in range(4):
                pid = int(row["pid"])
                os.kill(pid, signal.SIGKILL)
                row = echo_back(c, pid, 8.0)
                assert row, "restart %d did not happen:\n%s" % (i + 2, d.read_log())
            assert int(row["restarts"]) == 5
            # ... and the 6th marks it failed.
            row = kill_until_failed(c, 1, 8.0)
            assert row["state"] == "failed" and int(row["restarts"]) == 5, row
        finally:
            c.close()
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def test_hung_actor_replaced(daemon):
    c = daemon.client()
    try:
        old = int(status(c)["echo"]["pid"])
        os.kill(old, signal.SIGSTOP)
        row = echo_back(c, old, 10.0)
        assert row, "hung actor not replaced"
        assert wait_for(lambda: not alive(old), 2)
        stats = broker_stats(c)
        assert stats["actors_killed"] >= 1 and stats["workers_expired"] >= 1
    finally:
        c.close()


def test_paused_daemon_keeps_its_actors(daemon):
    """SIGSTOP of the whole daemon (what a suspended laptop or `kill -STOP`
    does) for longer than the heartbeat liveness, then SIGCONT: the
    supervisor and the actors must see that *they* were not running, not
    that the others went silent. Before the fix every actor was killed and
    restarted (a gossip actor then came back with an empty membership)."""
    c = daemon.client()
    try:
        old = int(status(c)["echo"]["pid"])
        pids = [daemon.proc.pid, old]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(4.5)             # liveness is 3 heartbeats of 1 s
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        # The first call after the resume is answered by the same actor.
        assert c.call("echo", "ping", timeout=5)[0] == "OK"
        time.sleep(1.5)                 # a few supervisor and worker ticks
        row = status(c)["echo"]
        assert int(row["pid"]) == old and row["state"] == "running"
        assert int(row["restarts"]) == 0
        stats = broker_stats(c)
        assert stats.get("actors_killed", 0) == 0 and stats["workers_expired"] == 0
        assert stats["stalls_pardoned"] >= 1
        assert c.call("echo", "ping", timeout=5)[0] == "OK"
    finally:
        c.close()


def test_bad_actor_table():
    home = make_home()
    try:
        r = subprocess.run([binary("irohds-daemon"), "--home", home], capture_output=True,
                           text=True, timeout=10,
                           env=test_env(home, IROHDS_ACTORS="nonsense"))
        assert r.returncode != 0 and "IROHDS_ACTORS" in r.stderr
    finally:
        import shutil
        shutil.rmtree(home, ignore_errors=True)


def test_missing_actor_binary_is_absent():
    d = EchoDaemon(actors=ECHO + ",ghost:irohds-no-such-actor:ghost")
    try:
        d.start()
        c = d.client()
        try:
            # "running" follows the echo actor's registration, which a
            # loaded machine may take a moment to see.
            assert wait_for(lambda: status(c)["echo"]["state"] == "running", 10)
            rows = status(c)
            assert rows["ghost"]["state"] == "absent"
            st, frames = c.call("ghost", "ping", timeout=2)
            assert st == "ERR" and frames[0] == b"actor-down"
        finally:
            c.close()
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


@pytest.mark.skipif(not os.path.exists(binary("irohds-store")),
                    reason="irohds-store not built in this tree")
def test_default_table():
    with Daemon() as d:
        c = d.client()
        try:
            rows = status(c)
            assert rows["store"]["state"] == "running"
            assert rows["capability"]["state"] in ("running", "starting", "absent")
        finally:
            c.close()
