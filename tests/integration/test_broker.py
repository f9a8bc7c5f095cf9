"""The broker inside irohds-daemon against bad input and concurrency:
every rejection gets a prompt ERR (or is dropped and counted when no reply
is possible), counters in `sup broker_stats` go up, and the daemon keeps
serving. Uses the echo test actor (supervisor/echo_actor.c)."""
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_supervisor import ECHO, EchoDaemon  # noqa: E402
from test_supervisor import broker_stats as stats, configured_daemon, status, wait_for  # noqa: E402,E501
from irohds_test import serve  # noqa: E402
from puppet import Puppet, actors_entry  # noqa: E402

LIMIT = 1048576


@pytest.fixture
def daemon():
    yield from serve(configured_daemon("[broker]\nmax_message = %d\n" % LIMIT))


@pytest.fixture
def client(daemon):
    c = daemon.client()
    try:
        yield c
    finally:
        c.close()


def raw(c, frames, rid, timeout=2.0):
    c.sock.send_multipart(frames)
    return c.recv(rid, timeout)


def test_rejections_are_answered_and_counted(client):
    before = stats(client)
    cases = [
        # (frames, rid the reply carries, error code, counter)
        ([b"IRC9", b"echo", b"r1", b"x"], b"r1", b"version", "version"),
        ([b"garbage"], b"?", b"version", "version"),
        ([b"IRC1", b"echo", b"r2"], b"r2", b"malformed", "malformed"),
        ([b"IRC1"], b"?", b"malformed", "malformed"),
        ([b"IRC1", b"Bad Service!", b"r3", b"x"], b"r3", b"malformed", "malformed"),
        ([b"IRC1", b"echo", b"x" * 33, b"x"], b"?", b"malformed", "malformed"),
        ([b"IRC1", b"echo", b"r4", b"x" * (LIMIT + 1)], b"r4", b"too-big", "too_big"),
        ([b"IRC1", b"nosuch", b"r5", b"x"], b"r5", b"unknown-service", "unknown_service"),
    ]
    for frames, rid, code, _ in cases:
        started = time.monotonic()
        st, rest = raw(client, frames, rid)
        assert st == "ERR" and rest[0] == code, (frames[:3], rest)
        assert len(rest) == 2 and rest[1]
        assert time.monotonic() - started < 1.0
    after = stats(client)
    for counter in {c[3] for c in cases}:
        expected = sum(1 for c in cases if c[3] == counter)
        assert after[counter] - before[counter] == expected, counter
    # Unknown command to a service: the service answers ERR.
    st, rest = raw(client, [b"IRC1", b"sup", b"r6", b"\x7f"], b"r6")
    assert st == "ERR" and rest[0] == b"unknown-command"
    st, rest = raw(client, [b"IRC1", b"sup", b"r7", b"\x03extra"], b"r7")
    assert st == "ERR" and rest[0] == b"bad-request"
    st, rest = raw(client, [b"IRC1", b"echo", b"r8", b"error"], b"r8")
    assert st == "ERR" and rest[0] == b"unknown-command"
    # Still serving.
    assert client.call("echo", "ping")[0] == "OK"
    assert client.call("sup", "ping")[0] == "OK"


def test_random_frames_never_hurt(client):
    rng = random.Random(1234)
    sent = 0
    for _ in range(300):
        n = rng.randint(0, 8)
        frames = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
                  for _ in range(n)]
        if rng.random() < 0.5 and frames:
            frames[0] = rng.choice([b"IRC1", b"IRW1"])
        if not frames:
            frames = [b""]
        client.sock.send_multipart(frames)
        sent += 1
    # Drain whatever came back, then the daemon must still answer.
    time.sleep(0.3)
    while client.sock.poll(100):
        client.sock.recv_multipart()
    assert client.call("sup", "ping")[0] == "OK"
    assert client.call("echo", "ping")[0] == "OK"
    s = stats(client)
    assert s["malformed"] + s["version"] + s["worker_malformed"] + s["worker_unknown"] \
        + s["unknown_service"] + s["requests"] > 0


