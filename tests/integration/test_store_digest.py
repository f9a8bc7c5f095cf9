"""The store's key digests and ingest, end to end: a real irohds-daemon
(broker, store) in a temp home, results made by @irohds.memo calls in fresh
Python processes, and the store's digest_list / digest_get / ingest asked
through the broker as the gossip actor would (a local client has the same
access).

The digest bits are checked with an independent Python reading of the
index scheme of docs/digests.md: every key a memo call stored must test
present in the whole digest, and a delta applied to an earlier copy must
give exactly the bits of a fresh whole digest. Ingest: a file under
<home>/fetch becomes a result that the next @irohds.memo call in a fresh
process returns without computing; every refusal is checked by its error
code and counter. Every process is ours, killed by pid; the home is
removed on every path.
"""
import json
import os
import struct
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import BIN, Daemon, serve  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)
from irohds import _codec, _native, _proto  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "irohds-daemon")),
                                reason="irohds-daemon not built")

# Two namespaces: the default one ("") and "lab". Each function leaves a
# mark file per computation, so a test can tell a hit from a computation
# across processes.
SCRIPT = textwrap.dedent('''
    import json, os, sys
    import irohds

    MARKS = sys.argv[1]

    def mark(name):
        with open(os.path.join(MARKS, name), "a") as f:
            f.write("x")

    @irohds.memo(min_seconds=0)
    def square(x, scale=1):
        mark("square")
        return x * x * scale

    @irohds.memo(ns="lab", min_seconds=0)
    def summary(d, label="s"):
        mark("summary")
        return {"label": label, "keys": sorted(d), "total": sum(d.values())}

    out = []
    for name, args, kwargs, call in json.loads(sys.argv[2]):
        fn = globals()[name]
        value = fn(*args, **kwargs) if call else None
        out.append({"key": fn.key(*args, **kwargs), "value": value})
    print(json.dumps(out))
''')


@pytest.fixture
def daemon():
    yield from serve(Daemon())


def run_calls(daemon, calls):
    """Run [(fn, args, kwargs, call?)] in a fresh process; returns [{key, value}]
    and the mark counts."""
    script = os.path.join(daemon.home, "memo_script.py")
    marks = os.path.join(daemon.home, "marks")
    os.makedirs(marks, exist_ok=True)
    with open(script, "w") as f:
        f.write(SCRIPT)
    done = subprocess.run([sys.executable, script, marks, json.dumps(calls)],
                          capture_output=True, text=True, timeout=120,
                          env=env_for(daemon.home))
    assert done.returncode == 0, done.stderr + daemon.read_log()
    return json.loads(done.stdout.strip().splitlines()[-1])


def marks(daemon, name):
    try:
        with open(os.path.join(daemon.home, "marks", name)) as f:
            return len(f.read())
    except FileNotFoundError:
        return 0


def table(reply):
    status, frames = reply
    assert status == "OK", frames
    header = frames[0].decode().split("\t")
    assert header[0] == "T1"
    names = [c.split(":")[0] for c in header[1:]]
    return [dict(zip(names, row.decode().split("\t"))) for row in frames[1:]]


def stats(client):
    return {row["name"]: int(row["value"]) for row in table(client.call("store", "stats"))}


def digests(client):
    return {row["ns"]: {k: int(v) for k, v in row.items() if k != "ns"}
            for row in table(client.call("store", "digest_list"))}


def digest_get(client, ns, seed=0, epoch=0):
    status, frames = client.call("store", "digest_get", ns=ns, seed=seed, epoch=epoch)
    assert status == "OK" and len(frames) == 1, frames
    return _proto.decode(frames[0])


def error(reply):
    status, frames = reply
    assert status == "ERR", frames
    return frames[0].decode()


# --- an independent reading of docs/digests.md's index scheme ---

def indexes(key, seed, nbits, k):
    mask = (1 << 64) - 1
    seed2 = ((seed << 32) | (seed >> 32)) & mask
    h1 = struct.unpack_from("<Q", key, 0)[0] ^ seed
    h2 = (struct.unpack_from("<Q", key, 8)[0] ^ seed2) | 1
    return [(((h1 + i * h2) & mask) >> 32) * nbits >> 32 for i in range(k)]


