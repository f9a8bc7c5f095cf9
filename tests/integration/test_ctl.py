"""irohds-ctl against real daemons in temp homes: every command in text and
--json form, the offline paths (key, usage, daemon not running), error
lines and exit codes, and up/down leaving nothing behind."""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, binary, make_home, serve  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)

CTL = binary("irohds-ctl")
ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
DAEMON_COMMANDS = [["status"], ["ping"], ["ping", "store"], ["ls"], ["stats"],
                   ["evict", "some.fn"], ["gc"], ["down"], ["cap"], ["fetches"]]


def ctl(home, *args, input=None, timeout=30):
    return subprocess.run([CTL, "--home", home] + list(args), capture_output=True,
                          text=True, input=input, timeout=timeout, env=env_for(home))


def ok_json(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


def one_line(text):
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def home():
    path = make_home()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    for d in serve(Daemon()):
        # `cap` needs the capability actor registered (at once, with the
        # suite's fixed profile).
        d.wait_ready(60.0, services=("cap",))
        yield d


def put(daemon, key, fn, content):
    client = daemon.client()
    try:
        status, frames = client.call("store", "put", extra=[content], key=key, src=0,
                                     codec="raw", fn=fn, ns="test")
        assert status == "OK", frames
    finally:
        client.close()


# ---------------------------------------------------------------- offline

def test_key_of_official_vectors(home, tmp_path):
    abc = tmp_path / "abc"
    abc.write_bytes(b"abc")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert ctl(home, "key", str(abc)).stdout == ABC + "\n"
    assert ctl(home, "key", str(empty)).stdout == EMPTY + "\n"
    r = ctl(home, "key", "-", input="abc")
    assert r.returncode == 0 and r.stdout.strip() == ABC
    doc = ok_json(ctl(home, "--json", "key", str(abc)))
    assert doc == {"file": str(abc), "size": 3, "key": ABC}
    # Option after the command works too.
    assert ok_json(ctl(home, "key", str(empty), "--json"))["key"] == EMPTY


def test_key_matches_b3sum_on_a_large_file(home, tmp_path):
    # Past one BLAKE3 chunk and past the hasher's read buffer.
    data = bytes((i * 7919) & 0xFF for i in range(3 * 1024 * 1024 + 17))
    path = tmp_path / "big"
    path.write_bytes(data)
    mine = ctl(home, "key", str(path)).stdout.strip()
    theirs = subprocess.run(["b3sum", "--no-names", str(path)], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert mine == theirs


def test_key_needs_no_home(tmp_path):
    # key must not resolve, create or need the home.
    missing = str(tmp_path / "nohome")
    f = tmp_path / "abc"
    f.write_bytes(b"abc")
    r = subprocess.run([CTL, "--home", missing, "key", str(f)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == ABC
    assert not os.path.exists(missing)


def test_key_errors(home, tmp_path):
    r = ctl(home, "key", str(tmp_path / "absent"))
    assert r.returncode == 1
    assert "absent" in one_line(r.stderr) and r.stdout == ""
    r = ctl(home, "key", str(tmp_path))          # a directory
    assert r.returncode == 1
    one_line(r.stderr)
    assert ctl(home, "key").returncode == 2
    assert ctl(home, "key", "a", "b").returncode == 2


def test_usage(home):
    for args in ([], ["nosuch"], ["--timeout", "x", "status"], ["--timeout"],
                 ["--home"], ["status", "extra"], ["evict"], ["evict", "--key", "zz"],
                 ["ls", "--limit", "-1"], ["ping", "Bad Name"]):
        r = ctl(home, *args) if args[:1] != ["--home"] else subprocess.run(
            [CTL] + args, capture_output=True, text=True, timeout=10, env=env_for(home))
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage: irohds-ctl" in r.stderr, args
        assert r.stdout == "", args
    r = ctl(home, "--help")
    assert r.returncode == 0 and "usage: irohds-ctl" in r.stdout and r.stderr == ""
    for name in ("status", "ls", "stats", "evict", "gc", "info", "key", "up", "down",
                 "ping", "cap"):
        assert "\n  " + name in r.stdout
    # The full help only on request: a usage error names the problem and
    # where to look.
    r = ctl(home, "nosuch")
    assert "irohds-ctl --help" in r.stderr and "\n  status" not in r.stderr


def check_not_running(home, args, why):
    for flags in ([], ["--json"]):
        start = time.monotonic()
        r = ctl(home, *(flags + args))
        elapsed = time.monotonic() - start
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        line = one_line(r.stderr)
        assert line.startswith("irohds-ctl: daemon not running (") and why in line, line
        # Says what to do, except to a command that wanted it stopped anyway.
        if args != ["down"]:
            assert "start it with `irohds-ctl --home %s up`" % home in line, line
        assert r.stdout == ""
        assert elapsed < 2.0, (args, elapsed)


def test_not_running_no_socket(home):
    for args in DAEMON_COMMANDS:
        check_not_running(home, args, "broker.ipc")
    # Asking must not create anything in the home.
    assert sorted(os.listdir(home)) == ["config.toml"]


@contextlib.contextmanager
def broker_socket(home, listen):
    """A unix socket where the home's broker would be, bound and then
    either listening (but never answering) or closed at once (stale)."""
    run = os.path.join(home, "run")
    os.mkdir(run, 0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.path.join(run, "broker.ipc"))
        if listen:
            sock.listen(8)
        else:
            sock.close()
        yield
    finally:
        sock.close()


def test_not_running_stale_socket(home):
    # A socket file left by a dead daemon: nobody accepts on it.
    with broker_socket(home, listen=False):
        for args in (["status"], ["ls"], ["down"]):
            check_not_running(home, args, "nobody listening")


def test_not_running_silent_listener(home):
    # Something accepts but never answers: the timeout decides.
    with broker_socket(home, listen=True):
        start = time.monotonic()
        r = ctl(home, "--timeout", "300", "status")
        assert r.returncode == 3
        assert "no answer on ipc://" in one_line(r.stderr)
        assert time.monotonic() - start < 2.0


# ------------------------------------------------------- against a daemon

def test_status(daemon):
    rows = ok_json(daemon.ctl("--json", "status"))
    assert isinstance(rows, list) and rows
    for row in rows:
        for key in ("name", "pid", "state", "uptime_ms", "restarts",
                    "last_heartbeat_ms", "rss_bytes"):
            assert key in row, row
        assert isinstance(row["pid"], int)
    names = [row["name"] for row in rows]
    assert any("store" in n for n in names), names
    text = daemon.ctl("status")
    assert text.returncode == 0 and text.stderr == ""
    header = text.stdout.splitlines()[0]
    assert "name" in header and "pid" in header and "state" in header
    assert len(text.stdout.splitlines()) == len(rows) + 1
    store_pid = [r["pid"] for r in rows if "store" in r["name"]][0]
    assert str(store_pid) in text.stdout


def test_ping(daemon):
    for service in ("sup", "store"):
        doc = ok_json(daemon.ctl("--json", "ping", service))
        assert doc["service"] == service
        assert doc["pid"] > 0 and "version" in doc and "rtt_us" in doc
        r = daemon.ctl("ping", service)
        assert r.returncode == 0 and r.stdout.startswith("pong from " + service)
    assert ok_json(daemon.ctl("--json", "ping"))["service"] == "sup"
    assert ok_json(daemon.ctl("--json", "ping"))["pid"] == daemon.proc.pid


def test_service_error_is_one_line(daemon):
    r = daemon.ctl("ping", "nosuch")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert one_line(r.stderr).startswith("irohds-ctl: nosuch: unknown-service:")
    assert r.stdout == ""
    r = daemon.ctl("--json", "ping", "nosuch")
    assert r.returncode == 1 and r.stdout == ""


def test_ls_evict_gc(daemon):
    key1, key2, key3 = bytes([1] * 32), bytes([2] * 32), bytes([3] * 32)
    put(daemon, key1, "tests.ctl.alpha", b"one")
    put(daemon, key2, "tests.ctl.alpha", b"two!")
    put(daemon, key3, "tests.ctl.beta", b"three")

    rows = ok_json(daemon.ctl("--json", "ls"))
    assert isinstance(rows, list)
    mine = {r["key"]: r for r in rows if r["fn"].startswith("tests.ctl.")}
    assert set(mine) == {key1.hex(), key2.hex(), key3.hex()}
    assert mine[key3.hex()]["size"] == 5 and mine[key3.hex()]["codec"] == "raw"
    for key in ("key", "fn", "size", "codec", "created_us", "accessed_us", "expires_us"):
        assert key in mine[key1.hex()]
    alpha = ok_json(daemon.ctl("--json", "ls", "tests.ctl.alpha"))
    assert sorted(r["key"] for r in alpha) == sorted([key1.hex(), key2.hex()])
    assert len(ok_json(daemon.ctl("--json", "ls", "--limit", "1"))) == 1
    text = daemon.ctl("ls", "tests.ctl.beta")
    assert text.returncode == 0 and key3.hex()[:12] in text.stdout

    doc = ok_json(daemon.ctl("--json", "evict", "tests.ctl.alpha"))
    assert doc["count"] == 2 and doc["bytes"] >= 7 and doc["fn"] == "tests.ctl.alpha"
    assert ok_json(daemon.ctl("--json", "ls", "tests.ctl.alpha")) == []
    r = daemon.ctl("evict", "--key", key3.hex())
    assert r.returncode == 0 and r.stdout.startswith("evicted 1 result ")
    assert ok_json(daemon.ctl("--json", "ls", "tests.ctl.beta")) == []

    doc = ok_json(daemon.ctl("--json", "gc"))
    assert set(doc) == {"expired", "blobs", "files", "bytes"}
    r = daemon.ctl("gc")
    assert r.returncode == 0 and r.stdout.startswith("gc: ")


def test_stats(daemon):
    doc = ok_json(daemon.ctl("--json", "stats"))
    assert isinstance(doc["store"], dict) and isinstance(doc["broker"], dict)
    assert doc["store"] and doc["broker"]
    assert all(isinstance(v, int) for v in doc["store"].values())
    assert all(isinstance(v, int) for v in doc["broker"].values())
    r = daemon.ctl("stats")
    assert r.returncode == 0 and "store:" in r.stdout and "broker:" in r.stdout
    # gossip's counters too (lookups, fetches), once gossip answers.
    daemon.wait_ready(services=("gossip",))
    doc = ok_json(daemon.ctl("--json", "stats"))
    assert isinstance(doc["gossip"], dict) and "lookups_no_candidate" in doc["gossip"]
    assert "gossip:" in daemon.ctl("stats").stdout


def test_fetches_without_transfers(daemon):
    assert ok_json(daemon.ctl("--json", "fetches")) == []
    r = daemon.ctl("fetches")
    assert r.returncode == 0 and r.stdout == "no transfers under way\n"
    r = daemon.ctl("fetches", "extra")
    assert r.returncode == 2 and "fetches takes no arguments" in r.stderr


def test_info(daemon):
    doc = ok_json(daemon.ctl("--json", "info"))
    local = doc["local"]
    assert local["home"] == os.path.realpath(daemon.home)
    assert local["endpoint"] == daemon.endpoint.replace(daemon.home, local["home"])
    assert local["daemon_pid"] == daemon.proc.pid
    assert local["daemon_running"] is True and local["home_exists"] is True
    assert local["store_file_bytes"] > 0
    for key in ("ctl_version", "daemon_version", "run", "store", "blobs", "config", "log"):
        assert local[key], key
    store = doc["store"]
    assert isinstance(store, dict) and store
    # Numbers are JSON numbers, text stays text.
    for key in ("map_size", "inline_max", "max_bytes", "format"):
        assert isinstance(store[key], int), (key, store[key])
    assert isinstance(store["version"], str) and isinstance(store["home"], str)
    r = daemon.ctl("info")
    assert r.returncode == 0 and daemon.home in r.stdout


def test_cap(daemon):
    # The suite's daemons use the fixed profile (tests/CMakeLists.txt);
    # measuring itself is tested in test_capability.py.
    daemon.wait_ready(timeout=30, services=("cap",))
    doc = ok_json(daemon.ctl("--json", "cap"))
    assert doc
    r = daemon.ctl("cap")
    assert r.returncode == 0 and r.stdout.strip()


def test_standalone_endpoint_reaches_the_daemon(daemon):
    # --endpoint overrides the home's broker (used for standalone actors).
    r = subprocess.run([CTL, "--home", "/nonexistent-irohds", "--endpoint", daemon.endpoint,
                        "--json", "ping", "store"], capture_output=True, text=True,
                       timeout=10, env=env_for(daemon.home))
    assert json.loads(r.stdout)["service"] == "store"


# ------------------------------------------------------------- up / down

def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def test_up_down_leave_nothing_behind(home):
    pids = set()
    try:
        doc = ok_json(ctl(home, "--json", "up", timeout=60))
        assert doc["started"] is True and doc["running"] is True
        daemon_pid = doc["pid"]
        pids.add(daemon_pid)
        assert pid_alive(daemon_pid)
        with open(os.path.join(home, "run", "irohds-daemon.pid")) as f:
            assert int(f.read().split()[0]) == daemon_pid
        pids.update(r["pid"] for r in ok_json(ctl(home, "--json", "status")) if r["pid"])
        # Once up, the store answers at once.
        assert ok_json(ctl(home, "--json", "ping", "store"))["service"] == "store"
        again = ctl(home, "up")
        assert again.returncode == 0 and "already running" in again.stdout

        r = ctl(home, "down", timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("irohds-daemon stopped (pid %d)" % daemon_pid)
        for pid in pids:
            assert not pid_alive(pid), pid
        assert not os.path.exists(os.path.join(home, "run", "broker.ipc"))
        leftovers = [n for n in os.listdir(os.path.join(home, "run")) if n.endswith(".ipc")]
        assert leftovers == []
        check_not_running(home, ["status"], "broker.ipc")
        r = ctl(home, "down")
        assert r.returncode == 3

        # And the text form, then --json down.
        r = ctl(home, "up", timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("irohds-daemon started (pid ")
        pids.update(x["pid"] for x in ok_json(ctl(home, "--json", "status")) if x["pid"])
        doc = ok_json(ctl(home, "--json", "down", timeout=30))
        assert doc["stopped"] is True
        for pid in pids:
            assert not pid_alive(pid), pid
    finally:
        for pid in pids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def daemons_of(home):
    """Pids of irohds-daemon processes running on home (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if (args and args[0].endswith(b"irohds-daemon") and home.encode() in args
                and pid_alive(int(name))):
            found.append(int(name))
    return found


def test_up_failure_leaves_no_daemon(home):
    """`up` that gives up (here: the store never answers, because the
    actor table has no store) stops the daemon it started: nothing of it
    remains when `up` exits non-zero."""
    env = env_for(home, IROHDS_ACTORS="echo:irohds-echo-actor:echo")
    try:
        r = subprocess.run([CTL, "--home", home, "up"], capture_output=True, text=True,
                           timeout=90, env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "store did not answer" in r.stderr, r.stderr
        assert "stopped the irohds-daemon it started (pid " in r.stderr, r.stderr
        assert daemons_of(home) == [], r.stderr
        assert not os.path.exists(os.path.join(home, "run", "broker.ipc"))
        check_not_running(home, ["status"], "broker.ipc")
    finally:
        for pid in daemons_of(home):
            os.kill(pid, signal.SIGKILL)


def test_up_failure_spares_a_daemon_it_did_not_start(home):
    """A daemon on the home that `up` did not start is never stopped by a
    failing `up`: here it is frozen (SIGSTOP), so `up` gets no answer,
    starts its own, which loses the home lock; `up` fails, and the frozen
    daemon (named in the pidfile) is left alone."""
    with Daemon(home) as d:
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            r = ctl(home, "up", timeout=60)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "already running" in r.stderr, r.stderr
        assert "stopped the irohds-daemon" not in r.stderr, r.stderr
        time.sleep(0.5)
        assert d.proc.poll() is None
        d.wait_ready(10.0)


def test_up_reports_pid_from_ping_without_pidfile(home):
    """The pidfile may be missing (a full disk when the daemon started):
    `up` reports the pid the supervisor answers, never "pid 0"."""
    with Daemon(home) as d:
        os.unlink(os.path.join(home, "run", "irohds-daemon.pid"))
        doc = ok_json(ctl(home, "--json", "up"))
        assert doc["started"] is False and doc["pid"] == d.proc.pid, doc
        r = ctl(home, "up")
        assert r.returncode == 0 and "(pid %d," % d.proc.pid in r.stdout, r.stdout


def test_up_fails_clearly_without_daemon_binary(home, tmp_path):
    # A copy of irohds-ctl alone, with no irohds-daemon beside it or on PATH.
    lonely = tmp_path / "irohds-ctl"
    shutil.copy(CTL, lonely)
    env = env_for(home)
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run([str(lonely), "--home", home, "up"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 1
    assert "irohds-daemon not found" in one_line(r.stderr)
