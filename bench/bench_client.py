#!/usr/bin/python3
"""Benchmark of the Python client against its anchors, side by side in one
run (DESIGN §8): ratios, never absolute targets.

    in-process hit     vs functools.lru_cache(typed=True)      target <= 3x
    local-store hit    vs diskcache memoize                     target <= 0.5x
                       vs joblib.Memory                         (reported)
    one-off per process: import irohds + first key (function identity)
    miss round trip (claim + compute + put) vs a bare pyzmq ipc echo

Same 1 KiB result and small arguments everywhere. The local-store hits
are stored by ANOTHER process first, then read once each (many distinct
keys) by this one, whose in-process tier has never seen them.

Starts its own daemon in a temp home with IROHDS_LAN=0 and removes it.
usage: IROHDS_BUILD=build PYTHONPATH=build/python bench_client.py [--quick]
"""
import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "support"))

RESULT = b"r" * 1024


def work(i, tag="x"):
    return RESULT


def _median_per_call(fn, calls, repeat=7):
    """Median over `repeat` batches of the per-call time of fn()."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def _median_each(fn, items):
    times = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---- the functions under test (module level: same identity in every process)

def _irohds_fn():
    import irohds

    @irohds.memo(min_seconds=0)
    def store_hit(i, tag="x"):
        return RESULT
    return store_hit


def _diskcache_fn(d):
    import diskcache
    cache = diskcache.Cache(d)

    @cache.memoize(typed=True)
    def dc_hit(i, tag="x"):
        return RESULT
    return cache, dc_hit


def _joblib_fn(d):
    import joblib
    mem = joblib.Memory(d, verbose=0)

    def jl_hit(i, tag="x"):
        return RESULT
    return mem.cache(jl_hit)


def populate(n, dc_dir, jl_dir):
    """Child mode: store n results through each library."""
    f = _irohds_fn()
    for i in range(n):
        f(i)
    cache, g = _diskcache_fn(dc_dir)
    for i in range(n):
        g(i)
    cache.close()
    h = _joblib_fn(jl_dir)
    for i in range(n):
        h(i)


def one_off():
    """Child mode: time import + first key derivation."""
    t0 = time.perf_counter()
    import irohds
    t1 = time.perf_counter()

    @irohds.memo
    def first(i, tag="x"):
        return RESULT
    first.key(1)
    t2 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "first_key": t2 - t1}))


def echo_round_trip(endpoint, calls):
    import zmq
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    stop = threading.Event()

    def serve():
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        while not stop.is_set():
            if poller.poll(100):
                router.send_multipart(router.recv_multipart())
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    payload = [b"IRC1", b"store", b"rid", RESULT]

    def once():
        dealer.send_multipart(payload)
        dealer.recv_multipart()
    for _ in range(100):
        once()
    r = _median_per_call(once, calls)
    stop.set()
    t.join()
    dealer.close(0)
    router.close(0)
    ctx.term()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--populate", type=int)
    ap.add_argument("--dirs", nargs=2)
    ap.add_argument("--one-off", action="store_true")
    a = ap.parse_args()
    if a.populate is not None:
        return populate(a.populate, *a.dirs)
    if a.one_off:
        return one_off()

    import irohds_test
    n_keys = 300 if a.quick else 2000
    calls = 20000 if a.quick else 200000
    d = irohds_test.Daemon()
    tmp = tempfile.mkdtemp(prefix="irh-bc-")
    rows = []
    try:
        d.start()
        os.environ.update(irohds_test.test_env(d.home))
        import irohds
        from irohds import _memcache

        # 1. in-process hit vs lru_cache(typed=True)
        lru = functools.lru_cache(maxsize=None, typed=True)(work)
        mem = irohds.mem(work)
        lru(1, "x")
        mem(1, "x")
        t_lru = _median_per_call(lambda: lru(1, "x"), calls)
        t_mem = _median_per_call(lambda: mem(1, "x"), calls)
        rows.append(("in-process hit", t_mem, "lru_cache(typed)", t_lru, "<= 3"))

        # 2. local-store hit, stored by another process
        dc_dir, jl_dir = os.path.join(tmp, "dc"), os.path.join(tmp, "jl")
        env = dict(os.environ)
        subprocess.run([sys.executable, __file__, "--populate", str(n_keys),
                        "--dirs", dc_dir, jl_dir], check=True, env=env)
        _memcache.CACHE.clear()
        f = _irohds_fn()
        f(-1)                       # warm: key derivation of the function
        cache, g = _diskcache_fn(dc_dir)
        g(-1)
        h = _joblib_fn(jl_dir)
        h(-1)
        keys = list(range(n_keys))
        t_ir = _median_each(f, keys)
        t_dc = _median_each(g, keys)
        t_jl = _median_each(h, keys[: min(n_keys, 500)])
        cache.close()
        assert f(3) == RESULT and g(3) == RESULT
        rows.append(("local-store hit", t_ir, "diskcache memoize", t_dc, "<= 0.5"))
        rows.append(("local-store hit", t_ir, "joblib.Memory", t_jl, "report"))

        # 3. one-off per process
        outs = []
        for _ in range(3 if a.quick else 7):
            r = subprocess.run([sys.executable, __file__, "--one-off"], check=True,
                               env=env, capture_output=True, text=True)
            outs.append(json.loads(r.stdout))
        imp = statistics.median(o["import"] for o in outs)
        first = statistics.median(o["first_key"] for o in outs)

        # 4. miss round trip vs bare echo
        miss = _irohds_fn()
        base = 10_000_000
        miss(base - 1)
        t_miss = _median_each(miss, range(base, base + (300 if a.quick else 2000)))
        t_echo = echo_round_trip("ipc://%s/echo.ipc" % tmp, 2000 if a.quick else 20000)
        rows.append(("miss (claim+put)", t_miss, "pyzmq ipc echo", t_echo, "report"))
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    print("| client bench | irohds | anchor | anchor time | ratio | target |")
    print("|---|---|---|---|---|---|")
    for what, t, anchor, ta, target in rows:
        print("| %s | %.2f us | %s | %.2f us | %.2f | %s |"
              % (what, t * 1e6, anchor, ta * 1e6, t / ta, target))
    print("| one-off per process | import %.1f ms + first key %.2f ms | | | | report |"
          % (imp * 1e3, first * 1e3))


if __name__ == "__main__":
    main()
