"""The client side of results across machines, against one real daemon
(no peers; the cross-node behaviour is tests/cluster/test_fetch.py):

- local_only=True lands in the manifest's flags (bit 1) and never asks
  gossip; an ordinary function asks once per miss, and gossip answers "no
  candidate" when no peer's digest may hold the key;
- a stored result whose manifest names another node as its origin (made
  with a real put carrying origin, as a fetched result's manifest does) is
  decoded by the restricted unpickler: a pickle that would call os.system
  is refused (never run), counted, computed here and stored over; plain
  data and numpy arrays from a peer load without recomputing;
- the progress options: the memo arguments are checked, the config keys
  are read, and the bar is drawn on a terminal only (a real pty).

Every script runs in a fresh /usr/bin/python3 in the daemon's home.
"""
import json
import os
import shutil
import subprocess
import textwrap

import pytest

from client_support import PYTHON, irohds_test

MODULE = """
import os
import numpy as np
import irohds

def _count(tag):
    with open(os.environ["IRH_COUNT"], "a") as f:
        f.write(tag + "\\n")

@irohds.memo(min_seconds=0)
def shared(x):
    _count("shared")
    return {"x": x, "sq": [x * x]}

@irohds.memo(min_seconds=0, local_only=True)
def private(x):
    _count("private")
    return {"x": x}

@irohds.memo(min_seconds=0, local_only=True)
def private_file(x):
    _count("private_file")
    path = "out-%d.bin" % x
    with open(path, "wb") as f:
        f.write(b"p" * 100)
    return irohds.FileRef(path)

@irohds.memo(min_seconds=0, local_only=True)
async def private_async(x):
    _count("private_async")
    return [x]

@irohds.memo(min_seconds=0)
async def shared_async(x):
    _count("shared_async")
    return [x, x]

@irohds.memo(min_seconds=0)
def victim(x):
    _count("victim")
    return ["honest", x]

@irohds.memo(min_seconds=0)
def plain(x):
    _count("plain")
    return {"never": "computed here"}
"""

# Puts a result under fn's key with a manifest naming another node as its
# origin (what an ingest of a fetched result records), then prints nothing.
PUT_AS_PEER = """
import sys
import numpy as np
import fmod
from irohds import _codec, _daemon

ORIGIN = bytes(range(1, 33))

class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch %s" % sys.argv[1],))

def put(fn, args, value):
    m = fn.memo
    key = m.key(args, {})
    blob = _codec.encode(value).to_bytes()
    _daemon.put(dict(key=key, codec=_codec.CODEC, fn=m.name, ns=m.ns, origin=ORIGIN,
                     result_bytes=len(blob)), (blob,))

put(fmod.victim, (1,), Evil())
put(fmod.plain, (2,), {"a": [1, 2.5, "s", None, (3, 4)], "arr": np.arange(1000.0)})
"""


@pytest.fixture(scope="module")
def daemon():
    yield from irohds_test.serve(irohds_test.Daemon())


