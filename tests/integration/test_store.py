"""irohds-store end to end: the real binary on a real LMDB in a temp home,
standalone (--bind) and, where the daemon exists, through the broker.

Covers round trips (inline, file, staged), corruption on disk and in LMDB,
bad requests, claims with asynchronous waits from several clients, evict,
gc and TTL, and restarts. Every process is ours and killed by pid; every
home is removed, also on failure.
"""
import os
import shutil
import signal
import subprocess
import time

import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import BIN, Client, Daemon, binary, make_home, serve  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)
from irohds import _proto

HAVE_DAEMON = os.path.exists(os.path.join(BIN, "irohds-daemon"))


class Standalone:
    """irohds-store --bind in a temp home."""

    def __init__(self, home=None):
        self.home = home or make_home()
        self.endpoint = "ipc://%s/run/store-test.ipc" % self.home
        self.proc = None
        self.log = os.path.join(self.home, "test-store.log")

    def start(self):
        os.makedirs(os.path.join(self.home, "run"), exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [binary("irohds-store"), "--home", self.home, "--bind", self.endpoint, "-v"],
                stdout=logf, stderr=subprocess.STDOUT, env=env_for(self.home))
        client = self.client()
        try:
            deadline = time.monotonic() + 10
            while True:
                assert self.proc.poll() is None, self.read_log()
                try:
                    if client.call("store", "ping", timeout=0.5)[0] == "OK":
                        return self
                except TimeoutError:
                    pass
                assert time.monotonic() < deadline, self.read_log()
        finally:
            client.close()

    def client(self):
        return Client(self.endpoint)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def cleanup(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            subprocess.run(["chmod", "-R", "u+w", self.home], check=False)
            shutil.rmtree(self.home, ignore_errors=True)


MODES = ["bind"] + (["broker"] if HAVE_DAEMON else [])


@pytest.fixture(params=MODES)
def store(request):
    if request.param == "bind":
        s = Standalone()
        try:
            yield s.start()
        finally:
            s.cleanup()
    else:
        yield from serve(Daemon())


@pytest.fixture
def standalone():
    s = Standalone()
    try:
        yield s.start()
    finally:
        s.cleanup()


def key_of(text):
    import hashlib
    return hashlib.blake2b(text.encode(), digest_size=32).digest()


def ok(reply, expect=None):
    status, frames = reply
    assert status == "OK", frames
    name, fields = _proto.decode(frames[0], expect)
    return fields, frames[1:]


def put(client, key, content, fn="t.f", **kw):
    return ok(client.call("store", "put", extra=[content], key=key, codec="raw", fn=fn, **kw),
              "put_ok")[0]


def get(client, key, **kw):
    status, frames = client.call("store", "get", key=key, **kw)
    assert status == "OK", frames
    name, fields = _proto.decode(frames[0])
    if name == "miss":
        return "miss", fields["reason"]
    _, manifest = _proto.decode(frames[1], "manifest")
    return manifest, (frames[2] if len(frames) > 2 else fields["path"])


def stats(client):
    status, frames = client.call("store", "stats")
    assert status == "OK"
    assert frames[0].startswith(b"T1\t")
    return {row.split(b"\t")[0].decode(): int(row.split(b"\t")[1]) for row in frames[1:]}


def test_round_trips(store):
    c = store.client()
    try:
        small, large = b"small result", os.urandom(1 << 20)
        r = put(c, key_of("s"), small)
        assert r["stored"] == 0 and r["size"] == len(small)
        r = put(c, key_of("l"), large, fn="t.g")
        assert r["stored"] == 1
        manifest, content = get(c, key_of("s"))
        assert content == small and manifest["fn"] == "t.f" and manifest["codec"] == "raw"
        manifest, content = get(c, key_of("l"))
        assert content == large and manifest["size"] == len(large)
        manifest, path = get(c, key_of("l"), want_path=1)
        assert isinstance(path, str) and path.startswith(os.path.join(store.home, "blobs"))
        with open(path, "rb") as f:
            assert f.read() == large
        assert os.stat(path).st_mode & 0o777 == 0o444
        assert get(c, key_of("absent")) == ("miss", 0)
        assert ok(c.call("store", "has", key=key_of("s")), "has_reply")[0]["present"] == 1
        # dedupe: same content, second key, one blob
        put(c, key_of("l2"), large)
        s = stats(c)
        assert s["entries"] == 3 and s["blobs"] == 2 and s["deduped"] == 1
        assert s["bytes_total"] == len(small) + len(large)
        # staged put: the file is moved into place
        staged = os.path.join(store.home, "run", "staging", "job-1")
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        big = os.urandom(300_000)
        with open(staged, "wb") as f:
            f.write(big)
        r = ok(c.call("store", "put", key=key_of("st"), src=1, path=staged, codec="raw",
                      fn="t.s"), "put_ok")[0]
        assert r["stored"] == 1 and r["size"] == len(big) and not os.path.exists(staged)
        assert get(c, key_of("st"))[1] == big
        # nothing outside staging is accepted
        outside = os.path.join(store.home, "outside")
        with open(outside, "wb") as f:
            f.write(b"secret")
        before = stats(c)["bad_paths"]
        for path in (outside, os.path.join(store.home, "run", "staging", "..", "..", "outside"),
                     "/etc/passwd", ""):
            status, frames = c.call("store", "put", key=key_of("x"), src=1, path=path)
            assert status == "ERR" and frames[0] == b"bad-request", frames
        assert stats(c)["bad_paths"] == before + 4
        assert os.path.exists(outside)
        # ls by function and overall
        status, frames = c.call("store", "ls", fn="t.s")
        assert status == "OK" and len(frames) == 2 and b"\tt.s\t" in frames[1]
        status, frames = c.call("store", "ls", limit=2)
        assert len(frames) == 3
    finally:
        c.close()


def test_corrupt_blob_file(store):
    c = store.client()
    try:
        content = os.urandom(200_000)
        r = put(c, key_of("f"), content)
        path = os.path.join(store.home, "blobs", r["blob"].hex()[:2], r["blob"].hex())
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            f.seek(1234)
            byte = f.read(1)
            f.seek(1234)
            f.write(bytes([byte[0] ^ 0xFF]))
        assert get(c, key_of("f")) == ("miss", 2)
        assert stats(c)["corrupt"] == 1
        assert not os.path.exists(path)
        assert get(c, key_of("f")) == ("miss", 0)
        put(c, key_of("f"), content)
        assert get(c, key_of("f"))[1] == content
    finally:
        c.close()


def test_corrupt_lmdb_values(standalone):
    import lmdb
    c = standalone.client()
    try:
        put(c, key_of("a"), b"alpha")
        rb = put(c, key_of("b"), b"beta")
        put(c, key_of("c"), b"gamma")
    finally:
        c.close()
    assert standalone.stop() == 0
    env = lmdb.open(os.path.join(standalone.home, "store"), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.put(key_of("a"), b"\x20garbage", db=env.open_db(b"results", txn=txn))
        txn.put(rb["blob"], b"\x21\x00\x00", db=env.open_db(b"blobs", txn=txn))
        txn.put(b"short", b"", db=env.open_db(b"lru", txn=txn))
    env.close()
    standalone.start()
    c = standalone.client()
    try:
        assert get(c, key_of("a")) == ("miss", 2)
        assert get(c, key_of("b")) == ("miss", 2)
        assert get(c, key_of("c"))[1] == b"gamma"
        assert stats(c)["corrupt"] == 2
        assert ok(c.call("store", "gc"), "gc_reply")
        put(c, key_of("a"), b"alpha")
        assert get(c, key_of("a"))[1] == b"alpha"
    finally:
        c.close()
    assert "corrupt result" in standalone.read_log()


def test_bad_requests(store):
    c = store.client()
    try:
        before = stats(c)["bad_requests"]
        cases = [
            [b"\x99garbage"],                                       # unknown id
            [_proto.encode("put", key=key_of("k"))[:20]],           # truncated
            [_proto.encode("put", key=key_of("k"))],                # src=0, no content
            [_proto.encode("put", key=key_of("k"), src=5), b"x"],   # bad src
            [_proto.encode("get", key=key_of("k")) + b"trailing"],  # trailing bytes
            [_proto.encode("get", key=key_of("k")), b"extra"],      # extra frame
            [_proto.encode("claim", key=key_of("k"))],              # no holder
        ]
        for i, body in enumerate(cases):
            rid = b"bad-%d" % i
            c.sock.send_multipart([b"IRC1", b"store", rid] + body)
            status, frames = c.recv(rid)
            assert status == "ERR" and frames[0] == b"bad-request", (body, frames)
        c.sock.send_multipart([b"IRC1", b"store", b"pong-1", _proto.encode("pong", service="x")])
        status, frames = c.recv(b"pong-1")
        assert status == "ERR" and frames[0] == b"unknown-command"
        assert stats(c)["bad_requests"] == before + len(cases) + 1
        assert c.call("store", "ping")[0] == "OK"
    finally:
        c.close()


def test_claims_and_async_wait(store):
    clients = [store.client() for _ in range(4)]
    a, waiters = clients[0], clients[1:]
    try:
        k = key_of("job")
        r = ok(a.call("store", "claim", key=k, holder="a", lease_ms=60000), "claim_reply")[0]
        assert r["status"] == 0
        r = ok(waiters[0].call("store", "claim", key=k, holder="b", lease_ms=60000),
               "claim_reply")[0]
        assert r["status"] == 1 and r["holder"] == "a" and r["expires_us"] > 0
        # renewal by the holder
        r2 = ok(a.call("store", "claim", key=k, holder="a", lease_ms=120000), "claim_reply")[0]
        assert r2["status"] == 0 and r2["expires_us"] > r["expires_us"]
        rids = [w.send("store", "wait", key=k, timeout_ms=10000) for w in waiters]
        # the store keeps the waits and still answers other requests
        assert waiters[0].call("store", "ping")[0] == "OK"
        assert stats(a)["waiting"] == 3
        put(a, k, b"the result", holder="a")
        for w, rid in zip(waiters, rids):
            status, frames = w.recv(rid, timeout=5)
            assert status == "OK"
            assert _proto.decode(frames[0], "wait_reply")[1]["status"] == 0
        r = ok(waiters[1].call("store", "claim", key=k, holder="c"), "claim_reply")[0]
        assert r["status"] == 2
        # release wakes waiters with status 2
        k2 = key_of("job2")
        ok(a.call("store", "claim", key=k2, holder="a", lease_ms=60000))
        rid = waiters[0].send("store", "wait", key=k2, timeout_ms=10000)
        ok(a.call("store", "release", key=k2, holder="a"), "ok")
        status, frames = waiters[0].recv(rid, timeout=5)
        assert _proto.decode(frames[0], "wait_reply")[1]["status"] == 2
        # timeout
        k3 = key_of("job3")
        ok(a.call("store", "claim", key=k3, holder="a", lease_ms=60000))
        status, frames = waiters[1].call("store", "wait", key=k3, timeout_ms=200, timeout=5)
        assert _proto.decode(frames[0], "wait_reply")[1]["status"] == 1
        # an expiring lease wakes its waiters, and is reclaimable
        k4 = key_of("job4")
        ok(a.call("store", "claim", key=k4, holder="a", lease_ms=300))
        status, frames = waiters[2].call("store", "wait", key=k4, timeout_ms=10000, timeout=5)
        assert _proto.decode(frames[0], "wait_reply")[1]["status"] == 2
        r = ok(waiters[2].call("store", "claim", key=k4, holder="d"), "claim_reply")[0]
        assert r["status"] == 0
        # no claim at all: answered at once
        status, frames = waiters[0].call("store", "wait", key=key_of("free"), timeout_ms=10000,
                                         timeout=2)
        assert _proto.decode(frames[0], "wait_reply")[1]["status"] == 2
    finally:
        for c in clients:
            c.close()


def test_evict_gc_ttl(store):
    c = store.client()
    try:
        for i in range(3):
            put(c, key_of("a%d" % i), b"a-result-%d" % i, fn="m.a")
        put(c, key_of("b"), b"b-result", fn="m.b")
        r = ok(c.call("store", "evict", fn="m.a"), "evicted")[0]
        assert r["count"] == 3 and r["bytes"] == 3 * len(b"a-result-0")
        status, frames = c.call("store", "ls")
        assert len(frames) == 2 and b"m.b" in frames[1]
        r = ok(c.call("store", "evict", key=key_of("b")), "evicted")[0]
        assert r["count"] == 1
        assert stats(c)["entries"] == 0 and stats(c)["bytes_total"] == 0
        # TTL: a miss with reason 1 once past, then swept
        put(c, key_of("t"), b"short-lived", ttl_s=1)
        assert get(c, key_of("t"))[1] == b"short-lived"
        time.sleep(1.1)
        assert get(c, key_of("t")) in (("miss", 1), ("miss", 0))
        r = ok(c.call("store", "gc"), "gc_reply")[0]
        assert stats(c)["expired"] == 1 and stats(c)["entries"] == 0
        # gc removes orphan files
        orphan_dir = os.path.join(store.home, "blobs", "ab")
        os.makedirs(orphan_dir, exist_ok=True)
        orphan = os.path.join(orphan_dir, "ab" + "0" * 62)
        with open(orphan, "wb") as f:
            f.write(b"left by a crash")
        r = ok(c.call("store", "gc"), "gc_reply")[0]
        assert r["files"] == 1 and not os.path.exists(orphan)
    finally:
        c.close()


def test_size_cap_and_restart():
    home = make_home()
    with open(os.path.join(home, "config.toml"), "a") as f:
        f.write("[store]\nmax_bytes = 3000\ninline_max = 1 KiB\n")
    s = Standalone(home)
    try:
        s.start()
        c = s.client()
        try:
            for i in range(3):
                assert put(c, key_of("c%d" % i), bytes([i]) * 1000)["evicted"] == 0
            get(c, key_of("c0"))            # c1 is now the least recently used
            time.sleep(0.3)                 # touches are batched (~100 ms)
            assert put(c, key_of("c3"), b"\x03" * 1000)["evicted"] == 1
            assert get(c, key_of("c1")) == ("miss", 0)
            assert get(c, key_of("c0"))[1] == b"\x00" * 1000
            status, frames = c.call("store", "info")
            info = dict(row.decode().split("\t") for row in frames[1:])
            assert info["max_bytes"] == "3000" and info["inline_max"] == "1024"
            puts = stats(c)["puts"]
        finally:
            c.close()
        assert s.stop() == 0
        s.start()
        c = s.client()
        try:
            assert get(c, key_of("c3"))[1] == b"\x03" * 1000
            assert stats(c)["puts"] == puts
        finally:
            c.close()
    finally:
        s.cleanup()
