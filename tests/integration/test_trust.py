"""Trust zones in the broker (docs/security.md): only processes the
supervisor started may register a service, with the token it gave them;
an actor may call only what its row of the actor table lists; local
clients keep full access. Real daemons; the rogue actors are the puppet
(tests/support/puppet_actor.py), started by the supervisor like any actor
and driven from the test."""
import os
import sys

import pytest
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
sys.path.insert(0, HERE)
from test_supervisor import ECHO, EchoDaemon, broker_stats, status, wait_for  # noqa: E402
from irohds_test import Daemon, serve  # noqa: E402
from puppet import Puppet, actors_entry  # noqa: E402
from irohds import _proto  # noqa: E402

REFUSED = b"\x06"


class ActorsDaemon(EchoDaemon):
    """A daemon with the actor table `actors` and a puppet control socket
    bound in its home before it starts."""

    def __init__(self, actors, services=("sup", "echo")):
        super().__init__(actors=actors)
        self.services = services
        self.puppet = Puppet(self.home)

    def start(self, timeout=20.0):
        return super().start(timeout, services=self.services)

    def cleanup(self):
        self.puppet.close()
        super().cleanup()


def raw_worker(endpoint):
    w = zmq.Context.instance().socket(zmq.DEALER)
    w.setsockopt(zmq.LINGER, 0)
    w.connect(endpoint)
    return w


def next_command(w, timeout_ms=3000):
    """The next broker -> worker message that is not a heartbeat."""
    while True:
        assert w.poll(timeout_ms), "no answer from the broker"
        frames = w.recv_multipart()
        if frames[:2] != [b"IRW1", b"\x04"]:
            return frames


@pytest.fixture
def full_daemon():
    yield from serve(Daemon())


def test_register_as_store_without_token_is_refused(full_daemon):
    c = full_daemon.client()
    w = raw_worker(full_daemon.endpoint)
    try:
        # Every actor registered first, so workers_ready below moves only
        # if the impostor got in.
        assert wait_for(lambda: all(row["state"] == "running" for name, row in status(c).items()
                                    if name != "supervisor"), 30), status(c)
        before = broker_stats(c)
        store_pid = int(status(c)["store"]["pid"])
        pid = str(os.getpid()).encode()
        # No token, a wrong token, the real store's pid with a wrong token:
        # each gets REFUSED with a reason, and is counted.
        attempts = [[b"IRW1", b"\x01", b"store", pid],
                    [b"IRW1", b"\x01", b"store", pid, b"0" * 64],
                    [b"IRW1", b"\x01", b"store", str(store_pid).encode(), b"f" * 64]]
        for frames in attempts:
            w.send_multipart(frames)
            reply = next_command(w)
            assert reply[:2] == [b"IRW1", REFUSED], reply
            assert b"token" in reply[2]
        after = broker_stats(c)
        assert after["register_refused"] - before["register_refused"] == 3
        assert after["workers_ready"] == before["workers_ready"]
        # The real store still gets every request (a registered impostor
        # would take every other one, round robin).
        for _ in range(4):
            st, frames = c.call("store", "ping")
            assert st == "OK"
            assert _proto.decode_pong(frames[0])["pid"] == store_pid
        st, _ = c.call("store", "stats")
        assert st == "OK"
    finally:
        w.close(0)
        c.close()


@pytest.fixture
def puppet_daemon():
    entry = actors_entry("puppet", "pup", "echo/*+sup/status")
    yield from serve(ActorsDaemon(ECHO + "," + entry))


def test_token_only_from_its_own_process(puppet_daemon):
    """The puppet's real token, presented by another process (this test),
    is refused: the broker checks the sender's pid from the kernel."""
    p = puppet_daemon.puppet
    p.wait_hello()
    token = p.token()
    assert len(token) == 64
    c = puppet_daemon.client()
    w = raw_worker(puppet_daemon.endpoint)
    try:
        before = broker_stats(c)
        for pid in (p.pid, os.getpid()):
            w.send_multipart([b"IRW1", b"\x01", b"pup", str(pid).encode(), token])
            reply = next_command(w)
            assert reply[:2] == [b"IRW1", REFUSED], reply
        # The same token for another service is no good either.
        p.worker(b"IRW1", b"\x01", b"echo", b"$PID", b"$TOKEN")
        _, reply = p.recv(("worker",))
        assert reply[:2] == [b"IRW1", REFUSED]
        assert broker_stats(c)["register_refused"] - before["register_refused"] == 3
        # From the puppet itself it registers.
        p.worker(b"IRW1", b"\x01", b"pup", b"$PID", b"$TOKEN")
        assert wait_for(lambda: broker_stats(c)["workers_ready"] > before["workers_ready"], 3)
        assert broker_stats(c)["register_refused"] - before["register_refused"] == 3
    finally:
        w.close(0)
        c.close()