def holds(full, key):
    bits = full["bits"]
    return all(bits[i // 8] >> (i % 8) & 1
               for i in indexes(key, full["seed"], full["nbits"], full["k"]))


def apply_delta(bits, delta):
    bits = bytearray(bits)
    positions = delta["positions"]
    assert len(positions) % 4 == 0
    for (i,) in struct.iter_unpack(">I", positions):
        bits[i // 8] ^= 1 << (i % 8)
    return bytes(bits)


FIRST = [
    ["square", [3], {}, True],                       # positional
    ["square", [], {"x": 4, "scale": 2}, True],      # keyword
    ["square", [5, 3], {}, True],
    ["summary", [{"a": 1, "b": 2}], {}, True],       # dict argument
    ["summary", [{"z": 26}], {"label": "t"}, True],
]
SECOND = [
    ["square", [6], {}, True],
    ["summary", [{"c": 3}], {}, True],
]


def test_digests_follow_memo_calls(daemon):
    first = run_calls(daemon, FIRST)
    assert marks(daemon, "square") == 3 and marks(daemon, "summary") == 2
    c = daemon.client()
    try:
        listed = digests(c)
        assert listed[""]["count"] == 3 and listed["lab"]["count"] == 2, listed
        whole = {}
        for ns, calls in (("", first[:3]), ("lab", first[3:])):
            name, full = digest_get(c, ns)
            assert name == "peer_digest_full" and full["ns"] == ns
            assert full["seed"] == listed[ns]["seed"] and full["epoch"] == listed[ns]["epoch"]
            assert full["nbits"] == listed[ns]["nbits"] == len(full["bits"]) * 8
            for call in calls:
                assert holds(full, bytes.fromhex(call["key"])), call
            whole[ns] = full
        # keys of the other namespace are (all but surely) not in this one
        assert not all(holds(whole[""], bytes.fromhex(x["key"])) for x in first[3:])
        # an unknown namespace
        status, frames = c.call("store", "digest_get", ns="nowhere")
        assert status == "ERR" and frames[0] == b"not-found"

        # more results: deltas from the copies' epochs
        second = run_calls(daemon, SECOND)
        listed = digests(c)
        assert listed[""]["count"] == 4 and listed["lab"]["count"] == 3
        for ns, call in (("", second[0]), ("lab", second[1])):
            name, delta = digest_get(c, ns, whole[ns]["seed"], whole[ns]["epoch"])
            assert name == "peer_digest_delta", name
            assert delta["base_epoch"] == whole[ns]["epoch"]
            assert delta["epoch"] == listed[ns]["epoch"] > whole[ns]["epoch"]
            bits = apply_delta(whole[ns]["bits"], delta)
            _, fresh = digest_get(c, ns)
            assert fresh["seed"] == whole[ns]["seed"] and bits == fresh["bits"]
            assert holds(fresh, bytes.fromhex(call["key"]))

        # local_only (put flags bit 1): stored, served, in no digest
        before = digests(c)["lab"]["count"]
        key = _native.blake3(b"a local-only result")
        status, frames = c.call("store", "put", extra=[b"private"], key=key, codec="raw",
                                fn="t.private", ns="lab", flags=2)
        assert status == "OK", frames
        assert digests(c)["lab"]["count"] == before
        status, frames = c.call("store", "get", key=key)
        assert status == "OK" and frames[-1] == b"private"
        s = stats(c)
        assert s["digests"] == 2 and s["digest_keys"] == 7 and s["digest_inconsistent"] == 0
    finally:
        c.close()

    # after a restart: the same keys, a new generation (seed): whole again
    assert daemon.stop() == 0
    daemon.start()
    c = daemon.client()
    try:
        listed = digests(c)
        assert listed[""]["count"] == 4 and listed["lab"]["count"] == 3
        assert listed[""]["seed"] != whole[""]["seed"]
        name, full = digest_get(c, "", whole[""]["seed"], whole[""]["epoch"])
        assert name == "peer_digest_full" and full["seed"] == listed[""]["seed"]
        for call in first[:3] + second[:1]:
            assert holds(full, bytes.fromhex(call["key"]))
    finally:
        c.close()


def manifest_for(content, ns="lab", fn="memo_script.summary", origin=b"\x5a" * 32, **kw):
    fields = dict(blob=_native.blake3(content), size=len(content), codec=_codec.CODEC, fn=fn,
                  ns=ns, created_us=1_700_000_000_000_000, accessed_us=1, flops=10,
                  wall_us=2_000_000, cpu_us=1_900_000, origin=origin)
    fields.update(kw)
    return _proto.encode("manifest", **fields)


def fetched(daemon, name, content):
    path = os.path.join(daemon.home, "fetch", name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def test_ingest(daemon):
    fetch = os.path.join(daemon.home, "fetch")
    assert os.stat(fetch).st_mode & 0o777 == 0o700
    # The key of a call nobody computed here, and the bytes a peer would send.
    call = ["summary", [{"peer": 7}], {"label": "far"}, False]
    (info,) = run_calls(daemon, [call])
    key = bytes.fromhex(info["key"])
    value = {"label": "far", "keys": ["peer"], "total": 7}
    content = _codec.encode(value).to_bytes()
    c = daemon.client()
    try:
        before = stats(c)
        lab = digests(c).get("lab", {"count": 0})["count"]

        # refused before anything is stored: outside fetch/, a symlink
        # (out, and back in), a FIFO (the store must not block on it), a
        # directory, a zero origin, a manifest that does not decode
        outside = os.path.join(daemon.home, "outside")
        with open(outside, "wb") as f:
            f.write(content)
        good = fetched(daemon, "good", content)
        os.symlink(outside, os.path.join(fetch, "link-out"))
        os.symlink(good, os.path.join(fetch, "link-in"))
        os.mkfifo(os.path.join(fetch, "fifo"))
        os.mkdir(os.path.join(fetch, "dir"))
        for path in (outside, os.path.join(fetch, "..", "outside"),
                     os.path.join(fetch, "link-out"), os.path.join(fetch, "link-in"),
                     os.path.join(fetch, "fifo"), os.path.join(fetch, "dir"), "", "/etc/passwd"):
            reply = c.call("store", "ingest", path=path, key=key, manifest=manifest_for(content))
            assert error(reply) == "bad-request", path
        reply = c.call("store", "ingest", path=good, key=key,
                       manifest=manifest_for(content, origin=b"\0" * 32))
        assert error(reply) == "bad-request"
        reply = c.call("store", "ingest", path=good, key=key, manifest=b"\x20short")
        assert error(reply) == "bad-request"
        # mismatch: the bytes are not what the manifest names
        bad = fetched(daemon, "bad", content[:-1] + bytes([content[-1] ^ 1]))
        reply = c.call("store", "ingest", path=bad, key=key, manifest=manifest_for(content))
        assert error(reply) == "mismatch"
        reply = c.call("store", "ingest", path=good, key=key,
                       manifest=manifest_for(content, size=len(content) + 1))
        assert error(reply) == "mismatch"
        s = stats(c)
        assert s["ingest_refused"] - before["ingest_refused"] == 10
        assert s["ingest_mismatch"] - before["ingest_mismatch"] == 2
        assert s["ingested"] == before["ingested"] and s["entries"] == before["entries"]
        assert os.path.exists(outside) and os.path.exists(bad)

        # the real thing: stored, the fetched file consumed, in the digest
        reply = c.call("store", "ingest", path=good, key=key,
                       manifest=manifest_for(content, flags=2))
        status, frames = reply
        assert status == "OK", frames
        ok = _proto.decode(frames[0], "put_ok")[1]
        assert ok["size"] == len(content) and ok["blob"] == _native.blake3(content)
        assert not os.path.exists(good)
        s = stats(c)
        assert s["ingested"] == before["ingested"] + 1
        assert digests(c)["lab"]["count"] == lab + 1        # local_only dropped
        _, full = digest_get(c, "lab")
        assert holds(full, key)
        status, frames = c.call("store", "get", key=key)
        manifest = _proto.decode(frames[1], "manifest")[1]
        assert manifest["origin"] == b"\x5a" * 32 and manifest["flags"] == 0
        assert manifest["created_us"] == 1_700_000_000_000_000 and manifest["accessed_us"] > 1
        assert manifest["wall_us"] == 2_000_000 and manifest["ns"] == "lab"

        # exists: never replaces what is held
        again = fetched(daemon, "again", content)
        reply = c.call("store", "ingest", path=again, key=key, manifest=manifest_for(content))
        assert error(reply) == "exists"
        assert stats(c)["ingest_exists"] == before["ingest_exists"] + 1
    finally:
        c.close()

    # a fresh process: a hit, nothing computed
    call[3] = True
    (result,) = run_calls(daemon, [call])
    assert result["value"] == value
    assert marks(daemon, "summary") == 0
    c = daemon.client()
    try:
        s = stats(c)
        assert s["hits"] + s["hits_local"] >= 1
    finally:
        c.close()


def test_ingest_large_result_becomes_a_blob_file(daemon):
    call = ["square", [12345], {"scale": 7}, False]
    (info,) = run_calls(daemon, [call])
    key = bytes.fromhex(info["key"])
    # a value whose encoding is above store.inline_max (64 KiB): a file blob
    value = 12345 * 12345 * 7
    content = _codec.encode(value).to_bytes()
    padded = _codec.encode([value] + list(range(30000))).to_bytes()
    assert len(padded) > 65536
    c = daemon.client()
    try:
        # the small one: inline
        small = fetched(daemon, "small", content)
        status, frames = c.call("store", "ingest", path=small, key=key,
                                manifest=manifest_for(content, ns="", fn="memo_script.square"))
        assert status == "OK", frames
        assert _proto.decode(frames[0], "put_ok")[1]["stored"] == 0
        # a large one under another key: moved into blobs/, read-only
        other = _native.blake3(b"another key")
        large = fetched(daemon, "large", padded)
        status, frames = c.call("store", "ingest", path=large, key=other,
                                manifest=manifest_for(padded, ns=""))
        assert status == "OK", frames
        ok = _proto.decode(frames[0], "put_ok")[1]
        assert ok["stored"] == 1 and not os.path.exists(large)
        hexed = ok["blob"].hex()
        blob = os.path.join(daemon.home, "blobs", hexed[:2], hexed)
        assert os.stat(blob).st_mode & 0o777 == 0o444
        status, frames = c.call("store", "get", key=other)
        assert status == "OK" and frames[-1] == padded
    finally:
        c.close()
    call[3] = True
    (result,) = run_calls(daemon, [call])
    assert result["value"] == value and marks(daemon, "square") == 0
