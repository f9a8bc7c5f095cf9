#!/usr/bin/python3
"""bench_machcap: how good and how fast is irohds-capability's measurement?

Runs side by side, alternating, in the same run (DESIGN §8: ratios, never
absolute times):
  - irohds-capability (standalone, temp home) `remeasure` -> mem_bw and the
    total measurement wall time;
  - bench/ref_triad.c, an independent plain-C pthreads STREAM triad,
    compiled here with the system compiler, at the actor's array size and
    at 1 GiB per array (far beyond any LLC);
  - `sysbench memory` (write, large blocks, same threads) when installed.
Prints medians and the ratio actor / reference (target within +-15%) and
the measurement wall time (target <= 2 s).

usage: bench_machcap.py [--build DIR] [--rounds N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("IROHDS_BUILD",
                                                       os.path.join(SOURCE, "build")))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sys.path[:0] = [os.path.join(args.build, "python"), os.path.join(SOURCE, "tests", "support")]
    os.environ["IROHDS_BUILD"] = args.build     # where irohds_test finds the binaries
    from irohds import _proto
    from irohds_test import Actor, Client

    work = tempfile.mkdtemp(prefix="irh-bench-", dir="/tmp")
    ref = os.path.join(work, "ref_triad")
    subprocess.run(["cc", "-O3", "-pthread", os.path.join(HERE, "ref_triad.c"), "-o", ref],
                   check=True)
    actor = Actor("irohds-capability", "cap")
    client = None
    try:
        actor.start(timeout=30)
        client = Client(actor.endpoint)
        status, frames = client.call("cap", "machcap", timeout=10)
        info = _proto.decode(frames[0])[1]
        cores = info["cores"]
        # The actor's triad arrays: 512 MiB total (3 arrays) unless RAM is short.
        mib_actor = max(16, min(512, info["ram_avail"] // 4 >> 20) // 3)
        actor_bw, walls, ref_same, ref_big, sysb = [], [info["measure_wall_us"] / 1e6], [], [], []
        have_sysbench = shutil.which("sysbench") is not None
        for r in range(args.rounds):
            status, frames = client.call("cap", "remeasure", timeout=60)
            m = _proto.decode(frames[0])[1]
            actor_bw.append(m["mem_bw"])
            walls.append(m["measure_wall_us"] / 1e6)
            out = subprocess.run([ref, str(cores), str(mib_actor), "5"], capture_output=True,
                                 text=True, check=True)
            ref_same.append(float(out.stdout))
            out = subprocess.run([ref, str(cores), "1024", "3"], capture_output=True,
                                 text=True, check=True)
            ref_big.append(float(out.stdout))
            if have_sysbench:
                out = subprocess.run(["sysbench", "memory", "--threads=%d" % cores,
                                      "--memory-block-size=64M", "--memory-total-size=8G",
                                      "--memory-oper=write", "run"],
                                     capture_output=True, text=True)
                found = re.search(r"\(([\d.]+) MiB/sec\)", out.stdout)
                if found:
                    sysb.append(float(found.group(1)) * (1 << 20))
            print("round %d: actor %.2f GB/s, ref(%d MiB) %.2f GB/s, ref(1 GiB) %.2f GB/s%s, "
                  "measurement %.2f s" % (r + 1, actor_bw[-1] / 1e9, mib_actor,
                                          ref_same[-1] / 1e9, ref_big[-1] / 1e9,
                                          (", sysbench %.2f GB/s" % (sysb[-1] / 1e9)) if sysb
                                          else "", walls[-1]), flush=True)
        med = statistics.median
        a = med(actor_bw)
        print()
        print("threads                       %d" % cores)
        print("actor triad (median)          %.2f GB/s" % (a / 1e9))
        print("ref_triad same size (median)  %.2f GB/s   ratio %.3f" % (med(ref_same) / 1e9,
                                                                       a / med(ref_same)))
        print("ref_triad 1 GiB/array         %.2f GB/s   ratio %.3f" % (med(ref_big) / 1e9,
                                                                       a / med(ref_big)))
        if sysb:
            print("sysbench memory write         %.2f GB/s   ratio %.3f" % (med(sysb) / 1e9,
                                                                           a / med(sysb)))
        print("best of rounds (a shared machine steals from some runs): actor %.2f, "
              "ref same %.2f (ratio %.3f), ref 1 GiB %.2f (ratio %.3f) GB/s"
              % (max(actor_bw) / 1e9, max(ref_same) / 1e9, max(actor_bw) / max(ref_same),
                 max(ref_big) / 1e9, max(actor_bw) / max(ref_big)))
        print("measurement wall: median %.2f s, max %.2f s (first, at start: %.2f s)"
              % (med(walls), max(walls), walls[0]))
        print("load average now: %s" % open("/proc/loadavg").read().split()[:3])
    finally:
        if client is not None:
            client.close()
        try:
            actor.stop()
        finally:
            actor.cleanup()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
