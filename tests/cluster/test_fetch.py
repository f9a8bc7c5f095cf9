"""tests/cluster/test_fetch.py: results cross machines. Real daemons in
network namespaces (tests/cluster/harness.py), LAN beacons inside the
cluster's bridge only; the memoized functions live in one module both
nodes import (same code, so the same keys), and every call is a fresh
/usr/bin/python3 in a node's namespace with that node's IROHDS_HOME. Each
function appends a line to a counter file per node, so "B did not
compute" is a file that stays empty, not a guess.

- basic (smoke): positional, keyword and dict arguments computed on A are
  returned on B without calling f; gossip on B counts a fetch; a second
  process on B is a local hit and fetches nothing more;
- a 300 MiB numpy array and a FileRef result cross (same content; the
  FileRef is a read-only file under B's home);
- no peer holds the key: B computes, lookups_no_candidate grows and no
  request went to any peer (counters, not clocks);
- untrusted: a pickle whose __reduce__ calls os.system is refused on B,
  never run, counted, computed on B;
- slow link (tc tbf 1 Mbit/s on B) and a cost= that makes computing win:
  B computes and its stats say why;
- lying holder: A's blob file is corrupted on disk; B never returns a
  wrong value (computes when A is the only holder, fetches from an honest
  C otherwise) and the bad bytes are counted;
- two holders serve one transfer; one is cut mid-way, the other finishes;
- the holder is killed mid-200 MiB transfer and restarted: the transfer
  resumes, B receives less than 1.5x the size in all.

Needs root (network namespaces, nftables, tc).
"""
import contextlib
import json
import os
import stat
import sys
import textwrap
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PYTHON = "/usr/bin/python3"
MIB = 1 << 20

MODULE = '''
"""Functions of tests/cluster/test_fetch.py, imported by every node."""
import hashlib
import os

import numpy as np
import irohds
from irohds.coren import FnCost

# Far more work than any fetch here: the verdict fetches whenever it can.
COSTLY = FnCost(flops=10 ** 15, mem_bytes=10 ** 15, peak_mem=1 << 20, result_bytes=1 << 20)
# Less work than any fetch: the verdict computes.
CHEAP = FnCost(flops=1000, mem_bytes=1000, peak_mem=1000, result_bytes=4 << 20)


def count(tag):
    with open(os.path.join(os.environ["IROHDS_HOME"], "count-" + tag), "a") as f:
        f.write("1\\n")


def digest(buf):
    return hashlib.blake2b(memoryview(buf).cast("B")).hexdigest()


@irohds.memo(min_seconds=0, cost=COSTLY)
def f(x, *, scale=1, opts=None):
    count("f")
    return {"x": x, "scaled": [x * scale] * 3, "opts": opts, "t": (x, "y")}


@irohds.memo(min_seconds=0, cost=COSTLY)
def array(mib, seed):
    count("array")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1 << 62, size=mib * (1 << 20) // 8, dtype=np.int64)


@irohds.memo(min_seconds=0, cost=COSTLY)
def blob(mib, seed):
    count("blob")
    return np.random.default_rng(seed).bytes(mib * (1 << 20))


@irohds.memo(min_seconds=0, cost=COSTLY)
def report(n):
    count("report")
    path = "report-%d.bin" % n
    with open(path, "wb") as out:
        out.write(np.random.default_rng(n).bytes(n))
    return irohds.FileRef(path)


@irohds.memo(min_seconds=0, cost=COSTLY)
def nobody(x):
    count("nobody")
    return [x]


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


@irohds.memo(min_seconds=0, cost=COSTLY)
def evil(marker):
    count("evil")
    return Evil(marker)


@irohds.memo(min_seconds=0, cost=CHEAP)
def cheap(x):
    count("cheap")
    return b"c" * (4 << 20)
'''


HEADER = """import json, sys, os
import irohds, fetchmod
from irohds import _log, _localstore


def lookups():
    return {k: v for k, v in _log.counters.items() if k.startswith("lookup_")}


"""


