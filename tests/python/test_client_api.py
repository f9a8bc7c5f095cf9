"""The client as users call it (issue 7): every test goes through the
public decorator, against a real daemon in a temp home (LAN off).

Defects: unhashable arguments, generators and async def, notices under
-W error, touches lost at exit, waiters stalled by a dead holder, config
problems never shown. Habits: ignore=, refresh, cached, cache_info, evict,
ttl=, the "irohds" logger and verbose=.
"""
import asyncio
import json
import logging
import os
import signal
import subprocess
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

from client_support import PYTHON, count, irohds_test, run_worker, start_worker

import irohds
from irohds import _daemon, _keys, _log, _proto, _transport


def run_script(home, body, *flags, timeout=120, **env):
    """Run a Python script (dedented) in a fresh interpreter against home."""
    e = irohds_test.test_env(home, **env)
    e["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    path = os.path.join(home, "script-%d.py" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(textwrap.dedent(body))
    return subprocess.run([PYTHON] + list(flags) + [path], capture_output=True, text=True,
                          timeout=timeout, env=e)


# ---------------------------------------------------------------- defect 1

def test_unhashable_arguments_positional_and_keyword(here):
    calls = []

    @irohds.memo(min_seconds=0)
    def train(config, scale=1):
        calls.append(1)
        return repr(config) + "*" + str(scale)

    arr = np.arange(6).reshape(2, 3)
    for arg in ({"lr": 0.1}, [1, 2], {1, 2}, arr, {"nested": [{"a": [1]}]}):
        first = train(arg)
        assert train(arg) == first              # positional: no crash, cached
        assert train(config=arg) == first       # keyword: same key
        assert train(arg, 1) == first           # explicit default: same key
        assert train(arg, scale=1) == first
    assert len(calls) == 5
    assert train.key({"lr": 0.1}) == train.key(config={"lr": 0.1}, scale=1)
    assert train({"lr": 0.2}) != train({"lr": 0.1}) and len(calls) == 6


def test_same_key_positional_keyword_default(here):
    calls = []

    @irohds.memo(min_seconds=0)
    def f(x, y=2):
        calls.append(x)
        return x + y

    assert f(1) == f(x=1) == f(1, 2) == f(x=1, y=2) == f(y=2, x=1) == 3
    assert calls == [1]


# ---------------------------------------------------------------- defect 2

def test_generators_refused_at_decoration():
    def gen(n):
        yield from range(n)

    async def agen(n):
        yield n

    for fn in (gen, agen):
        with pytest.raises(TypeError, match="generator"):
            irohds.memo(fn)
        with pytest.raises(TypeError, match="generator"):
            irohds.memo(min_seconds=0)(fn)


def test_async_def_awaited_value_is_memoized(here, monkeypatch):
    calls = []
    threads = set()
    real_claim = _daemon.claim

    def claim(key):
        threads.add(threading.get_ident())
        return real_claim(key)
    monkeypatch.setattr(_daemon, "claim", claim)

    @irohds.memo(min_seconds=0)
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.2)
        return {"x": x}

    async def main():
        loop_thread = threading.get_ident()
        many = await asyncio.gather(*[fetch(7) for _ in range(6)])
        again = await fetch(7)
        other = await fetch(8)
        return loop_thread, many, again, other

    loop_thread, many, again, other = asyncio.run(main())
    assert many == [{"x": 7}] * 6 and again == {"x": 7} and other == {"x": 8}
    assert calls == [7, 8]                      # concurrent awaits computed once
    assert threads and loop_thread not in threads   # daemon I/O off the loop
    assert fetch.cache_info().computed == 2


def test_async_def_shared_across_processes(daemon, counter):
    script = """
        import asyncio, os, irohds
        def mark():
            with open(os.environ["IRH_COUNT"], "a") as f:
                f.write("x\\n")
        @irohds.memo(min_seconds=0)
        async def fetch(x):
            mark()
            await asyncio.sleep(0.05)
            return [x, x]
        print(asyncio.run(fetch(3)))
    """
    for _ in range(2):
        out = run_script(daemon.home, script, IRH_COUNT=counter)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[3, 3]"
    assert count(counter) == 1


# ---------------------------------------------------------------- defect 3

W_ERROR_SCRIPT = """
    import os, irohds
    def mark():
        with open(os.environ["IRH_COUNT"], "a") as f:
            f.write("x\\n")
    @irohds.memo                    # min_seconds=15: this one is "too fast"
    def quick(x):
        mark()
        return x * 2
    print(quick(21), quick(21))
"""


