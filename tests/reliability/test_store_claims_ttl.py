"""The store's halves of issue 7: a waiter is not held up by a dead local
holder (defect 5), a client's touch is a local hit and an access
(defect 4), and TTLs count from the last access (defect 7), through the
real daemon.
"""
import os
import socket
import subprocess
import time
import uuid

import pytest

from faults import Daemon, get, key_of, put, store_stats, table, call_ok


def holder_for(pid):
    """A holder string as the Python client makes it."""
    return "%d@%s/%s" % (pid, socket.gethostname()[:64], uuid.uuid4().hex)


def decode(frames, name):
    from irohds import _proto
    return _proto.decode(frames[0], name)[1]


def test_waiter_released_when_holder_dies(daemon):
    key = key_of("dead-holder")
    holder = subprocess.Popen(["sleep", "120"])
    c, w = daemon.client(), daemon.client()
    try:
        reply = decode(call_ok(c, "store", "claim", key=key, holder=holder_for(holder.pid),
                               lease_ms=60000), "claim_reply")
        assert reply["status"] == 0
        rid = w.send("store", "wait", key=key, timeout_ms=30000)
        time.sleep(0.3)
        holder.kill()
        holder.wait()
        killed = time.monotonic()
        st, frames = w.recv(rid, timeout=10.0)
        elapsed = time.monotonic() - killed
        assert st == "OK" and decode(frames, "wait_reply")["status"] == 2
        assert elapsed < 2.0, "waiter held %.1f s after its holder died" % elapsed
        # The key is free for the waiter now.
        reply = decode(call_ok(w, "store", "claim", key=key, holder=holder_for(os.getpid()),
                               lease_ms=60000), "claim_reply")
        assert reply["status"] == 0
        assert store_stats(c)["claims_dead"] == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        c.close()
        w.close()


def test_claim_of_dead_holder_granted_at_once(daemon):
    key = key_of("dead-claim")
    holder = subprocess.Popen(["sleep", "120"])
    c = daemon.client()
    try:
        mine = holder_for(holder.pid)
        assert decode(call_ok(c, "store", "claim", key=key, holder=mine, lease_ms=60000),
                      "claim_reply")["status"] == 0
        other = holder_for(os.getpid())
        # Alive: held.
        assert decode(call_ok(c, "store", "claim", key=key, holder=other, lease_ms=60000),
                      "claim_reply")["status"] == 1
        holder.kill()
        holder.wait()
        assert decode(call_ok(c, "store", "claim", key=key, holder=other, lease_ms=60000),
                      "claim_reply")["status"] == 0
        # Another host's holder, or a holder in another form, is never reaped.
        key2 = key_of("remote")
        remote = "%d@not-%s/%s" % (holder.pid, socket.gethostname()[:60], "u")
        assert decode(call_ok(c, "store", "claim", key=key2, holder=remote, lease_ms=60000),
                      "claim_reply")["status"] == 0
        assert decode(call_ok(c, "store", "claim", key=key2, holder=other, lease_ms=60000),
                      "claim_reply")["status"] == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        c.close()


def ls_row(c, key):
    for row in table(call_ok(c, "store", "ls", fn="", limit=0)):
        if row["key"] == key.hex():
            return row
    return None


def test_touch_is_a_local_hit_and_an_access(daemon):
    key = key_of("touched")
    c = daemon.client()
    try:
        assert put(c, key, b"value")[0] == "OK"
        created = ls_row(c, key)["created_us"]
        before = store_stats(c)
        time.sleep(0.05)
        call_ok(c, "store", "touch", key=key)
        after = store_stats(c)
        assert after["hits_local"] == before["hits_local"] + 1
        time.sleep(0.3)         # touches are written every 100 ms
        assert ls_row(c, key)["accessed_us"] > created
        # A touch of a key that is not stored is no hit.
        call_ok(c, "store", "touch", key=key_of("absent"))
        assert store_stats(c)["hits_local"] == after["hits_local"]
    finally:
        c.close()


def keep_alive(c, key, seconds, how):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if how == "get":
            assert get(c, key)[0] == "hit"
        else:
            call_ok(c, "store", "touch", key=key)
        time.sleep(0.25)


@pytest.mark.parametrize("how", ["get", "touch"])
def test_put_ttl_ms_counts_from_last_access(daemon, how):
    key = key_of("ttl-" + how)
    c = daemon.client()
    try:
        assert put(c, key, b"short idle life", ttl_ms=1500)[0] == "OK"
        keep_alive(c, key, 3.5, how)            # well past 1.5 s since the put
        assert get(c, key)[0] == "hit"
        time.sleep(2.5)                         # idle longer than the TTL
        assert get(c, key)[0] == "miss"     # expired (or already swept)
    finally:
        c.close()


def test_default_ttl_counts_from_last_access():
    d = Daemon()
    with open(os.path.join(d.home, "config.toml"), "a") as f:
        f.write("[store]\ndefault_ttl = 1500ms\n")
    try:
        d.start()
        c = d.client()
        try:
            key = key_of("default-ttl")
            assert put(c, key, b"x")[0] == "OK"
            keep_alive(c, key, 3.5, "get")
            assert get(c, key)[0] == "hit"
            time.sleep(2.5)
            assert get(c, key)[0] == "miss"     # expired (or already swept)
        finally:
            c.close()
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()
