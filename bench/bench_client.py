#!/usr/bin/python3
"""Benchmark of the Python client against its anchors, side by side in one
run: ratios, never absolute targets.

    in-process hit     vs functools.lru_cache(typed=True)      target <= 2x
    local-store hit    vs diskcache memoize                     target <= 0.5x
                       vs joblib.Memory                         (reported)
    dict / numpy argument (lru_cache cannot take them), reported:
      in-process hit   vs diskcache memoize, joblib.Memory (same argument)
      local-store hit  vs diskcache memoize, joblib.Memory (same argument)
    one-off per process: import irohds + first key (function identity)
    miss round trip (claim + compute + put) vs a bare pyzmq ipc echo

Same 1 KiB result everywhere; small arguments, except the argument rows:
a training-config dict (the shape of `train(config)`) and an 80 KB float64
array. The local-store hits are stored by ANOTHER process first, then read
once each (many distinct keys) by this one, whose in-process tier has
never seen them. A row irohds cannot run (e.g. an argument type the client
refuses) prints the error in place of its time instead of ending the run.

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


def _time_per_call(fn, budget_s=0.3, repeat=5):
    """Median per-call time of fn() over `repeat` batches sized so that a
    batch takes about budget_s / repeat (joblib's hit is ~1000x slower than
    an in-process hit: one fixed call count does not fit both)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(5, min(200000, int(budget_s / repeat / once)))
    return _median_per_call(fn, calls, repeat)


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


# ---- non-hashable arguments: same argument objects in every process

ARG_KINDS = ("dict", "numpy")


def make_args(kind, n):
    """n distinct arguments of one kind, identical in every process."""
    if kind == "dict":
        return [{"lr": 0.1, "epochs": 10, "layers": [64, 64, 32], "dropout": 0.25,
                 "optimizer": "adam", "seed": i} for i in range(n)]
    import numpy
    base = numpy.arange(10000, dtype=numpy.float64)        # 80 KB
    return [base + i for i in range(n)]


def _irohds_arg_fn(kind):
    import irohds

    @irohds.memo(min_seconds=0, ns="bench-" + kind)
    def arg_hit(arg):
        return RESULT
    return arg_hit


def _diskcache_arg_fn(d, kind):
    import diskcache
    cache = diskcache.Cache(os.path.join(d, kind))

    @cache.memoize(typed=True)
    def dc_arg_hit(arg):
        return RESULT
    return cache, dc_arg_hit


def _joblib_arg_fn(d, kind):
    import joblib
    mem = joblib.Memory(os.path.join(d, kind), verbose=0)

    def jl_arg_hit(arg):
        return RESULT
    return mem.cache(jl_arg_hit)


def populate(n, n_args, dc_dir, jl_dir):
    """Child mode: store n results through each library, and n_args per
    argument kind."""
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
    for kind in ARG_KINDS:
        args = make_args(kind, n_args)
        try:
            f = _irohds_arg_fn(kind)
            for a in args:
                f(a)
        except Exception as exc:   # reported by the parent, which tries again
            print("populate: irohds %s argument: %s: %s" % (kind, type(exc).__name__, exc),
                  file=sys.stderr)
        cache, g = _diskcache_arg_fn(dc_dir, kind)
        for a in args:
            g(a)
        cache.close()
        h = _joblib_arg_fn(jl_dir, kind)
        for a in args:
            h(a)


def _irohds_or_error(measure):
    """measure() -> seconds, or the error as text when irohds refuses."""
    try:
        return measure()
    except Exception as exc:
        return "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:60])


def arg_rows(kind, n_args, dc_dir, jl_dir):
    """Rows for one argument kind: irohds' in-process and local-store hits
    against diskcache's and joblib's hits with the same arguments."""
    args = make_args(kind, n_args)
    f = _irohds_arg_fn(kind)
    cache, g = _diskcache_arg_fn(dc_dir, kind)
    h = _joblib_arg_fn(jl_dir, kind)
    # Local-store hits: each argument once (stored by the populate child).
    t_local = _irohds_or_error(lambda: _median_each(f, args))
    t_dc_each = _median_each(g, args)
    t_jl_each = _median_each(h, args[: min(n_args, 200)])
    # In-process hits: one argument again and again (the others' "hit" is
    # their only tier, the disk).
    one = args[0]
    t_mem = _irohds_or_error(lambda: _time_per_call(lambda: f(one)))
    t_dc = _time_per_call(lambda: g(one))
    t_jl = _time_per_call(lambda: h(one))
    cache.close()
    what = "%s arg" % kind
    return [("in-process hit, " + what, t_mem, "diskcache memoize", t_dc, "report"),
            ("in-process hit, " + what, t_mem, "joblib.Memory", t_jl, "report"),
            ("local-store hit, " + what, t_local, "diskcache memoize", t_dc_each, "report"),
            ("local-store hit, " + what, t_local, "joblib.Memory", t_jl_each, "report")]


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
    ap.add_argument("--populate", type=int, nargs=2, metavar=("N", "N_ARGS"))
    ap.add_argument("--dirs", nargs=2)
    ap.add_argument("--one-off", action="store_true")
    a = ap.parse_args()
    if a.populate is not None:
        return populate(a.populate[0], a.populate[1], *a.dirs)
    if a.one_off:
        return one_off()

    import irohds_test
    n_keys = 300 if a.quick else 2000
    n_args = 50 if a.quick else 200
    calls = 20000 if a.quick else 200000
    d = irohds_test.Daemon()
    tmp = tempfile.mkdtemp(prefix="irh-bc-")
    rows = []
    try:
        d.start()
        os.environ.update(irohds_test.test_env(d.home))
        import irohds

        # 1. in-process hit vs lru_cache(typed=True)
        lru = functools.lru_cache(maxsize=None, typed=True)(work)
        mem = irohds.mem(work)
        lru(1, "x")
        mem(1, "x")
        t_lru = _median_per_call(lambda: lru(1, "x"), calls)
        t_mem = _median_per_call(lambda: mem(1, "x"), calls)
        rows.append(("in-process hit", t_mem, "lru_cache(typed)", t_lru, "<= 2"))

        # 2. local-store hit, stored by another process
        dc_dir, jl_dir = os.path.join(tmp, "dc"), os.path.join(tmp, "jl")
        env = dict(os.environ)
        subprocess.run([sys.executable, __file__, "--populate", str(n_keys), str(n_args),
                        "--dirs", dc_dir, jl_dir], check=True, env=env)
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

        # 2b. arguments lru_cache cannot take
        for kind in ARG_KINDS:
            rows.extend(arg_rows(kind, n_args, dc_dir, jl_dir))

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
        if isinstance(t, str):      # irohds could not run this row
            print("| %s | %s | %s | %.2f us | n/a | %s |"
                  % (what, t, anchor, ta * 1e6, target))
        else:
            print("| %s | %.2f us | %s | %.2f us | %.2f | %s |"
                  % (what, t * 1e6, anchor, ta * 1e6, t / ta, target))
    print("| one-off per process | import %.1f ms + first key %.2f ms | | | | report |"
          % (imp * 1e3, first * 1e3))


if __name__ == "__main__":
    main()