def test_notice_under_W_error_never_changes_the_call(daemon, counter):
    for _ in range(3):
        out = run_script(daemon.home, W_ERROR_SCRIPT, "-W", "error", IRH_COUNT=counter)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["42", "42"]
    assert count(counter) == 1                  # stored on the first run


def test_notice_wording_names_the_fix(here):
    @irohds.memo
    def quick(x):
        return x

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        quick(1)
    msgs = [str(x.message) for x in w if issubclass(x.category, irohds.IrohdsWarning)]
    assert len(msgs) == 1, msgs
    assert "min_seconds=0" in msgs[0] and "peer" not in msgs[0]


# ---------------------------------------------------------------- defect 4

def _manifest(home, key_hex):
    c = irohds_test.Client("ipc://%s/run/broker.ipc" % home)
    try:
        st, frames = c.call("store", "get", key=bytes.fromhex(key_hex), want_path=1)
        assert st == "OK"
        name, _ = _proto.decode(frames[0])
        assert name == "hit"
        return _proto.decode_manifest(frames[1])
    finally:
        c.close()


def _stats(home):
    c = irohds_test.Client("ipc://%s/run/broker.ipc" % home)
    try:
        st, frames = c.call("store", "stats")
        return {r["name"]: r["value"] for r in _transport.parse_table(frames)}
    finally:
        c.close()


SQUARE_SCRIPT = """
    import os, sys, irohds
    def mark():
        with open(os.environ["IRH_COUNT"], "a") as f:
            f.write("x\\n")
    @irohds.memo(min_seconds=0)
    def square(x):
        mark()
        return {"sq": x * x, "pad": "p" * 1024}
    x = int(sys.argv[1])
    if sys.argv[2] == "call":
        print(square(x)["sq"], square.cache_info().hits_local, square.key(x))
    else:
        print(square.cached(x), square.cached(x + 1))
"""


