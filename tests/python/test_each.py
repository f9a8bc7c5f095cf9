"""irohds.each / run_once / notify_* / each_status and `irohds-ctl each`
(docs/run-once.md) against a real daemon, with real worker processes
(each_worker.py) that log every key they start and finish."""
import collections
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from client_support import PYTHON, HERE, irohds_test, pin_home, worker_env
import irohds
from irohds import _daemon, _log, _transport

WORKER = os.path.join(HERE, "each_worker.py")
KEYS = ["task-%04d" % i for i in range(2000)]


def start(daemon, out, **opts):
    opts.setdefault("out", out)
    return subprocess.Popen([PYTHON, WORKER, json.dumps(opts)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=worker_env(daemon.home, out + ".count"))


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (proc.returncode, out, err)
    return json.loads(out.strip().splitlines()[-1])


def lines(paths, kind):
    got = collections.Counter()
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    k, _, key = line.strip().partition(" ")
                    if k == kind:
                        got[key] += 1
    return got


def ctl_json(daemon, *args):
    r = daemon.ctl("--json", "each", *args, check=True)
    return json.loads(r.stdout)


def store_stat(daemon, name):
    c = daemon.client()
    try:
        status, frames = c.call("store", "stats")
    finally:
        c.close()
    assert status == "OK", frames
    rows = _transport.parse_table(frames)
    return {r["name"]: r["value"] for r in rows}[name]


# ---------------------------------------------------------------- many processes

def test_four_processes_2000_keys_each_once(daemon, tmp_path):
    outs = [str(tmp_path / ("w%d" % i)) for i in range(4)]
    go = str(tmp_path / "go")
    procs = [start(daemon, o, ns="four", n=2000, go=go) for o in outs]
    time.sleep(1.0)                     # imports done; all four wait for go
    open(go, "w").close()
    results = [finish(p) for p in procs]
    ends = lines(outs, "end")
    assert sorted(ends) == KEYS                       # no key skipped
    assert set(ends.values()) == {1}                  # none run twice
    assert sum(r["ran"] for r in results) == 2000
    assert sum(1 for r in results if r["ran"] > 0) >= 2     # the work was shared
    c = ctl_json(daemon, "four")
    assert (c["known"], c["done"], c["running"], c["pending"]) == (2000, 2000, 0, 0)
    assert c["holders"] == []


def test_rerun_redoes_nothing_with_few_requests(daemon, tmp_path):
    out = str(tmp_path / "w")
    assert finish(start(daemon, out, ns="rerun", n=2000))["ran"] == 2000
    before = store_stat(daemon, "each_requests")
    again = finish(start(daemon, out + "2", ns="rerun", n=2000))
    assert again["ran"] == 0 and lines([out + "2"], "start") == {}
    # One each_pass per 4000 keys and one each_claim per window of up to
    # 16384 (windows grow 1024, 4096, ...): a handful of requests, not 2000.
    assert again["client"]["each_requests"] <= 4
    assert store_stat(daemon, "each_requests") - before <= 3


def test_alone_node_asks_gossip_rarely_and_the_store_decides(daemon, tmp_path):
    # No peers: gossip answers "alone" and the pass asks the store itself
    # for a second at a time, so the first request goes to gossip and
    # nearly all the others to the store (one gossip request per second).
    out = str(tmp_path / "w")
    got = finish(start(daemon, out, ns="alone", n=2000))
    c = got["client"]
    assert got["ran"] == 2000 and c.get("claims_gossip_errors", 0) == 0, c
    assert c.get("claims_remote", 0) >= 1, c              # gossip was asked, answered
    assert c["claims_remote"] * 20 < c["each_requests"], c
    c = ctl_json(daemon, "alone")
    assert (c["known"], c["done"], c["running"], c["pending"]) == (2000, 2000, 0, 0)


def held_key(proc, out):
    """The key worker proc holds while it hangs in its loop body (it writes
    the key to out.hang, then sleeps); fails if proc ends first."""
    deadline = time.monotonic() + 60
    while not os.path.exists(out + ".hang"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    with open(out + ".hang") as f:
        return f.read().strip()


def test_kill9_holder_key_handed_out_again(daemon, tmp_path):
    victim = str(tmp_path / "victim")
    others = [str(tmp_path / ("o%d" % i)) for i in range(2)]
    v = start(daemon, victim, ns="kill", n=300, hang_after=5, timeout=600)
    held = held_key(v, victim)
    # Others start while the victim holds `held` (lease 600 s): they skip it.
    procs = [start(daemon, o, ns="kill", n=300, sleep=0.002, wait=True) for o in others]
    time.sleep(0.3)
    assert irohds_each_state(daemon, "kill", held) == "running"
    os.kill(v.pid, signal.SIGKILL)
    v.wait()
    for p in procs:
        finish(p)
    ends = lines(others + [victim], "end")
    assert sorted(ends) == ["task-%04d" % i for i in range(300)]
    assert set(ends.values()) == {1}                        # no duplicates
    assert lines(others, "end")[held] == 1                  # finished by another
    assert lines([victim], "start")[held] == 1
    assert store_stat(daemon, "claims_dead") >= 1


def test_stopped_holder_loses_key_after_its_lease(daemon, tmp_path):
    # A holder that lives but stops renewing (SIGSTOP) keeps the key only
    # for its lease: then the waiting pass takes it over.
    victim = str(tmp_path / "victim")
    v = start(daemon, victim, ns="lease", n=20, hang_after=0, timeout=3)
    try:
        held = held_key(v, victim)
        time.sleep(3.5)                     # renewed while it runs: still held
        assert irohds_each_state(daemon, "lease", held) == "running"
        os.kill(v.pid, signal.SIGSTOP)
        other = str(tmp_path / "other")
        r = finish(start(daemon, other, ns="lease", n=20, wait=True))
        assert r["ran"] == 20                 # the held key and the 19 others
        assert lines([other], "end")[held] == 1
        assert sorted(lines([other, victim], "end")) == ["task-%04d" % i for i in range(20)]
    finally:
        os.kill(v.pid, signal.SIGKILL)
        v.wait()


def irohds_each_state(daemon, ns, key):
    rows = ctl_json(daemon, ns, "--keys")
    return {r["name"]: r["state"] for r in rows}[key]


# ---------------------------------------------------------------- in this process

def test_raise_and_break_release_at_once(here):
    class Boom(Exception):
        pass
    with pytest.raises(Boom):
        for key in irohds.each(["r1", "r2"], ns="rel", timeout=600):
            raise Boom()
    # Another pass (another holder; this process lives) gets r1 at once,
    # not after the 600 s lease.
    got = []
    for key in irohds.each(["r1"], ns="rel", timeout=600):
        got.append(key)
        break
    assert got == ["r1"]
    assert irohds.each_status(["r1", "r2"], ns="rel") == {
        "r1": irohds.State.PENDING, "r2": irohds.State.PENDING}
    assert list(irohds.each(["r1", "r2"], ns="rel")) == ["r1", "r2"]
    assert set(irohds.each_status(["r1", "r2"], ns="rel").values()) == {irohds.State.DONE}


def test_held_key_is_skipped_until_released(here):
    it = irohds.each(["h1", "h2"], ns="held", timeout=600)
    assert next(it) == "h1"                               # claimed, body running
    assert irohds.each_status(["h1"], ns="held")["h1"] is irohds.State.RUNNING
    assert list(irohds.each(["h1", "h2"], ns="held")) == ["h2"]      # h1 skipped
    it.close()                                            # like a break
    assert list(irohds.each(["h1", "h2"], ns="held")) == ["h1"]
    c = ctl_json(here, "held")
    assert (c["known"], c["done"], c["running"], c["pending"]) == (2, 2, 0, 0)


def test_notify_success_and_failure(here):
    with pytest.raises(RuntimeError):
        for key in irohds.each(["n1"], ns="nt"):
            irohds.notify_success(key)
            raise RuntimeError("after success: stays done")
    for key in irohds.each(["n2"], ns="nt"):
        irohds.notify_failure(key)          # released now, not done afterwards
        assert irohds.each_status(["n2"], ns="nt")["n2"] is irohds.State.PENDING
    st = irohds.each_status(["n1", "n2"], ns="nt")
    assert st == {"n1": irohds.State.DONE, "n2": irohds.State.PENDING}
    irohds.notify_success("n3", ns="nt")              # outside a pass: with ns
    assert irohds.each_status(["n3"], ns="nt")["n3"] is irohds.State.DONE
    with pytest.raises(ValueError):
        irohds.notify_success("n4")
    with pytest.raises(ValueError):
        irohds.notify_failure("n4")


def test_run_once_statuses(here):
    calls = []

    def job(key, fail=False):
        @irohds.run_once(key, ns="ro", timeout=30, version=1)
        def work():
            calls.append(key)
            if fail:
                raise ValueError("bad " + key)
            return key.upper()
        return work()

    assert job("a") == (irohds.Status.COMPUTE_OK, "A")
    assert job("a") == (irohds.Status.SKIP_OK, None)
    status, exc = job("b", fail=True)
    assert status is irohds.Status.COMPUTE_ERROR and isinstance(exc, ValueError)
    assert job("b") == (irohds.Status.COMPUTE_OK, "B")           # released: runs again
    it = irohds.each(["c"], ns="ro", version=1)
    assert next(it) == "c"
    assert job("c") == (irohds.Status.SKIP_IN_PROGRESS, None)
    it.close()
    assert job("c") == (irohds.Status.COMPUTE_OK, "C")
    assert calls == ["a", "b", "b", "c"]
    # version is part of the key: version 2 of "a" is another task.
    @irohds.run_once("a", ns="ro", version=2)
    def again():
        return 1
    assert again() == (irohds.Status.COMPUTE_OK, 1)


def test_ctl_each_counts_and_keys(here):
    it = irohds.each(["k1", "k2", "k3", b"\x00k"], ns="lab/x", timeout=600)
    assert next(it) == "k1"
    assert next(it) == "k2"                  # k1 done, k2 running, k3 and b"\0k" pending
    c = ctl_json(here, "lab/x")
    assert (c["known"], c["done"], c["running"], c["pending"]) == (4, 1, 1, 2)
    assert [h["name"] for h in c["holders"]] == ["k2"]
    assert c["holders"][0]["holder"].startswith("%d@" % os.getpid())
    assert c["holders"][0]["expires_us"] > time.time() * 1e6 + 500e6
    rows = ctl_json(here, "lab/x", "--keys")
    assert sorted((r["name"], r["state"]) for r in rows) == [
        ("b'\\x00k'", "pending"), ("k1", "done"), ("k2", "running"), ("k3", "pending")]
    pend = ctl_json(here, "lab/x", "--state", "pending")
    assert sorted(r["name"] for r in pend) == ["b'\\x00k'", "k3"]
    text = here.ctl("each", "lab/x", check=True).stdout
    assert "4 known, 1 done, 1 running, 2 pending" in text and "k2" in text
    it.close()
    assert ctl_json(here, "lab/x")["running"] == 0
    assert ctl_json(here, "nothing-here")["known"] == 0
    bad = here.ctl("each", "lab/x", "--state", "odd")
    assert bad.returncode == 2 and "--state" in bad.stderr
    assert here.ctl("each").returncode == 2


# ---------------------------------------------------------------- bad input

def test_bad_keys_refused_before_anything(here):
    for bad in ([1], ["ok", None], [bytearray(b"x")], [("a",)]):
        with pytest.raises(TypeError, match="str or bytes"):
            irohds.each(bad, ns="bad")
    with pytest.raises(TypeError):
        irohds.run_once(3.5, ns="bad")
    with pytest.raises(ValueError):
        irohds.each(["a"], ns="bad", timeout=0)
    with pytest.raises(TypeError):
        irohds.each(["a"], ns=b"bad")
    with pytest.raises(ValueError):
        irohds.each(["a"], ns="n" * 256)


def test_store_refuses_garbage_lists(daemon):
    c = daemon.client()
    before = store_stat(daemon, "bad_requests")
    cases = [
        ("each_claim", dict(ns="g", holder="h", want=1, keys=b"x" * 33), ()),
        ("each_claim", dict(ns="g", holder="h", want=1, done=b"y" * 31), ()),
        ("each_claim", dict(ns="g", holder="", want=1, keys=bytes(32)), ()),
        ("each_pass", dict(ns="g", keys=bytes(64)), (b"only one name",)),
        ("each_pass", dict(ns="g", keys=bytes(32)), (b"\xff\xfe not utf-8",)),
        ("each_pass", dict(ns="g", keys=bytes(32)), (b"n" * 1025,)),
        ("each_pass", dict(ns="g", keys=bytes(33)), (b"a", b"b")),
        ("each_list", dict(ns="g"), (b"extra frame",)),
    ]
    try:
        for name, fields, extra in cases:
            status, frames = c.call("store", name, extra=extra, **fields)
            assert (status, frames[0]) == ("ERR", b"bad-request"), (name, fields, frames)
        # Bodies that do not decode: truncated after the id, and an id with
        # a length that runs past the end.
        for body in (bytes([65]), bytes([64]) + b"\x00\x01g\xff\xff\xff\xff"):
            rid = b"raw%d" % len(body)
            c.sock.send_multipart([b"IRC1", b"store", rid, body])
            status, frames = c.recv(rid)
            assert (status, frames[0]) == ("ERR", b"bad-request"), frames
        assert store_stat(daemon, "bad_requests") >= before + len(cases) + 2
        status, _ = c.call("store", "ping")                 # the store lives on
        assert status == "OK"
    finally:
        c.close()


# ---------------------------------------------------------------- no daemon

def test_without_a_daemon_each_runs_every_key_not_done(daemon, monkeypatch):
    pin_home(monkeypatch, daemon.home)
    _daemon.state().down_until = 0.0
    _daemon.state().backoff = 0.0
    _log.reset()
    try:
        assert list(irohds.each(["d1"], ns="nd")) == ["d1"]       # a done mark in LMDB
        daemon.stop()
        _transport.get_transport().close()
        _transport._transport = None
        with pytest.warns(irohds.IrohdsWarning, match="store cannot be asked"):
            got = list(irohds.each(["d1", "d2", "d3"], ns="nd"))
        assert got == ["d2", "d3"]                # d1's done mark read from LMDB
        assert irohds.each_status(["d1", "d2"], ns="nd") == {
            "d1": irohds.State.DONE, "d2": irohds.State.PENDING}
        assert _log.counters["each_degraded"] >= 1
    finally:
        t = _transport._transport
        if t is not None:
            t.close()
            _transport._transport = None


def test_without_any_store_each_yields_everything(monkeypatch):
    home = tempfile.mkdtemp(prefix="irh-each-")
    try:
        pin_home(monkeypatch, home)
        monkeypatch.setenv("IROHDS_TIMEOUT", "0.5")
        _daemon.state().down_until = 0.0
        _log.reset()
        with pytest.warns(irohds.IrohdsWarning):
            assert list(irohds.each(["a", "b"], ns="none")) == ["a", "b"]
        st = irohds.run_once("a", ns="none")(lambda: 7)()
        assert st == (irohds.Status.COMPUTE_OK, 7)
        r = subprocess.run([irohds_test.binary("irohds-ctl"), "--home", home, "each", "none"],
                           capture_output=True, text=True, timeout=30,
                           env=irohds_test.test_env(home))
        assert r.returncode == 3 and "not running" in r.stderr, (r.returncode, r.stderr)
    finally:
        t = _transport._transport
        if t is not None:
            t.close()
            _transport._transport = None
        import shutil
        shutil.rmtree(home, ignore_errors=True)