class Nodes:
    """The cluster plus the shared code directory and per-node helpers."""

    def __init__(self, cluster):
        self.c = cluster
        self.code = os.path.join(cluster.root, "code")
        os.makedirs(self.code, exist_ok=True)
        with open(os.path.join(self.code, "fetchmod.py"), "w") as out:
            out.write(MODULE)

    def env(self, node):
        e = harness.irohds_test.test_env(node.home, IROHDS_CAP_PROFILE="fixed",
                                         IROHDS_LAN="1", IROHDS_DAEMON="/bin/false")
        e["PYTHONPATH"] = os.pathsep.join([self.code, os.environ.get("PYTHONPATH", "")])
        return e

    def script(self, body):
        path = os.path.join(self.code, "run-%d.py" % len(os.listdir(self.code)))
        with open(path, "w") as out:
            out.write(HEADER + textwrap.dedent(body))
        return path

    def python(self, node, body, timeout=600):
        """Run body on node; its last stdout line is JSON."""
        proc = node.run([PYTHON, self.script(body)], timeout=timeout, env=self.env(node))
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def start_python(self, node, body):
        import subprocess
        return node.popen([PYTHON, self.script(body)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=self.env(node))

    def count(self, node, tag):
        try:
            with open(os.path.join(node.home, "count-" + tag)) as f:
                return len(f.read().split())
        except FileNotFoundError:
            return 0

    def ctl_json(self, node, *args):
        proc = node.daemon.ctl("--json", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def gossip(self, node):
        return self.ctl_json(node, "peers", "--stats")["gossip"]

    def store(self, node):
        return self.ctl_json(node, "stats")["store"]

    def node_id(self, node):
        return self.ctl_json(node, "info")["local"]["node_id"]

    def fetches(self, node):
        return self.ctl_json(node, "fetches")

    def wait_results(self, node, holder, at_least=1, timeout=30.0):
        """Until node's digests of holder show at least that many results."""
        hid = self.node_id(holder)

        def enough():
            for p in self.ctl_json(node, "peers"):
                if p["id"] == hid and p["state"] == "alive" and p["results"] >= at_least:
                    return True
            return False
        harness.wait_for(enough, timeout=timeout, interval=0.2,
                         what="%s's digest at %s" % (holder.name, node.name))


@contextlib.contextmanager
def cluster(n):
    """n nodes, daemons up, every node alive at every other; removed after."""
    with harness.Cluster(n) as c:
        c.start_daemons(lan=True)
        nodes = Nodes(c)
        ids = [nodes.node_id(x) for x in c.nodes]
        harness.wait_for(lambda: all(
            {p["id"] for p in nodes.ctl_json(x, "peers") if p["state"] == "alive"}
            >= set(ids) - {ids[i]} for i, x in enumerate(c.nodes)),
            timeout=30, interval=0.2, what="every node alive everywhere")
        yield c, nodes


# ---------------------------------------------------------------- tests

@pytest.mark.smoke
def test_result_computed_on_a_is_returned_on_b_without_computing():
    with cluster(2) as (c, n):
        a, b = c.nodes
        call = """
        v = fetchmod.f(3, scale=2, opts={"k": [1, 2], "z": None})
        print(json.dumps({"v": v, "info": fetchmod.f.cache_info()._asdict(),
                          "client": lookups()}))
        """
        on_a = n.python(a, call)
        assert on_a["info"]["computed"] == 1 and n.count(a, "f") == 1
        n.wait_results(b, a)
        before = n.gossip(b)
        on_b = n.python(b, call)
        after = n.gossip(b)
        print("on B:", on_b, "gossip B:", {k: after[k] for k in after if after[k] != before.get(k)})
        assert on_b["v"] == on_a["v"]
        assert n.count(b, "f") == 0                         # f never ran on B
        assert on_b["info"]["hits_peer"] == 1 and on_b["info"]["computed"] == 0
        assert on_b["client"] == {"lookup_fetched": 1}
        assert after["fetched"] == before["fetched"] + 1
        print("B fetched %d bytes; gossip on B: %s" % (
            after.get("xfer_bytes_in", 0) - before.get("xfer_bytes_in", 0),
            {k: after[k] for k in after if after[k] != before.get(k)}))
        # A second process on B: a local hit, no lookup, no new fetch.
        again = n.python(b, call)
        assert again["v"] == on_a["v"] and again["info"]["hits_local"] == 1
        assert again["client"] == {}
        assert n.gossip(b)["fetched"] == after["fetched"] and n.count(b, "f") == 0


def test_large_array_and_fileref_cross():
    with cluster(2) as (c, n):
        a, b = c.nodes
        call = """
        v = fetchmod.array(300, 7)
        ref = fetchmod.report(5 * (1 << 20) + 123)
        with open(ref.path, "rb") as f:
            data = f.read()
        st = os.stat(ref.path)
        print(json.dumps({"array": fetchmod.digest(v), "shape": list(v.shape),
                          "file": fetchmod.digest(data), "size": len(data),
                          "path": ref.path, "mode": st.st_mode,
                          "peer": [fetchmod.array.cache_info().hits_peer,
                                   fetchmod.report.cache_info().hits_peer]}))
        """
        on_a = n.python(a, call)
        n.wait_results(b, a, at_least=2)
        on_b = n.python(b, call)
        assert n.count(b, "array") == 0 and n.count(b, "report") == 0
        assert on_b["array"] == on_a["array"] and on_b["shape"] == [300 * MIB // 8]
        assert on_b["file"] == on_a["file"] and on_b["size"] == 5 * MIB + 123
        assert on_b["peer"] == [1, 1]
        # B's FileRef is a read-only regular file of B's own store.
        assert on_b["path"].startswith(os.path.join(b.home, "blobs") + os.sep)
        assert stat.S_ISREG(on_b["mode"]) and stat.S_IMODE(on_b["mode"]) & 0o222 == 0


def test_no_holder_costs_no_network_round_trip():
    with cluster(2) as (c, n):
        a, b = c.nodes
        n.python(a, "fetchmod.f(1)\nprint(json.dumps(0))\n")    # A holds something else
        n.wait_results(b, a)
        before = n.gossip(b)
        out = n.python(b, """
        fetchmod.nobody(42)
        print(json.dumps(lookups()))
        """)
        after = n.gossip(b)
        assert out == {"lookup_no_candidate": 1} and n.count(b, "nobody") == 1
        assert after["lookups_no_candidate"] == before["lookups_no_candidate"] + 1
        # No manifest request left B for this miss: the only requests are
        # the computation's claim and done mark at the key's arbiter, and
        # their replica to its successor, when that is A (docs/claims.md).
        sent = after["xfer_requests_sent"] - before["xfer_requests_sent"]
        claims = sum(after["claims_" + k] - before["claims_" + k] for k in ("remote", "replicas"))
        assert sent == claims, (sent, claims)
        assert after["lookups_false_positive"] == before["lookups_false_positive"]


def test_untrusted_pickle_from_a_peer_is_refused_and_computed():
    with cluster(2) as (c, n):
        a, b = c.nodes
        marker = os.path.join(c.root, "pwned")
        call = """
        v = fetchmod.evil(%r)
        print(json.dumps({"info": fetchmod.evil.cache_info()._asdict(),
                          "refused": _log.counters["unsafe_refused"]}))
        """ % marker
        n.python(a, call)
        n.wait_results(b, a)
        out = n.python(b, call)
        # Fetched, refused by the restricted unpickler, never executed,
        # computed on B (and stored over the fetched copy).
        assert not os.path.exists(marker)
        assert out["info"]["unsafe_refused"] == 1 and out["refused"] >= 1
        assert out["info"]["computed"] == 1 and n.count(b, "evil") == 1
        assert n.gossip(b)["fetched"] >= 1


def test_slow_link_and_cheap_function_computes_and_says_why():
    with cluster(2) as (c, n):
        a, b = c.nodes
        n.python(a, "fetchmod.cheap(1)\nprint(json.dumps(0))\n")
        n.wait_results(b, a)
        c.set_rate(b, "1mbit")
        try:
            before = n.gossip(b)
            out = n.python(b, """
            fetchmod.cheap(1)
            print(json.dumps(lookups()))
            """)
            after = n.gossip(b)
        finally:
            c.set_rate(b, None)
        assert out == {"lookup_compute": 1} and n.count(b, "cheap") == 1
        assert after["computed_instead"] == before["computed_instead"] + 1
        assert after["verdict_compute"] == before["verdict_compute"] + 1
        assert after["fetched"] == before["fetched"]


def _corrupt_blob(node, nodes, fn_key_body):
    """Flip bytes in the middle of node's blob file of a stored result."""
    out = nodes.python(node, fn_key_body)
    path = os.path.join(node.home, "blobs", out["blob"][:2], out["blob"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        chunk = f.read(64)
        f.seek(-len(chunk), 1)
        f.write(bytes(x ^ 0xFF for x in chunk))
    os.chmod(path, 0o444)


BLOB_OF = """
found = _localstore.get().lookup(fetchmod.blob.memo.key((%d, %d), {}))
print(json.dumps({"blob": found.manifest["blob"].hex()}))
"""


def test_lying_holder_is_detected_and_never_returns_a_wrong_value():
    with cluster(3) as (c, n):
        a, b, h = c.nodes           # h: the honest second holder
        call = """
        v = fetchmod.blob(%d, %d)
        print(json.dumps({"d": fetchmod.digest(v),
                          "peer": fetchmod.blob.cache_info().hits_peer}))
        """
        # Key 1: held by A only, corrupted there: B computes the right value.
        good1 = n.python(a, call % (8, 1))
        # Key 2: computed on A, fetched by H (an honest copy), then A's is
        # corrupted: B gets the right value from H.
        good2 = n.python(a, call % (8, 2))
        n.wait_results(h, a, at_least=2)
        assert n.python(h, call % (8, 2))["d"] == good2["d"] and n.count(h, "blob") == 0
        n.wait_results(b, h)
        _corrupt_blob(a, n, BLOB_OF % (8, 1))
        _corrupt_blob(a, n, BLOB_OF % (8, 2))
        before_b, before_a, before_ga = n.gossip(b), n.store(a), n.gossip(a)
        got1 = n.python(b, call % (8, 1))
        assert got1["d"] == good1["d"] and n.count(b, "blob") == 1
        got2 = n.python(b, call % (8, 2))
        assert got2["d"] == good2["d"] and n.count(b, "blob") == 1     # from H
        after_b, after_a, after_ga = n.gossip(b), n.store(a), n.gossip(a)
        # Detected: bad chunks at B, or A's own store caught its damaged
        # file when serving (it verifies what it reads), or A's serving
        # side found the file does not hash to its name while building the
        # outboard (then A answers not-found and B bans it as a source).
        detected = sum(after_b.get(k, 0) - before_b.get(k, 0)
                       for k in ("bad_chunks", "bad_outboards")) + \
            after_a.get("corrupt", 0) - before_a.get("corrupt", 0) + \
            after_ga.get("outboards_failed", 0) - before_ga.get("outboards_failed", 0)
        print("at B: bad_chunks %d, bad_outboards %d; corrupt at A's store %d" % (
            after_b.get("bad_chunks", 0), after_b.get("bad_outboards", 0),
            after_a.get("corrupt", 0)))
        assert detected >= 1


REPORT_OF = """
found = _localstore.get().lookup(fetchmod.report.memo.key((%d,), {}))
print(json.dumps({"blob": found.manifest["blob"].hex()}))
"""

CALL_SMALL = """
v = fetchmod.f(%d)
ref = fetchmod.report(%d)
with open(ref.path, "rb") as fh:
    data = fh.read()
print(json.dumps({"v": v, "file": fetchmod.digest(data), "path": ref.path,
                  "peer": [fetchmod.f.cache_info().hits_peer,
                           fetchmod.report.cache_info().hits_peer]}))
"""


def test_small_results_come_with_their_manifest():
    # A small inline result and a small FileRef (a file blob of 1000
    # bytes) each come whole in the manifest answer: no transfer, no read.
    with cluster(2) as (c, n):
        a, b = c.nodes
        on_a = n.python(a, CALL_SMALL % (5, 1000))
        n.wait_results(b, a, at_least=2)
        before_b, before_a = n.gossip(b), n.gossip(a)
        on_b = n.python(b, CALL_SMALL % (5, 1000))
        after_b, after_a = n.gossip(b), n.gossip(a)
        assert on_b["v"] == on_a["v"] and on_b["file"] == on_a["file"]
        assert on_b["peer"] == [1, 1] and n.count(b, "f") == 0 and n.count(b, "report") == 0
        assert on_b["path"].startswith(os.path.join(b.home, "blobs") + os.sep)
        assert after_b["fetched_inline"] == before_b["fetched_inline"] + 2
        assert after_b["verdict_carried"] == before_b["verdict_carried"] + 2
        assert after_b["transfers_started"] == before_b["transfers_started"]
        assert after_a["serve_inline_answers"] == before_a["serve_inline_answers"] + 2
        assert after_a["serve_reads"] == before_a["serve_reads"]
        assert not [x for x in os.listdir(os.path.join(b.home, "fetch"))]


def test_lying_small_holder_is_refused_and_counted():
    # A's small FileRef blobs are corrupted on disk after H fetched one of
    # them: A's manifest answers carry content that is not the blob they
    # name. B refuses them (bad_inline), fetches key 1 from honest H and
    # computes key 2 (A held it alone); never a wrong value.
    with cluster(3) as (c, n):
        a, b, h = c.nodes
        call = """
        ref = fetchmod.report(%d)
        with open(ref.path, "rb") as fh:
            print(json.dumps({"d": fetchmod.digest(fh.read()),
                              "peer": fetchmod.report.cache_info().hits_peer}))
        """
        good1 = n.python(a, call % 1001)
        good2 = n.python(a, call % 1002)
        n.wait_results(h, a, at_least=2)
        assert n.python(h, call % 1001) == {"d": good1["d"], "peer": 1}
        n.wait_results(b, h)
        _corrupt_blob(a, n, REPORT_OF % 1001)
        _corrupt_blob(a, n, REPORT_OF % 1002)
        before = n.gossip(b)
        got1 = n.python(b, call % 1001)
        got2 = n.python(b, call % 1002)
        after = n.gossip(b)
        assert got1 == {"d": good1["d"], "peer": 1}                 # from H
        assert got2 == {"d": good2["d"], "peer": 0}                 # computed
        assert n.count(b, "report") == 1
        assert after["bad_inline"] == before["bad_inline"] + 2
        assert after["bad_manifests"] == before["bad_manifests"] + 2
        assert after["fetched_inline"] == before["fetched_inline"] + 1


def _wait_progress(n, node, fraction, proc, timeout=120.0):
    def far_enough():
        assert proc.poll() is None, proc.communicate()
        rows = n.fetches(node)
        return rows and rows[0]["size"] and rows[0]["received"] >= fraction * rows[0]["size"]
    harness.wait_for(far_enough, timeout=timeout, interval=0.05, what="transfer progress")


def _finish(proc, timeout=600, stderr=None):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    if stderr is not None:
        stderr.append(err)
    return json.loads(out.strip().splitlines()[-1])


CALL_BLOB = """
v = fetchmod.blob(%d, %d)
print(json.dumps({"d": fetchmod.digest(v), "peer": fetchmod.blob.cache_info().hits_peer}))
"""


def test_two_holders_serve_and_one_cut_midway_the_other_finishes():
    with cluster(3) as (c, n):
        a, b, h = c.nodes
        size = 96
        good = n.python(a, CALL_BLOB % (size, 5))
        n.wait_results(h, a)
        assert n.python(h, CALL_BLOB % (size, 5))["d"] == good["d"]
        n.wait_results(b, h)
        n.wait_results(b, a)
        served = {x.name: n.gossip(x).get("serve_bytes", 0) for x in (a, h)}
        c.set_rate(b, "200mbit", direction="in")          # a few seconds for 96 MiB
        proc = n.start_python(b, CALL_BLOB % (size, 5))
        _wait_progress(n, b, 0.25, proc)
        rows = n.fetches(b)
        assert len(rows[0]["sources"].split(",")) == 2, rows          # both serve
        text = b.daemon.ctl("fetches").stdout
        print(text)
        assert "fetchmod.blob" in text and "96.0 MiB" in text and rows[0]["key"][:12] in text
        c.partition([a], [b, h])                            # cut A off (nft drops)
        got = _finish(proc)
        c.heal()
        c.set_rate(b, None)
        assert got == {"d": good["d"], "peer": 1} and n.count(b, "blob") == 0
        grew = {x.name: n.gossip(x).get("serve_bytes", 0) - served[x.name] for x in (a, h)}
        print("served to B: %s" % grew)
        assert grew[a.name] > 0 and grew[h.name] > 0


def test_holder_killed_mid_transfer_resumes_after_restart():
    with cluster(2) as (c, n):
        a, b = c.nodes
        size = 200
        good = n.python(a, CALL_BLOB % (size, 9))
        n.wait_results(b, a)
        before = n.gossip(b).get("xfer_bytes_in", 0)
        c.set_rate(b, "400mbit", direction="in")
        # The progress bar, drawn although stderr is a pipe here.
        with open(os.path.join(b.home, "config.toml"), "a") as f:
            f.write('\n[client]\nprogress = "always"\n')
        proc = n.start_python(b, CALL_BLOB % (size, 9))
        _wait_progress(n, b, 0.3, proc)
        a.kill_daemon()
        time.sleep(1.0)
        a.start_daemon(lan=True)
        err = []
        got = _finish(proc, stderr=err)
        assert "irohds: fetching fetchmod.blob:" in err[0] and "%|" in err[0], err[0][-2000:]
        c.set_rate(b, None)
        received = n.gossip(b).get("xfer_bytes_in", 0) - before
        print("B received %.1f MiB for a %d MiB result" % (received / MIB, size))
        assert got == {"d": good["d"], "peer": 1} and n.count(b, "blob") == 0
        assert received < 1.5 * size * MIB