@pytest.fixture
def code(daemon):
    d = os.path.join(daemon.home, "code-%d" % len(os.listdir(daemon.home)))
    os.mkdir(d)
    with open(os.path.join(d, "fmod.py"), "w") as f:
        f.write(textwrap.dedent(MODULE))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(daemon, code, body, *argv, prelude="", **env):
    """Run body (after `import fmod` and prelude) in a fresh interpreter;
    the last line of stdout is JSON."""
    path = os.path.join(code, "main-%d.py" % len(os.listdir(code)))
    with open(path, "w") as f:
        f.write("import json, fmod, irohds\nfrom irohds import _log, _localstore\n"
                + prelude + textwrap.dedent(body))
    e = irohds_test.test_env(daemon.home, IRH_COUNT=os.path.join(code, "count"), **env)
    e["PYTHONPATH"] = os.pathsep.join([code, os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([PYTHON, path] + list(argv), capture_output=True, text=True,
                          timeout=120, env=e, cwd=code)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def count(code, tag):
    try:
        with open(os.path.join(code, "count")) as f:
            return sum(1 for line in f if line.strip() == tag)
    except FileNotFoundError:
        return 0


MANIFEST = """
def manifest(fn, *args):
    found = _localstore.get().lookup(fn.memo.key(args, {}))
    return {"flags": found.manifest["flags"], "origin": found.manifest["origin"].hex()}

def lookups():
    return {k: v for k, v in _log.counters.items() if k.startswith("lookup_")}
"""


def test_local_only_flag_in_manifest_and_never_asks_peers(daemon, code):
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    fmod.private(1)
    ref = fmod.private_file(1)
    after_private = lookups()
    fmod.shared(1)
    print(json.dumps({"private": manifest(fmod.private, 1),
                      "private_file": manifest(fmod.private_file, 1),
                      "shared": manifest(fmod.shared, 1),
                      "after_private": after_private, "after_shared": lookups()}))
    """)
    assert out["private"]["flags"] == 2                 # local_only, not a FileRef
    assert out["private_file"]["flags"] == 3            # FileRef and local_only
    assert out["shared"]["flags"] == 0
    for m in out.values():
        if isinstance(m, dict) and "origin" in m:
            assert m["origin"] == "00" * 32             # computed here
    # local_only never asks gossip; an ordinary miss asks once.
    assert out["after_private"] == {}
    assert sum(out["after_shared"].values()) == 1
    # A fresh process: every one of them is a local hit, nothing recomputed.
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    fmod.private(1); fmod.shared(1); fmod.private_file(1)
    print(json.dumps([fmod.private.cache_info().hits_local,
                      fmod.shared.cache_info().hits_local, lookups()]))
    """)
    assert out == [1, 1, {}]
    assert count(code, "private") == count(code, "shared") == 1


def test_async_functions_ask_peers_the_same_way(daemon, code):
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    import asyncio
    asyncio.run(fmod.private_async(1))
    after_private = lookups()
    asyncio.run(fmod.shared_async(1))
    print(json.dumps({"private": manifest(fmod.private_async, 1),
                      "shared": manifest(fmod.shared_async, 1),
                      "after_private": after_private, "after_shared": lookups()}))
    """)
    assert out["private"]["flags"] == 2 and out["shared"]["flags"] == 0
    assert out["after_private"] == {}
    assert out["after_shared"] == {"lookup_no_candidate": 1}


def test_lookup_without_peers_is_no_candidate(daemon, code):
    """No peer at all: gossip answers at once from (empty) digests that no
    candidate exists, and the function is computed."""
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    fmod.shared(7)
    print(json.dumps({"lookups": lookups(), "info": fmod.shared.cache_info()._asdict()}))
    """)
    assert out["lookups"] == {"lookup_no_candidate": 1}
    assert out["info"]["computed"] == 1 and out["info"]["hits_peer"] == 0


