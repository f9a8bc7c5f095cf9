"""A process of tests/cluster/test_claims.py, run inside a node's network
namespace with that node's IROHDS_HOME:

    python3 claims_worker.py JSON_OPTIONS

Environment: CLAIMS_NODE (the node's name, written in every line),
CLAIMS_OUT (the shared file, outside every node's home: each run appends
one line "run NODE KEY", and, with notify, "done NODE KEY" once
notify_success returned), CLAIMS_SLOW (memo: seconds the function sleeps;
1). The memoized function reads these from the environment, not from
globals, so that its key is the same on every node.
Options: mode ("each", "memo" or "amemo": an async def memo), go (a path: write GO.ready.PID once imported, then start only once GO
exists, so that workers on all nodes start together), ns, n (keys "task-0000" ...), timeout (each's
lease, seconds), sleep (seconds per body), notify (call notify_success at
the end of each body), x (memo: the argument), log (a path: the
irohds logger's INFO lines go there, e.g. "waiting for it"). Prints one JSON line: {"ran", "pid", "value", "client"}.
"""
import json
import os
import sys
import time

import irohds
from irohds import _log
from irohds.coren import FnCost

# Far more work than fetching its small result: a waiter always fetches.
COSTLY = FnCost(flops=10 ** 15, mem_bytes=10 ** 15, peak_mem=1 << 20, result_bytes=1 << 10)
OPTS = json.loads(sys.argv[1])


def _append(line):
    fd = os.open(os.environ["CLAIMS_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@irohds.memo(min_seconds=0, cost=COSTLY)          # the default namespace ""
def slow(x):
    _append("run %s %s" % (os.environ["CLAIMS_NODE"], x))
    time.sleep(float(os.environ.get("CLAIMS_SLOW", "1")))
    return {"x": x, "squares": [x * x] * 3}


@irohds.memo(min_seconds=0, cost=COSTLY)
async def slow_async(x):
    import asyncio
    _append("run %s %s" % (os.environ["CLAIMS_NODE"], x))
    await asyncio.sleep(float(os.environ.get("CLAIMS_SLOW", "1")))
    return {"x": x, "squares": [x * x] * 3}


def run_each():
    keys = ["task-%04d" % i for i in range(OPTS["n"])]
    ran = 0
    for key in irohds.each(keys, ns=OPTS.get("ns", "claims"), timeout=OPTS.get("timeout", 3)):
        _append("run %s %s %d %.3f" % (os.environ["CLAIMS_NODE"], key, os.getpid(), time.time()))
        if OPTS.get("sleep"):
            time.sleep(OPTS["sleep"])
        if OPTS.get("notify"):
            irohds.notify_success(key)
            _append("done %s %s" % (os.environ["CLAIMS_NODE"], key))
        ran += 1
    return ran, None


def main():
    if OPTS.get("log"):
        import logging
        handler = logging.FileHandler(OPTS["log"])
        logging.getLogger("irohds").addHandler(handler)
        logging.getLogger("irohds").setLevel(logging.INFO)
    if OPTS.get("go"):
        with open("%s.ready.%d" % (OPTS["go"], os.getpid()), "w"):
            pass
        while not os.path.exists(OPTS["go"]):
            time.sleep(0.005)
    if OPTS["mode"] == "each":
        ran, value = run_each()
    elif OPTS["mode"] == "amemo":
        import asyncio
        ran, value = 0, asyncio.run(slow_async(OPTS.get("x", 7)))
    else:
        ran, value = 0, slow(OPTS.get("x", 7))
    print(json.dumps({"ran": ran, "pid": os.getpid(), "value": value,
                      "client": dict(_log.counters)}))


if __name__ == "__main__":
    main()
