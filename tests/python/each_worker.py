"""A process running one irohds.each pass, for tests/python/test_each.py.

    python3 each_worker.py JSON_OPTIONS

Options: ns, n (keys "task-0000" ...), timeout, wait, sleep (seconds per
body), out (file this process appends "start KEY" / "end KEY" lines to),
hang_after (a count: the key after that many, this process writes to
out + ".hang" and then sleeps for ever, holding it), go (a path: start the pass only once it exists, so that several
workers start together). Prints one JSON line: {"ran": count, "pid": pid, "client": counters}.
"""
import json
import os
import sys
import time

import irohds
from irohds import _log


def _append(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def main():
    opts = json.loads(sys.argv[1])
    keys = ["task-%04d" % i for i in range(opts["n"])]
    ran = 0
    while opts.get("go") and not os.path.exists(opts["go"]):
        time.sleep(0.005)
    for key in irohds.each(keys, ns=opts["ns"], timeout=opts.get("timeout", 60),
                           wait=opts.get("wait", False)):
        _append(opts["out"], "start " + key)
        if opts.get("hang_after") is not None and ran == opts["hang_after"]:
            _append(opts["out"] + ".hang", key)
            while True:
                time.sleep(60)
        if opts.get("sleep"):
            time.sleep(opts["sleep"])
        _append(opts["out"], "end " + key)
        ran += 1
    print(json.dumps({"ran": ran, "pid": os.getpid(), "client": dict(_log.counters)}))


if __name__ == "__main__":
    main()
