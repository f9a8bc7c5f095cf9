"""Python client against a real irohds-daemon in a temp home (LAN off):
tiers across fresh processes, run-once between processes, FileRef and
numpy round trips, refresh, evict, warnings, and faults (daemon killed,
store killed, corrupt blobs) where the function must still return the
right value every time."""
import os
import shutil
import signal
import time
import warnings

import lmdb
from client_support import count, finish_worker, irohds_test, run_worker, start_worker

import irohds
from irohds import _daemon, _proto, _transport


def sup_status(d):
    c = d.client()
    try:
        st, frames = c.call("sup", "status")
        assert st == "OK", frames
        return {r["name"]: r for r in _transport.parse_table(frames)}
    finally:
        c.close()


def wait_for(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def kill_daemon_hard(d):
    """SIGKILL the daemon and the actors it started (pids from sup status)."""
    pids = [r["pid"] for r in sup_status(d).values() if r["pid"]]
    d.proc.kill()
    d.proc.wait()
    for pid in pids:
        if pid != d.proc.pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------- tiers

def test_second_process_reads_the_store(daemon, counter):
    first = run_worker(daemon.home, counter, "square", 5)
    second = run_worker(daemon.home, counter, "square", 5)
    assert first["value"] == second["value"] == {"x": 5, "sq": 25, "pad": "p" * 1024}
    assert count(counter) == 1
    assert not [w for w in second["warnings"] if "unavailable" in w]
    # Another argument is another key.
    assert run_worker(daemon.home, counter, "square", 6)["value"]["sq"] == 36
    assert count(counter) == 2


def test_store_tier_reads_lmdb_without_the_daemon(daemon, counter):
    first = run_worker(daemon.home, counter, "square", 8)
    big = run_worker(daemon.home, counter, "array", 200_000)
    daemon.stop()
    # No daemon and none can be started: the read-only LMDB tier still
    # serves both (inline and file blobs), verified, without computing.
    a = run_worker(daemon.home, counter, "square", 8, IROHDS_DAEMON="/bin/false")
    b = run_worker(daemon.home, counter, "array", 200_000, IROHDS_DAEMON="/bin/false")
    assert a["value"] == first["value"] and b["value"] == big["value"]
    assert count(counter) == 2
    assert not a["warnings"] and not b["warnings"]


def test_eight_processes_compute_once(daemon, counter):
    procs = [start_worker(daemon.home, counter, "slow", 11, 1.5) for _ in range(8)]
    outs = [finish_worker(p) for p in procs]
    assert [o["value"] for o in outs] == [33] * 8
    assert count(counter, "slow") == 1
    assert all(not o["error"] for o in outs)


def test_numpy_array_round_trip_large(daemon, counter):
    n = 300_000                       # 2.4 MB: staged file, src=1, mmap on read
    a = run_worker(daemon.home, counter, "array", n)
    b = run_worker(daemon.home, counter, "array", n)
    expect = {"sum": 7 * n * (n - 1) // 2, "len": n, "n": n, "last": 7 * (n - 1)}
    assert a["value"] == b["value"] == expect
    assert count(counter) == 1
    staging = os.path.join(daemon.home, "run", "staging")
    assert not os.path.isdir(staging) or os.listdir(staging) == []


def test_numpy_array_round_trip_small(daemon, counter):
    a = run_worker(daemon.home, counter, "array", 10)
    b = run_worker(daemon.home, counter, "array", 10)
    assert a["value"] == b["value"] == {"sum": 315, "len": 10, "n": 10, "last": 63}
    assert count(counter) == 1


def test_fileref_round_trip(daemon, counter):
    a = run_worker(daemon.home, counter, "make_file", "hello file")
    b = run_worker(daemon.home, counter, "make_file", "hello file")
    assert count(counter) == 1
    for out in (a, b):
        v = out["value"]
        assert v["content"] == "hello file"
        assert v["fileref"].startswith(os.path.join(daemon.home, "blobs") + os.sep)
    assert a["value"]["fileref"] == b["value"]["fileref"]
    mode = os.stat(a["value"]["fileref"]).st_mode
    assert not mode & 0o222, oct(mode)          # stored read-only


def test_exception_propagates_and_releases_claim(daemon, counter):
    a = run_worker(daemon.home, counter, "boom", 3)
    assert a["error"] == "ValueError: boom 3"
    # The claim was released: the next caller computes at once (does not
    # wait for the lease) and is not served a cached exception.
    t0 = time.monotonic()
    b = run_worker(daemon.home, counter, "boom", 3)
    assert b["error"] == "ValueError: boom 3"
    assert count(counter, "boom") == 2
    assert time.monotonic() - t0 < _daemon.lease_ms() / 1000.0


def test_refresh_recomputes_and_overwrites(daemon, counter):
    src = os.path.join(daemon.home, "src.txt")
    with open(src, "w") as f:
        f.write("v1")
    assert run_worker(daemon.home, counter, "stamp", src)["value"] == "v1"
    with open(src, "w") as f:
        f.write("v2")
    assert run_worker(daemon.home, counter, "stamp", src)["value"] == "v1"   # cached
    assert count(counter) == 1
    out = run_worker(daemon.home, counter, "stamp", src, IRH_REFRESH="1")
    assert out["value"] == "v2" and count(counter) == 2
    assert run_worker(daemon.home, counter, "stamp", src)["value"] == "v2"   # overwritten
    assert count(counter) == 2


def test_evict(daemon, counter):
    assert run_worker(daemon.home, counter, "square", 7)["value"]["sq"] == 49
    ev = run_worker(daemon.home, counter, "evict:square", 7)
    assert ev["value"] >= 1
    assert run_worker(daemon.home, counter, "square", 7)["value"]["sq"] == 49
    assert count(counter) == 2


def test_in_process_calls_and_min_seconds_warning_once(here):
    calls = []

    @irohds.memo
    def quick(x):
        calls.append(x)
        return x * 10

    @irohds.memo(min_seconds=0)
    def patient(x):
        calls.append(-x)
        return -x

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert [quick(i) for i in (1, 2, 3, 1, 2)] == [10, 20, 30, 10, 20]
        assert patient(4) == -4 and patient(5) == -5
    msgs = [str(x.message) for x in w if issubclass(x.category, irohds.IrohdsWarning)]
    assert sum("min_seconds" in m for m in msgs) == 1, msgs
    assert not [m for m in msgs if "patient" in m or "unavailable" in m], msgs
    assert calls == [1, 2, 3, -4, -5]
    # Stored: a fresh in-process tier still finds them (LMDB tier).
    irohds._CACHE.clear()
    quick.memo.fast_clear()
    assert quick(2) == 20 and calls == [1, 2, 3, -4, -5]
    st = irohds.status()
    assert st["daemon"] is True
    assert {"sup", "store"} <= {r["name"] for r in st["actors"]} | {"sup"}
    assert st["store"]


def test_daemon_restart_is_transparent(here):
    calls = []

    @irohds.memo
    def twice(x):
        calls.append(x)
        return 2 * x

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert twice(1) == 2
        here.stop()
        here.start()
        assert twice(2) == 4
        irohds._CACHE.clear()
        twice.memo.fast_clear()
        assert twice(2) == 4 and twice(1) == 2
    assert calls == [1, 2]
    assert not [x for x in w if "unavailable" in str(x.message)]


def test_daemon_started_on_demand(counter, daemon):
    # A second home without a daemon: the client starts one (--detach).
    home = irohds_test.make_home()
    try:
        out = run_worker(home, counter, "square", 9, IROHDS_DAEMON=irohds_test.binary(
            "irohds-daemon"))
        assert out["value"]["sq"] == 81
        assert not [w for w in out["warnings"] if "unavailable" in w], out["warnings"]
        out = run_worker(home, counter, "square", 9)
        assert count(counter) == 1
    finally:
        irohds_test.stop_detached(home)
        shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- faults

def test_daemon_killed_mid_call(daemon, counter):
    p = start_worker(daemon.home, counter, "slow", 21, 1.0, IROHDS_DAEMON="/bin/false")
    wait_for(lambda: count(counter) == 1)
    kill_daemon_hard(daemon)
    out = finish_worker(p)
    assert out["value"] == 63
    assert sum("not reachable" in w for w in out["warnings"]) == 1, out["warnings"]
    # A new daemon on the same home: the value is still right.
    daemon.start()
    assert run_worker(daemon.home, counter, "slow", 21, 0)["value"] == 63


def test_store_killed_mid_put(daemon, counter):
    for i, delay in enumerate((0.0, 0.02, 0.1, 0.3)):
        n = 2_000_000 + i                 # 16 MB results: puts take a while
        p = start_worker(daemon.home, counter, "array", n)
        wait_for(lambda: count(counter, "array %d" % n) == 1)
        time.sleep(delay)
        store = sup_status(daemon)["store"]["pid"]
        os.kill(store, signal.SIGKILL)
        out = finish_worker(p)
        assert out["value"]["sum"] == 7 * n * (n - 1) // 2, out
        # The supervisor restarts the store; the next process gets the
        # right value, stored or recomputed.
        daemon.wait_ready()
        again = run_worker(daemon.home, counter, "array", n)
        assert again["value"] == out["value"]


def _lmdb_blob_of(home, key):
    env = lmdb.open(os.path.join(home, "store"), max_dbs=16, readonly=True, lock=True)
    try:
        with env.begin() as txn:
            results = env.open_db(b"results", txn=txn, create=False)
            blobs = env.open_db(b"blobs", txn=txn, create=False)
            _, man = _proto.decode(txn.get(key, db=results), "manifest")
            _, blob = _proto.decode(txn.get(man["blob"], db=blobs), "blob")
            return man, blob["kind"]
    finally:
        env.close()


def test_corrupt_inline_blob_is_recomputed(daemon, counter):
    out = run_worker(daemon.home, counter, "square", 12)
    key = bytes.fromhex(out["key"])
    man, kind = _lmdb_blob_of(daemon.home, key)
    assert kind == 0
    daemon.stop()
    env = lmdb.open(os.path.join(daemon.home, "store"), max_dbs=16)
    try:
        with env.begin(write=True) as txn:
            blobs = env.open_db(b"blobs", txn=txn, create=False)
            rec = bytearray(txn.get(man["blob"], db=blobs))
            rec[-10] ^= 0x55               # inside the inline data
            txn.put(man["blob"], bytes(rec), db=blobs)
    finally:
        env.close()
    daemon.start()
    again = run_worker(daemon.home, counter, "square", 12)
    assert again["value"] == out["value"]
    assert count(counter) == 2            # recomputed, not served corrupt
    third = run_worker(daemon.home, counter, "square", 12)
    assert third["value"] == out["value"] and count(counter) == 2   # replaced


def test_corrupt_blob_file_is_recomputed(daemon, counter):
    n = 100_000
    out = run_worker(daemon.home, counter, "array", n)
    man, kind = _lmdb_blob_of(daemon.home, bytes.fromhex(out["key"]))
    assert kind == 1
    hexd = man["blob"].hex()
    path = os.path.join(daemon.home, "blobs", hexd[:2], hexd)
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) - 100)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    again = run_worker(daemon.home, counter, "array", n)
    assert again["value"] == out["value"]
    assert count(counter) == 2
    third = run_worker(daemon.home, counter, "array", n)
    assert third["value"] == out["value"] and count(counter) == 2