def test_out_of_order_replies(client):
    rng = random.Random(42)
    expected = {}
    for i in range(100):
        rid = b"ooo-%03d" % i
        body = b"delay:%d:%d" % (rng.randint(0, 300), i)
        expected[rid] = body
        client.sock.send_multipart([b"IRC1", b"echo", rid, body])
    order = []
    deadline = time.monotonic() + 10
    while len(order) < 100 and time.monotonic() < deadline:
        if client.sock.poll(500):
            frames = client.sock.recv_multipart()
            assert frames[0] == b"IRC1" and frames[1] == b"echo" and frames[3] == b"OK"
            assert frames[4] == expected[frames[2]]
            order.append(frames[2])
    assert sorted(order) == sorted(expected)
    assert order != sorted(order), "replies came back in request order"


def test_dying_worker_fails_its_requests(client):
    before = stats(client)
    rids = []
    for i in range(3):
        client.sock.send_multipart([b"IRC1", b"echo", b"hang%d" % i, b"hang"])
        rids.append(b"hang%d" % i)
    client.sock.send_multipart([b"IRC1", b"echo", b"crash", b"crash"])
    rids.append(b"crash")
    started = time.monotonic()
    got = {}
    while len(got) < len(rids) and client.sock.poll(2000):
        frames = client.sock.recv_multipart()
        got[frames[2]] = frames[3:]
    assert sorted(got) == sorted(rids)
    for rid, rest in got.items():
        assert rest[:2] == [b"ERR", b"actor-down"], rid
    assert time.monotonic() - started < 1.5
    assert stats(client)["actor_down"] - before["actor_down"] == 4
    # The actor comes back and requests sent meanwhile were queued, not lost.
    st, _ = client.call("echo", "ping", timeout=3)
    assert st == "OK"


def test_requests_queue_while_restarting(daemon, client):
    pid = int(status(client)["echo"]["pid"])
    os.kill(pid, 9)
    # Sent right away: the actor is restarting, so the broker queues it.
    wait_for(lambda: status(client)["echo"]["state"] == "restarting", 1.0, step=0.005)
    st, frames = client.call("echo", "ping", timeout=3)
    assert st == "OK"
    assert stats(client)["queued"] >= 0


@pytest.fixture
def fake_daemon():
    """Echo, plus the puppet actor (tests/support/puppet_actor.py) as row
    "fake": only a process the supervisor started can register a service,
    so the hand-driven worker is the puppet, which holds the real token."""
    d = EchoDaemon(actors=ECHO + "," + actors_entry("fake", "fake"))
    d.puppet = Puppet(d.home)
    try:
        yield from serve(d)
    finally:
        d.puppet.close()


def test_fake_worker(fake_daemon):
    w = fake_daemon.puppet
    w.wait_hello()
    client = fake_daemon.client()
    try:
        before = stats(client)
        # Heartbeat before READY: broker does not know us, says DISCONNECT.
        w.worker(b"IRW1", b"\x04")
        assert w.recv(("worker",))[1] == [b"IRW1", b"\x05"]
        # Broken worker messages are dropped and counted.
        w.worker(b"IRW1", b"\x09")
        w.worker(b"IRW1", b"\x01", b"fake")                   # READY without pid
        w.worker(b"IRW1", b"\x01", b"fake", b"0")
        w.worker(b"IRW1", b"\x01", b"fake", b"$PID", b"$TOKEN")
        assert wait_for(lambda: stats(client)["workers_ready"] > before["workers_ready"], 2)
        rid = client.send("fake", "ping")
        _, frames = w.recv(("worker",))
        assert frames[:2] == [b"IRW1", b"\x02"] and frames[3] == rid
        # A reply for a request it never got is dropped and counted.
        w.worker(b"IRW1", b"\x03", frames[2], b"other", b"OK", b"x")
        w.worker(b"IRW1", b"\x03", frames[2], rid, b"OK", b"pong")
        st, rest = client.recv(rid)
        assert st == "OK" and rest == [b"pong"]
        after = stats(client)
        assert after["worker_malformed"] - before["worker_malformed"] == 3
        assert after["worker_unknown"] - before["worker_unknown"] == 1
        assert after["reply_unknown"] - before["reply_unknown"] == 1
        assert after["register_refused"] == before["register_refused"]
        # DISCONNECT: requests to it fail, as actor-down now that the
        # supervisor knows the service (it waits for the actor briefly).
        w.worker(b"IRW1", b"\x05")
        time.sleep(0.1)
        st, rest = client.call("fake", "ping", timeout=5)
        assert st == "ERR" and rest[0] == b"actor-down"
    finally:
        client.close()
