#!/usr/bin/python3
"""Run the irohds benchmarks side by side with their anchors, in one run,
and print every figure as a ratio (docs/BENCHMARKS.md records the output).

usage: /usr/bin/python3 bench/run.py [--build BUILD] [--quick] [--only NAME,...]

Benchmarks (NAME):
  blake3   BLAKE3 of a 1 GiB file vs `b3sum --num-threads 1` (throughput ratio)
  store    store put+get through the broker vs a bare DEALER<->ROUTER ipc echo,
           1 KiB and 100 MiB values (time ratio)
  rss      idle RSS of irohds-daemon + irohds-store
  client   the Python client's benchmark (bench/bench_client.py)
  machcap  MachCap's measurements vs reference loops (bench/bench_machcap.py)

Every daemon started here uses a temp home with LAN discovery off and is
stopped (by pid) and removed at the end, also on failure.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def bench_blake3(build, quick):
    size = (256 if quick else 1024) << 20
    rounds = 3 if quick else 5
    tmp = tempfile.mkdtemp(prefix="irh-bench-")
    path = os.path.join(tmp, "data.bin")
    try:
        with open(path, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
        ours_exe = os.path.join(build, "bench", "irohds-bench-blake3")
        run([ours_exe, path, "1"])                          # warm the page cache
        ours, theirs, digest_ours, digest_theirs = [], [], None, None
        for _ in range(rounds):                             # interleave the two
            out = run([ours_exe, path, "1"]).split()
            digest_ours = out[0]
            ours.append(float(out[1]))
            start = time.perf_counter()
            digest_theirs = run(["b3sum", "--num-threads", "1", "--no-names", path]).split()[0]
            theirs.append(time.perf_counter() - start)
        if digest_ours != digest_theirs:
            raise SystemExit("BLAKE3 digests differ: %s vs %s" % (digest_ours, digest_theirs))
        o, t = statistics.median(ours), statistics.median(theirs)
        gib = size / (1 << 30)
        return [("blake3", "BLAKE3 %.2g GiB file, 1 thread" % gib,
                 "%.0f MiB/s" % (size / o / (1 << 20)), "b3sum --num-threads 1: %.0f MiB/s"
                 % (size / t / (1 << 20)), t / o, ">= 0.9 (throughput, ours/b3sum)")]
    finally:
        try:
            os.unlink(path)
        finally:
            os.rmdir(tmp)


def _daemon(build):
    os.environ["IROHDS_BUILD"] = build
    os.environ["IROHDS_LAN"] = "0"
    sys.path.insert(0, os.path.join(build, "python"))
    sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))
    import irohds_test
    return irohds_test


def bench_store(build, quick):
    t = _daemon(build)
    rows = []
    exe = os.path.join(build, "bench", "irohds-bench-store")
    with t.Daemon() as d:
        for size, iters, label in ((1024, 300 if quick else 3000, "1 KiB"),
                                   (100 << 20, 3 if quick else 9, "100 MiB")):
            echo_path = os.path.join(d.home, "run", "echo.ipc")
            echo = run([exe, "echo", echo_path, str(size), str(iters)]).split()
            store = run([exe, "store", d.endpoint, str(size), str(iters)]).split()
            e, s = float(echo[0]), float(store[0])
            rows.append(("store", "put+get %s via broker, content in frames" % label,
                         "%.1f us" % (s * 1e6), "DEALER<->ROUTER ipc echo: %.1f us" % (e * 1e6),
                         s / e, "<= 2.5 (time, ours/echo)"))
            if size > (64 << 10):
                staged = run([exe, "staged", d.endpoint, d.home, str(size), str(iters)]).split()
                g = float(staged[0])
                rows.append(("store", "put+get %s via broker, staged file + path (client's "
                             "path past store.inline_max)" % label, "%.1f us" % (g * 1e6),
                             "DEALER<->ROUTER ipc echo: %.1f us" % (e * 1e6), g / e,
                             "<= 2.5 (time, ours/echo)"))
    return rows


def bench_rss(build, quick):
    t = _daemon(build)
    with t.Daemon() as d:
        time.sleep(2 if quick else 5)
        c = d.client()
        try:
            status, frames = c.call("sup", "status")
        finally:
            c.close()
        from irohds._transport import parse_table
        rss = {row["name"]: row["rss_bytes"] for row in parse_table(frames)}
        total = rss["supervisor"] + rss["store"]
        return [("rss", "idle RSS daemon + store", "%.1f MiB" % (total / (1 << 20)),
                 "target 20 MiB", total / (20 << 20), "<= 1.0 (of 20 MiB)")]


def bench_script(name, build, quick):
    script = os.path.join(HERE, "bench_%s.py" % name)
    env = dict(os.environ, IROHDS_BUILD=build,
               PYTHONPATH=os.path.join(build, "python"), IROHDS_LAN="0")
    args = [sys.executable, script] + (["--quick"] if quick else [])
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    print(out.stdout, end="")
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        raise SystemExit("%s failed" % script)
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="blake3,store,rss,client,machcap")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    rows = []
    for name in a.only.split(","):
        if name == "blake3":
            rows += bench_blake3(build, a.quick)
        elif name == "store":
            rows += bench_store(build, a.quick)
        elif name == "rss":
            rows += bench_rss(build, a.quick)
        elif name in ("client", "machcap"):
            rows += bench_script(name, build, a.quick)
        else:
            raise SystemExit("unknown benchmark %s" % name)
    if rows:
        print("| bench | what | irohds | anchor | ratio | target |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print("| %s | %s | %s | %s | %.3f | %s |" % r)


if __name__ == "__main__":
    main()