def _manifest(home, key):
    env = lmdb.open(os.path.join(home, "store"), max_dbs=16, readonly=True, lock=True)
    try:
        with env.begin() as txn:
            results = env.open_db(b"results", txn=txn, create=False)
            return _proto.decode(txn.get(key, db=results), "manifest")[1]
    finally:
        env.close()


def test_costs_are_recorded_with_the_result(here):
    from irohds.coren import FnCost

    @irohds.memo(cost=FnCost(flops=11, mem_bytes=22, peak_mem=33, result_bytes=44))
    def given(x):
        return x

    @irohds.memo(min_seconds=0)
    def measured(x):
        time.sleep(0.05)
        return bytes(5000)

    assert given(1) == 1 and measured(1) == bytes(5000)
    m = _manifest(here.home, bytes.fromhex(given.key(1)))
    assert (m["flops"], m["mem_bytes"], m["peak_mem"], m["result_bytes"]) == (11, 22, 33, 44)
    assert m["fn"].endswith("given") and m["codec"] == "pickle5"
    m = _manifest(here.home, bytes.fromhex(measured.key(1)))
    assert m["wall_us"] >= 50_000
    assert m["result_bytes"] == m["size"] > 5000


def test_lease_is_renewed_during_long_calls(daemon, counter):
    # A 1.5 s lease and a 4 s computation: only renewal keeps the claim,
    # so the second process waits instead of computing again.
    a = start_worker(daemon.home, counter, "slow", 31, 4.0, IROHDS_LEASE_MS=1500)
    wait_for(lambda: count(counter) == 1)
    b = start_worker(daemon.home, counter, "slow", 31, 4.0, IROHDS_LEASE_MS=1500)
    assert finish_worker(a)["value"] == 93 and finish_worker(b)["value"] == 93
    assert count(counter) == 1


def test_threads_share_one_computation(here):
    import threading
    calls = []
    gate = threading.Event()

    @irohds.memo
    def shared(x):
        calls.append(x)
        gate.wait(5)
        return x + 100

    out = []
    threads = [threading.Thread(target=lambda: out.append(shared(5))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join(30)
    assert out == [105] * 8 and calls == [5]


def test_fork_child_gets_its_own_sockets(here):
    @irohds.memo
    def forked(x):
        return x * 4

    assert forked(1) == 4                  # parent's transport exists now
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                           # child: must not reuse parent sockets
        code = 1
        try:
            os.close(r)
            ok = forked(2) == 8 and forked(1) == 4
            st = irohds.status()
            os.write(w, b"ok" if ok and st["daemon"] else b"bad")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            got = f.read()
    finally:
        _, status = os.waitpid(pid, 0)
    assert got == b"ok" and status == 0
    assert forked(2) == 8                  # stored by the child