def square_script(home, counter, *args, **env):
    path = os.path.join(home, "square.py")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(textwrap.dedent(SQUARE_SCRIPT))
    e = irohds_test.test_env(home, IRH_COUNT=counter, **env)
    e["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    out = subprocess.run([PYTHON, path] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=120, env=e)
    assert out.returncode == 0, out.stderr
    return out


def test_touches_reach_the_store_when_a_script_exits(daemon, counter):
    sq, hits, key = square_script(daemon.home, counter, 12, "call").stdout.split()
    assert (sq, hits) == ("144", "0")
    before = _manifest(daemon.home, key)
    assert before["accessed_us"] == before["created_us"]
    time.sleep(0.05)
    # A short script: one local-store hit, then exit at once.
    assert square_script(daemon.home, counter, 12, "call").stdout.split() == ["144", "1", key]
    assert count(counter) == 1
    deadline = time.monotonic() + 30
    while _manifest(daemon.home, key)["accessed_us"] == before["accessed_us"]:
        assert time.monotonic() < deadline, "the touch never reached the store"
        time.sleep(0.1)
    stats = _stats(daemon.home)
    assert stats["hits_local"] >= 1     # counted by the store, not only accessed


# ---------------------------------------------------------------- defect 5

def test_waiter_recovers_promptly_from_a_killed_holder(daemon, counter):
    holder = start_worker(daemon.home, counter, "slow", 41, 2.0)
    deadline = time.monotonic() + 30
    while count(counter) < 1:
        assert time.monotonic() < deadline and holder.poll() is None
        time.sleep(0.02)
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    t0 = time.monotonic()
    out = run_worker(daemon.home, counter, "slow", 41, 2.0)
    took = time.monotonic() - t0
    assert out["value"] == 123 and count(counter) == 2
    # The old 30 s lease made this take 30-50 s; a 10 s lease (renewed
    # while alive) bounds it, and the store releasing a dead local pid's
    # claim makes it immediate.
    assert took < _daemon.DEFAULT_LEASE_MS / 1000.0 + 8, took


def test_lease_is_short_and_renewed():
    assert _daemon.DEFAULT_LEASE_MS <= 10000


# ---------------------------------------------------------------- defect 6

def test_config_problems_shown_once(daemon, counter):
    with open(os.path.join(daemon.home, "config.toml"), "a") as f:
        f.write("\n[store]\nmax_byte = 1 GiB\n")
    out = run_script(daemon.home, """
        import logging, warnings, irohds
        logging.basicConfig(level=logging.WARNING)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            @irohds.memo(min_seconds=0)
            def f(x):
                return x
            f(1); f(2); f(3)
        print(sum("max_byte" in str(x.message) for x in w))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1"]
    assert out.stderr.count("max_byte") == 1          # and logged once


# ---------------------------------------------------------------- habits

def test_ignore_leaves_arguments_out_of_the_key(here):
    calls = []

    @irohds.memo(min_seconds=0, ignore=["verbose", "n_jobs"])
    def fit(x, verbose=False, n_jobs=1):
        calls.append(x)
        return x * 2

    assert fit(3) == fit(3, verbose=True) == fit(3, n_jobs=8, verbose=2) == 6
    assert calls == [3]
    assert fit.key(3, verbose=True) == fit.key(3)

    def plain(x, verbose=False, n_jobs=1):
        return x * 2
    other = irohds.memo(min_seconds=0)(plain)
    assert other.key(3) != fit.key(3)           # the ignore list is identity
    with pytest.raises(ValueError, match="nope"):
        irohds.memo(ignore=["nope"])(plain)


def test_ignore_golden_vectors():
    with open(os.path.join(irohds_test.SOURCE, "proto", "vectors", "keys.json")) as f:
        golden = json.load(f)
    fake = bytes.fromhex(golden["fake_identity"])
    vecs = {v["name"]: v for v in golden["ignore"]}
    ident = _keys.ignore_identity(fake, ["verbose", "n_jobs"])
    assert ident.hex() == vecs["ignore-identity"]["key"]
    assert _keys.ignore_identity(fake, []) == fake


def test_refresh_cached_cache_info_evict(here):
    calls = []

    @irohds.memo(min_seconds=0)
    def g(x):
        calls.append(x)
        return [x, len(calls)]

    assert not g.cached(5)
    assert g(5) == [5, 1]
    assert g.cached(5) and g.cached(x=5)
    assert g(5) == [5, 1]
    assert g.refresh(5) == [5, 2]               # recomputed, overwritten
    assert g(5) == [5, 2]
    irohds._CACHE.clear()
    g.memo.fast_clear()
    assert g(5) == [5, 2]                       # the store has the new one
    info = g.cache_info()
    assert info.computed == 2 and info.hits_local == 1 and info.hits_memory >= 2
    assert info.misses == 1
    assert g.evict() >= 1
    assert not g.cached(5)


def test_cached_needs_no_daemon(daemon, counter):
    square_script(daemon.home, counter, 9, "call")
    daemon.stop()
    out = square_script(daemon.home, counter, 9, "cached", IROHDS_DAEMON="/bin/false")
    assert out.stdout.split() == ["True", "False"]
    assert "not reachable" not in out.stderr
    assert count(counter) == 1


def test_ttl_sets_an_expiry(here):
    @irohds.memo(min_seconds=0, ttl=3600)
    def t(x):
        return x

    @irohds.memo(min_seconds=0)
    def u(x):
        return x

    t(1)
    u(1)
    assert _manifest(here.home, t.key(1))["expires_us"] > time.time() * 1e6
    assert _manifest(here.home, u.key(1))["expires_us"] == 0
    with pytest.raises(ValueError):
        irohds.memo(ttl=-1)(u.__wrapped__)


def test_logger_hits_misses_and_verbose(here, caplog):
    caplog.set_level(logging.DEBUG, logger="irohds")

    @irohds.memo(min_seconds=0)
    def h(x):
        return x

    h([1])
    h([1])
    text = caplog.text
    assert "miss" in text and "hit (memory)" in text
    logger = logging.getLogger("irohds")
    level = logger.level
    try:
        @irohds.memo(min_seconds=0, verbose=2)
        def v(x):
            return x
        assert logger.isEnabledFor(logging.DEBUG)
    finally:
        logger.setLevel(level)
        for hd in list(logger.handlers):
            if hd is _log._handler:
                logger.removeHandler(hd)
        _log._handler = None


def test_type_hints_and_docstring():
    import inspect
    doc = irohds.memo.__doc__
    for opt in ("ns", "version", "cost", "min_seconds", "local_only", "refresh",
                "ignore", "ttl", "verbose", "f.refresh", "f.cached", "f.cache_info",
                "f.evict", "f.key"):
        assert opt in doc, opt
    sig = inspect.signature(irohds.memo)
    assert sig.parameters["ttl"].annotation is not inspect.Parameter.empty
    assert os.path.exists(os.path.join(irohds_test.SOURCE, "pyclient", "irohds", "py.typed"))