def test_lookup_rides_behind_the_claim_and_waits_its_turn(daemon, code):
    """The peer lookup is sent right behind the claim, on the same socket:
    a reply that arrives while another request's reply is awaited is kept
    for its own recv. When the claim is not granted at once (another live
    holder), that early lookup is dropped and a fresh one is sent once the
    claim is ours: only the fresh one's answer counts."""
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    import socket, time
    from irohds import _daemon, _transport
    t = _transport.get_transport()
    # Two requests in flight: the lookup's reply is in the socket before
    # the store's, and the store call's recv must keep it.
    rid = t.send("gossip", "gossip_lookup", key=b"k" * 32, ns="", fn="x", flops=0,
                 mem_bytes=0, peak_mem=0, result_bytes=0, wall_us=0, timeout_ms=0)
    t.keep(rid)
    time.sleep(0.3)
    has = _daemon.decode(_daemon.call("store", "has", key=b"k" * 32), "has_reply")[1]
    kept = _daemon.decode(t.recv(rid, 5), "gossip_lookup_reply")[1]["status"]
    # Another live process (pid 1) holds the claim for a short lease.
    key = fmod.shared.memo.key((8,), {})
    other = "1@%s/other" % socket.gethostname()[:64]
    _daemon.call("store", "claim", key=key, holder=other, lease_ms=1500)

    def asked():
        rows = _transport.parse_table(t.call("gossip", "gossip_stats"))
        return {r["name"]: r["value"] for r in rows}["lookups"]
    before = asked()
    start = time.monotonic()
    fmod.shared(8)
    waited = time.monotonic() - start
    print(json.dumps({"has": has["present"], "kept": kept, "waited": waited,
                      "asked": asked() - before,
                      "lookups": lookups(), "info": fmod.shared.cache_info()._asdict()}))
    """)
    assert out["has"] == 0 and out["kept"] == 1                 # no candidate
    assert out["waited"] >= 1.0                                 # the lease ran out first
    assert out["asked"] == 2                                    # early, then fresh
    assert out["lookups"] == {"lookup_no_candidate": 1}         # the fresh one only
    assert out["info"]["computed"] == 1 and count(code, "shared") == 1


def test_result_from_peer_is_loaded_by_the_restricted_unpickler(daemon, code):
    marker = os.path.join(code, "pwned")
    run(daemon, code, PUT_AS_PEER + "print(json.dumps(1))\n", marker)
    # The hostile result: refused (never executed), computed here, stored over.
    out, err = run(daemon, code, prelude=MANIFEST, body="""
    before = manifest(fmod.victim, 1)
    value = fmod.victim(1)
    print(json.dumps({"value": value, "before": before, "after": manifest(fmod.victim, 1),
                      "info": fmod.victim.cache_info()._asdict(),
                      "refused": _log.counters["unsafe_refused"]}))
    """)
    assert not os.path.exists(marker)
    assert out["before"]["origin"] == bytes(range(1, 33)).hex()
    assert out["value"] == ["honest", 1]
    assert out["info"]["unsafe_refused"] == 1 and out["info"]["computed"] == 1
    assert out["refused"] >= 1
    assert "refused by the restricted unpickler" in err and "system" in err
    assert out["after"]["origin"] == "00" * 32          # ours now
    assert count(code, "victim") == 1
    # Next process: a plain local hit of our own result.
    out, _ = run(daemon, code, """
    print(json.dumps([fmod.victim(1), fmod.victim.cache_info().hits_local]))
    """)
    assert out == [["honest", 1], 1] and count(code, "victim") == 1
    # Plain data and a numpy array from a peer load, nothing recomputed.
    out, _ = run(daemon, code, prelude=MANIFEST, body="""
    v = fmod.plain(2)
    print(json.dumps({"a": v["a"], "sum": float(v["arr"].sum()), "dtype": str(v["arr"].dtype),
                      "origin": manifest(fmod.plain, 2)["origin"],
                      "info": fmod.plain.cache_info()._asdict()}))
    """)
    assert out["a"] == [1, 2.5, "s", None, [3, 4]]
    assert out["sum"] == sum(range(1000)) and out["dtype"] == "float64"
    assert out["origin"] == bytes(range(1, 33)).hex()
    assert out["info"]["hits_local"] == 1 and out["info"]["unsafe_refused"] == 0
    assert count(code, "plain") == 0


def test_memo_checks_the_peer_options():
    import irohds
    for bad in (dict(progress="sometimes"), dict(fetch_timeout=-1),
                dict(fetch_timeout=True), dict(fetch_timeout=float("nan"))):
        with pytest.raises(ValueError):
            irohds.memo(lambda x: x, **bad)
    f = irohds.memo(lambda x: x, progress="never", fetch_timeout=2.5)
    assert f.memo.progress == "never" and f.memo.fetch_timeout == 2.5


def test_config_keys_for_fetching(monkeypatch, tmp_path):
    from irohds import _config
    home = str(tmp_path)
    monkeypatch.setenv("IROHDS_HOME", home)
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[client]\nprogress = "never"\n[peers]\nfetch_timeout = 90s\n')
    cfg = _config.Config(home)
    assert (cfg.progress, cfg.fetch_timeout, cfg.errors) == ("never", 90.0, [])
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[client]\nprogress = "loud"\n')
    cfg = _config.Config(home)
    assert cfg.progress == "auto" and cfg.fetch_timeout == 0.0
    assert any("client.progress" in e for e in cfg.errors)


def test_progress_bar_only_on_a_terminal():
    from irohds import _progress
    master, slave = os.openpty()
    r, w = os.pipe()
    try:
        with open(slave, "w", closefd=False) as tty, open(w, "w", closefd=False) as pipe:
            assert _progress.wants_bar("auto", tty) is True
            assert _progress.wants_bar("auto", pipe) is False
            assert _progress.wants_bar("always", pipe) is True
            assert _progress.wants_bar("never", tty) is False
    finally:
        for fd in (master, slave, r, w):
            os.close(fd)


def test_fetch_watcher_polls_gossip_and_notices_it_gone(monkeypatch):
    """The watcher of an outstanding lookup, against a real daemon: it
    polls gossip_fetches (no transfer of this key: never seen), on a socket
    of its own that it closes at the end, and says "dead" once the daemon
    is gone (the waiting call then computes)."""
    from irohds import _progress, _transport
    d = irohds_test.Daemon()
    try:
        d.start()
        d.wait_ready(services=("sup", "store", "gossip"))
        monkeypatch.setenv("IROHDS_HOME", d.home)
        monkeypatch.setenv("IROHDS_DAEMON", "/bin/false")
        monkeypatch.setattr(_progress, "QUIET_EVERY", 0.05)
        t = _transport.get_transport()
        sockets = len(t._sockets)
        w = _progress.Watch(b"\x07" * 32, "test.fn", "never", 2.0)
        w.start()
        irohds_test_wait(lambda: w.polls >= 3)
        assert not w.dead and not w.blind and w.seen_at is None and w.bar is None
        d.stop()
        irohds_test_wait(lambda: w.dead, timeout=30)
        w.finish()
        assert not w.is_alive() and len(t._sockets) == sockets
    finally:
        d.cleanup()


def irohds_test_wait(predicate, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met within %gs" % timeout
        time.sleep(0.02)
