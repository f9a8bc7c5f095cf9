"""Bounded memory (issue 8 item 12): a client that sends 20k gets of a
60 KB result and reads nothing, then disconnects, must not leave the
supervisor or the store holding its replies; and one client cannot hold
more than a bounded number of requests in flight ("overload").
"""
import os
import time

import psutil
import pytest
import zmq

from faults import broker_stats, call_ok, key_of, put, status, wait_for

GETS = 20000


def rss(pid):
    return psutil.Process(pid).memory_info().rss


def sanitized(pid):
    """True when pid runs with ASan's allocator (glibc's malloc_trim does
    not apply there)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def greedy(endpoint, key, count):
    """Send count gets without reading a single reply; returns the socket."""
    from irohds import _proto
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 0)        # never blocks sending; receives into the
                                          # default queue, which nobody reads
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    body = _proto.encode("get", key=key, want_path=0)
    for i in range(count):
        sock.send_multipart([b"IRC1", b"store", b"g%d" % i, body])
    return sock


def test_greedy_client_memory_given_back(daemon):
    c = daemon.client()
    try:
        key = key_of("60k")
        assert put(c, key, os.urandom(60 * 1000))[0] == "OK"
        rows = status(c)
        sup_pid, store_pid = rows["supervisor"]["pid"], rows["store"]["pid"]
        # Idle, after a few ordinary gets have warmed every path up.
        for _ in range(50):
            call_ok(c, "store", "get", key=key, want_path=0)
        time.sleep(6)           # one malloc_trim period
        idle_sup, idle_store = rss(sup_pid), rss(store_pid)
        sock = greedy(daemon.endpoint, key, GETS)
        try:
            wait_for(lambda: broker_stats(c)["requests"] >= GETS, 120, 0.5,
                     "the broker to take every get")
            wait_for(lambda: call_ok(c, "store", "ping") is not None, 60, 0.5, "store")
            peak_sup = rss(sup_pid)
        finally:
            sock.close(0)
        # Bounded while it lasted: replies beyond the queue were dropped.
        assert broker_stats(c)["dropped"] > 0
        if sanitized(sup_pid):
            pytest.skip("ASan keeps freed memory in its quarantine: RSS cannot come back "
                        "(peak sup %d)" % peak_sup)
        limit_sup, limit_store = 1.5 * idle_sup, 1.5 * idle_store

        def back():
            return rss(sup_pid) <= limit_sup and rss(store_pid) <= limit_store
        try:
            wait_for(back, 30, 0.5, "memory to be given back")
        except AssertionError:
            raise AssertionError("RSS idle sup %d store %d, peak sup %d, now sup %d store %d"
                                 % (idle_sup, idle_store, peak_sup, rss(sup_pid),
                                    rss(store_pid)))
        print("RSS idle sup %d store %d, peak sup %d, after sup %d store %d"
              % (idle_sup, idle_store, peak_sup, rss(sup_pid), rss(store_pid)))
        assert status(c)["store"]["restarts"] == 0
    finally:
        c.close()


def test_in_flight_cap_per_client(daemon):
    """Waits are held by the store; past the cap a client gets overload at
    once, and other clients are served normally."""
    from irohds import _proto
    c, w = daemon.client(), daemon.client()
    try:
        key = key_of("held")
        call_ok(c, "store", "claim", key=key, holder="1@nowhere/x", lease_ms=60000)
        rids = [w.send("store", "wait", key=key, timeout_ms=60000) for _ in range(1100)]
        overloads = 0
        for rid in rids[1000:]:
            st, frames = w.recv(rid, timeout=10.0)
            assert st == "ERR" and frames[0] == b"overload", (st, frames)
            overloads += 1
        assert overloads == 100
        assert broker_stats(c)["overload_inflight"] == 100
        call_ok(c, "store", "ping")          # another client is not held up
        call_ok(c, "store", "release", key=key, holder="1@nowhere/x")
        for rid in rids[:1000]:
            st, frames = w.recv(rid, timeout=20.0)
            assert st == "OK" and _proto.decode(frames[0], "wait_reply")[1]["status"] == 2
        # Answered: the client may send again.
        call_ok(w, "store", "ping")
    finally:
        c.close()
        w.close()
