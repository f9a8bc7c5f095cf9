"""tests/cluster/test_fetch_resume.py: the receiving side of a fetch is
interrupted and resumes from its staging files (docs/transfer.md).

B asks gossip_lookup directly (no client claim in the way), its gossip
actor is killed (SIGKILL, by pid) mid-transfer; the supervisor restarts
it; a second lookup of the same key finds <home>/fetch/<blob>.part,
.have and .ob, re-checks the groups the .have claims against the outboard
and fetches only the rest: the groups resumed plus the bytes fetched the
second time make the whole blob, the staging files are gone after the
ingest, and a fresh process on B is a local hit with the right value.
Staging that lies (a damaged .have, or a valid one over wrong content) is
never trusted: refused and counted, or every claimed group fails the
re-check, and the blob is fetched whole.

Needs root (network namespaces, tc).
"""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_fetch as tf  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
MIB = 1 << 20
GROUP = 16384
SIZE = 64

LOOKUP = """
from irohds import _transport, _proto
key = fetchmod.blob.memo.key((%d, 4), {})
t = _transport.get_transport()
rid = t.send("gossip", "gossip_lookup", key=key, ns=fetchmod.blob.memo.ns,
             fn="fetchmod.blob", flops=0, mem_bytes=0, peak_mem=0, result_bytes=0,
             wall_us=0, timeout_ms=0, flags=0)
try:
    r = _proto.decode(t.recv(rid, 300)[0], "gossip_lookup_reply")[1]
    print(json.dumps({"status": r["status"], "reason": r["reason"], "bytes": r["received"]}))
except _transport.ServiceError as e:
    print(json.dumps({"error": e.code}))
""" % SIZE


def _gossip_pids(node):
    pids = []
    for pid in harness.netns_pids(node.ns):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if os.path.basename(f.read().split(b"\0")[0]) == b"irohds-gossip":
                    pids.append(pid)
        except OSError:
            pass
    return pids


def _wait_gossip(n, node):
    def up():
        try:
            n.gossip(node)
            return True
        except AssertionError:
            return False
    harness.wait_for(up, timeout=30, interval=0.3, what="%s's gossip back" % node.name)


def test_receiver_killed_mid_transfer_resumes_from_staging():
    with tf.cluster(2) as (c, n):
        a, b = c.nodes
        good = n.python(a, tf.CALL_BLOB % (SIZE, 4))
        n.wait_results(b, a)
        c.set_rate(b, "100mbit", direction="in")
        proc = n.start_python(b, LOOKUP)
        tf._wait_progress(n, b, 0.3, proc)
        pids = _gossip_pids(b)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        first = tf._finish(proc)
        assert first == {"error": "actor-down"}
        staged = sorted(os.listdir(os.path.join(b.home, "fetch")))
        assert [x.rsplit(".", 1)[1] for x in staged] == ["have", "ob", "part"], staged
        _wait_gossip(n, b)
        n.wait_results(b, a)
        c.set_rate(b, None)
        second = n.python(b, LOOKUP)
        g = n.gossip(b)
        print("second lookup: %s; %s" % (second, {k: g.get(k) for k in (
            "transfers_resumed", "groups_resumed", "fetch_bytes_received", "xfer_bytes_in")}))
        assert second["status"] == 0 and "resumed" in second["reason"]
        assert g["transfers_resumed"] == 1 and g["groups_resumed"] > 0
        # Only what was not verified before the kill crossed again: the
        # resumed groups and the new bytes make the blob, once.
        total = SIZE * MIB + 25          # the pickled bytes' framing
        assert second["bytes"] < total
        assert g["groups_resumed"] * GROUP + second["bytes"] <= total + GROUP
        assert os.listdir(os.path.join(b.home, "fetch")) == []
        local = n.python(b, tf.CALL_BLOB % (SIZE, 4))
        assert local["d"] == good["d"] and n.count(b, "blob") == 0


def _xxh64(data):
    """irh_xxh64 of libirohds (the .have checksum), through ctypes."""
    import ctypes
    lib = ctypes.CDLL(os.path.join(os.environ["IROHDS_BUILD"], "lib", "libirohds.so"))
    lib.irh_xxh64.restype = ctypes.c_uint64
    lib.irh_xxh64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    return lib.irh_xxh64(bytes(data), len(data), 0x6972687668617665)


@pytest.mark.parametrize("checksum", ["broken", "valid"])
def test_staging_that_lies_is_never_trusted(checksum):
    """A .have claiming every group next to a .part of zeros: with a broken
    checksum it is refused (counted); with a valid one every group it
    claims fails the re-check against the outboard. Either way the blob is
    fetched whole and the right value returned."""
    with tf.cluster(2) as (c, n):
        a, b = c.nodes
        good = n.python(a, tf.CALL_BLOB % (8, 4))
        n.wait_results(b, a)
        # A .have from "an earlier attempt" claiming every group, with a
        # broken checksum, next to a .part of the right size full of zeros.
        blob = n.python(a, tf.BLOB_OF % (8, 4))["blob"]
        size = os.path.getsize(os.path.join(a.home, "blobs", blob[:2], blob))
        fetch = os.path.join(b.home, "fetch")
        os.makedirs(fetch, mode=0o700, exist_ok=True)
        with open(os.path.join(fetch, blob + ".part"), "wb") as f:
            f.truncate(size)
        groups = (size + GROUP - 1) // GROUP
        bitmap = bytearray(b"\xff" * (groups // 8) + (bytes([(1 << (groups % 8)) - 1])
                                                      if groups % 8 else b""))
        have = (b"IRHV" + (1).to_bytes(4, "big") + bytes.fromhex(blob)
                + size.to_bytes(8, "big") + groups.to_bytes(8, "big") + bytes(bitmap))
        have += (_xxh64(have) if checksum == "valid" else 0).to_bytes(8, "big")
        with open(os.path.join(fetch, blob + ".have"), "wb") as f:
            f.write(have)
        got = n.python(b, tf.CALL_BLOB % (8, 4))
        g = n.gossip(b)
        assert got == {"d": good["d"], "peer": 1} and n.count(b, "blob") == 0
        assert g["have_refused"] == (1 if checksum == "broken" else 0)
        # valid: the .have was taken (a resume) and then not believed.
        assert g["transfers_resumed"] == (1 if checksum == "valid" else 0)
        assert g["groups_resumed"] == 0
        assert g["fetch_bytes_received"] >= size
