#!/usr/bin/python3
"""A short demo of irohds: the same slow function called from fresh
processes. The first process computes; every later one gets the stored
result in milliseconds. Run by scripts/quickstart.sh against the running
daemon; safe to run again (it evicts its own results first).

usage: /usr/bin/python3 scripts/demo.py   (PYTHONPATH must hold build/python)
"""
import os
import subprocess
import sys
import tempfile
import textwrap

MODULE = textwrap.dedent('''
    import time
    import irohds

    @irohds.memo(ns="demo", min_seconds=0)
    def simulate(n_steps, seed=7):
        """Stands in for hours of ETL, training or simulation."""
        time.sleep(1.5)
        x = seed
        for _ in range(n_steps):
            x = (x * 1103515245 + 12345) % 2**31
        return {"steps": n_steps, "state": x}
''')

CALLER = textwrap.dedent('''
    import sys, time, json
    sys.path.insert(0, sys.argv[1])
    import demo_pipeline
    t = time.perf_counter()
    value = demo_pipeline.simulate(200_000)
    print(json.dumps({"seconds": time.perf_counter() - t, "value": value,
                      "key": demo_pipeline.simulate.key(200_000)}))
''')


def main():
    import json
    workdir = tempfile.mkdtemp(prefix="irohds-demo-")
    try:
        with open(os.path.join(workdir, "demo_pipeline.py"), "w") as f:
            f.write(MODULE)
        sys.path.insert(0, workdir)
        import demo_pipeline
        demo_pipeline.simulate.evict()
        print("irohds demo: simulate(200_000) from three fresh processes")
        results = []
        for i in range(3):
            out = subprocess.run([sys.executable, "-c", CALLER, workdir], capture_output=True,
                                 text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = results[-1]
            how = "computed" if i == 0 else "from the store"
            print("  process %d: %8.1f ms  %-15s value=%s" % (i + 1, r["seconds"] * 1000, how,
                                                              r["value"]))
        assert all(r["value"] == results[0]["value"] for r in results), "values differ!"
        speedup = results[0]["seconds"] / max(results[-1]["seconds"], 1e-9)
        print("  key %s...  later calls %.0fx faster (a fresh process's first call" %
              (results[0]["key"][:16], speedup))
        print("  includes its one-off cost: hashing the function's code for its identity)")
        print("Across nodes: daemons already find each other and track who is alive")
        print("(next: two nodes in namespaces, docs/peers.md); fetching a result from")
        print("a peer instead of computing it is the next step, so today each node")
        print("shares through its own daemon's store.")
    finally:
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
