"""Memoized functions run in fresh processes by the client tests.

Every computation appends one line to the file named by $IRH_COUNT, so a
test counts real executions across processes. Run as
    python3 memo_worker.py FUNCTION JSON_ARGS
it prints one JSON line: {"value": ..., "warnings": [...], "pid": ...}.
"""
import json
import os
import sys
import time
import warnings

import irohds


def _mark(tag):
    fd = os.open(os.environ["IRH_COUNT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (tag + "\n").encode())
    finally:
        os.close(fd)


@irohds.memo
def square(x):
    _mark("square %r" % (x,))
    return {"x": x, "sq": x * x, "pad": "p" * 1024}


@irohds.memo
def slow(x, delay):
    _mark("slow %r" % (x,))
    time.sleep(delay)
    return x * 3


@irohds.memo
def array(n):
    import numpy as np
    _mark("array %r" % (n,))
    return {"a": np.arange(n, dtype=np.int64) * 7, "n": n}


@irohds.memo
def make_file(text):
    _mark("make_file %r" % (text,))
    path = irohds.resolve("out.txt")
    with open(path, "w") as f:
        f.write(text)
    return irohds.FileRef(path)


@irohds.memo(refresh=os.environ.get("IRH_REFRESH") == "1")
def stamp(path):
    _mark("stamp %r" % (path,))
    with open(path) as f:
        return f.read()


@irohds.memo
def boom(x):
    _mark("boom %r" % (x,))
    raise ValueError("boom %r" % (x,))


def _jsonable(v):
    if isinstance(v, irohds.FileRef):
        with open(v.path) as f:
            return {"fileref": v.path, "content": f.read(),
                    "writable": os.access(v.path, os.W_OK)}
    if isinstance(v, dict) and "a" in v:
        return {"sum": int(v["a"].sum()), "len": int(len(v["a"])), "n": v["n"],
                "last": int(v["a"][-1])}
    return v


def main():
    name, args = sys.argv[1], json.loads(sys.argv[2])
    fn = globals()[name.split(":")[-1]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        key = fn.key(*args)
        try:
            if name.startswith("evict:"):
                value = fn.evict()
            else:
                value = _jsonable(fn(*args))
            error = None
        except Exception as e:
            value, error = None, "%s: %s" % (type(e).__name__, e)
    msgs = [str(w.message) for w in caught if issubclass(w.category, irohds.IrohdsWarning)]
    print(json.dumps({"value": value, "error": error, "warnings": msgs, "pid": os.getpid(),
                      "key": key}))


if __name__ == "__main__":
    main()
