"""Fault-injection tools for the reliability suite (tests/reliability/):
a small tmpfs home (disk full), page corruption of the store's data.mdb,
FIFOs and hard links in staging, and helpers reading the daemon's tables.
Every tool cleans up after itself, also on failure.
"""
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Client, Daemon, binary, make_home  # noqa: E402,F401

PAGE = 4096


def table(frames):
    """Rows of a table reply (proto/README.md, tables): a list of dicts."""
    head = frames[0].decode().split("\t")[1:]
    cols = [c.split(":") for c in head]
    rows = []
    for frame in frames[1:]:
        cells = frame.decode(errors="replace").split("\t")
        rows.append({name: (int(v) if kind == "u" else v)
                     for (name, kind), v in zip(cols, cells)})
    return rows


def call_ok(client, service, name, timeout=10.0, **fields):
    status, frames = client.call(service, name, timeout=timeout, **fields)
    assert status == "OK", (status, frames)
    return frames


def named(rows):
    return {r["name"]: r["value"] for r in rows}


def store_stats(client):
    return named(table(call_ok(client, "store", "stats")))


def store_info(client):
    return named(table(call_ok(client, "store", "info")))


def broker_stats(client):
    return named(table(call_ok(client, "sup", "broker_stats")))


def status(client):
    return {r["name"]: r for r in table(call_ok(client, "sup", "status"))}


def key_of(text):
    import hashlib
    return hashlib.blake2b(text.encode(), digest_size=32).digest()


def put(client, key, content, fn="rel.f", timeout=10.0, **fields):
    """put src=0; returns (status, frames)."""
    return client.call("store", "put", extra=[content], timeout=timeout, key=key, src=0,
                       path="", codec="raw", fn=fn, ns="", **fields)


def put_path(client, key, path, fn="rel.f", timeout=10.0, **fields):
    return client.call("store", "put", timeout=timeout, key=key, src=1, path=path,
                       codec="raw", fn=fn, ns="", **fields)


def get(client, key, timeout=10.0):
    """('hit', content) / ('miss', reason) / (status, frames)."""
    from irohds import _proto
    status, frames = client.call("store", "get", timeout=timeout, key=key, want_path=0)
    if status != "OK":
        return status, frames
    name, msg = _proto.decode(frames[0])
    if name == "miss":
        return "miss", msg["reason"]
    return "hit", frames[2] if len(frames) > 2 else None


def wait_for(predicate, timeout, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(step)


def corrupt_pages(path, first, last, seed=1):
    """Random bytes over pages first..last (inclusive) of an LMDB file."""
    rnd = random.Random(seed)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for page in range(first, last + 1):
            if page * PAGE >= size:
                break
            f.seek(page * PAGE)
            f.write(bytes(rnd.getrandbits(8) for _ in range(PAGE)))


@contextlib.contextmanager
def tmpfs(size="16m"):
    """A tmpfs of `size` mounted on a fresh directory, always unmounted.
    Needs root (skips the calling test otherwise)."""
    import pytest
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    where = tempfile.mkdtemp(prefix="irh-fs-", dir="/tmp")
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                         where], capture_output=True, text=True)
    if rc.returncode != 0:
        os.rmdir(where)
        pytest.skip("cannot mount a tmpfs: %s" % rc.stderr.strip())
    try:
        yield where
    finally:
        for _ in range(50):
            if subprocess.run(["umount", where], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", where], capture_output=True)
        os.rmdir(where)


def fill(directory, name="filler"):
    """Write zeros into directory/name until the filesystem is full."""
    path = os.path.join(directory, name)
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return path