def test_actor_calls_outside_its_row_are_refused(puppet_daemon):
    p = puppet_daemon.puppet
    p.wait_hello()
    c = puppet_daemon.client()
    try:
        before = broker_stats(c)
        # Listed: echo (any command) and sup status.
        st, _ = p.call("echo", _proto.encode("ping"), rid=b"a")
        assert st == "OK"
        st, _ = p.call("sup", _proto.encode("status"), rid=b"b")
        assert st == "OK"
        # Not listed: sup down and broker_stats, store (not even running).
        for rid, service, name in ((b"c", "sup", "down"), (b"d", "sup", "broker_stats"),
                                   (b"e", "store", "ping")):
            st, rest = p.call(service, _proto.encode(name), rid=rid)
            assert st == "ERR" and rest[0] == b"forbidden", (service, name, rest)
            assert b"puppet" in rest[1]
        # An empty body has no command: refused too, not crashed on.
        p.client(b"IRC1", b"sup", b"f", b"")
        _, frames = p.recv(("client",))
        assert frames[3:5] == [b"ERR", b"forbidden"]
        after = broker_stats(c)
        assert after["forbidden"] - before["forbidden"] == 4
        # The daemon did not go down, and a local client keeps full access.
        assert puppet_daemon.proc.poll() is None
        assert status(c)["echo"]["state"] == "running"
        st, _ = c.call("sup", "broker_stats")
        assert st == "OK"
    finally:
        c.close()


def test_processes_an_actor_forks_stay_in_its_zone(puppet_daemon):
    """A child the actor forks has a pid of its own, but is still the
    actor's for the broker; a grandchild orphaned to the daemon (a
    subreaper) may call nothing."""
    p = puppet_daemon.puppet
    p.wait_hello()
    c = puppet_daemon.client()
    try:
        before = broker_stats(c)
        home = puppet_daemon.home
        frames = p.forked_call(home, "child", "sup", _proto.encode("status"))
        assert frames[3] == b"OK", frames           # listed for the puppet's row
        frames = p.forked_call(home, "child", "sup", _proto.encode("down"))
        assert frames[3:5] == [b"ERR", b"forbidden"], frames
        assert b"actor puppet" in frames[5]
        frames = p.forked_call(home, "orphan", "echo", _proto.encode("ping"))
        assert frames[3:5] == [b"ERR", b"forbidden"], frames
        assert b"no actor" in frames[5]
        assert broker_stats(c)["forbidden"] - before["forbidden"] == 2
        assert puppet_daemon.proc.poll() is None
    finally:
        c.close()


@pytest.fixture
def store_and_gossip():
    """The real store, and the puppet in gossip's row (gossip's calls from
    the built-in table)."""
    actors = "store:irohds-store:store," + actors_entry("gossip", "gossip")
    yield from serve(ActorsDaemon(actors, services=("sup", "store")))


def test_gossip_row_reads_store_but_never_changes_it(store_and_gossip):
    p = store_and_gossip.puppet
    p.wait_hello()
    c = store_and_gossip.client()
    try:
        before = broker_stats(c)
        for rid, name in ((b"r1", "stats"), (b"r2", "info"), (b"r3", "ping"),
                          (b"r4", "ls")):
            st, rest = p.call("store", _proto.encode(name), rid=rid)
            assert st == "OK", (name, rest)
        st, rest = p.call("store", _proto.encode("has", key=b"\0" * 32), rid=b"r5")
        assert st == "OK", rest
        st, rest = p.call("store", _proto.encode("get", key=b"\0" * 32), rid=b"r6")
        assert st == "OK" or rest[0] != b"forbidden", rest
        refused = (("store", "evict"), ("store", "gc"), ("store", "put"), ("store", "touch"),
                   ("store", "wait"), ("sup", "down"), ("sup", "status"), ("cap", "remeasure"))
        for i, (service, name) in enumerate(refused):
            # Only the first byte (the message id) decides: a body that
            # would not even decode is refused before the store sees it.
            body = bytes([getattr(_proto, name.upper())])
            st, rest = p.call(service, body, rid=b"x%d" % i)
            assert st == "ERR" and rest[0] == b"forbidden", (service, name, rest)
        assert broker_stats(c)["forbidden"] - before["forbidden"] == len(refused)
        # The store is untouched and still serves this local client fully.
        st, _ = c.call("store", "gc")
        assert st == "OK"
    finally:
        c.close()


@pytest.fixture
def discovery_puppet():
    actors = ECHO + "," + actors_entry("discovery", "discovery")
    yield from serve(ActorsDaemon(actors))


def test_discovery_row_may_only_talk_to_gossip(discovery_puppet):
    p = discovery_puppet.puppet
    p.wait_hello()
    c = discovery_puppet.client()
    try:
        before = broker_stats(c)
        # Allowed, but no gossip runs here: the broker's answer is
        # unknown-service, which shows the call passed the trust check.
        st, rest = p.call("gossip", _proto.encode("gossip_stats"), rid=b"g1")
        assert st == "ERR" and rest[0] == b"unknown-service", rest
        for rid, service, name in ((b"g2", "echo", "ping"), (b"g3", "sup", "status"),
                                   (b"g4", "store", "ping")):
            st, rest = p.call(service, _proto.encode(name), rid=rid)
            assert st == "ERR" and rest[0] == b"forbidden", (service, rest)
        assert broker_stats(c)["forbidden"] - before["forbidden"] == 3
    finally:
        c.close()
