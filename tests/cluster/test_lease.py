"""tests/cluster/test_lease.py: claims across machines at the gossip actor
(docs/claims.md), through the raw broker request gossip_claim that the
Python client uses, from processes inside each node's namespace. Real
daemons, real stores, real sockets (tests/cluster/harness.py).

- the same key claimed from three nodes at once: exactly one grant, the
  others "held" with the winner's node; a renewal keeps it; after "done"
  the others get "done" with that node; the arbiter's rank agrees with
  the documented rendezvous formula computed here in Python;
- a "done by N" answer sends the next lookup of the key to N before N's
  digest shows it;
- kill -9 of the arbiter while a lease is held: its successor answers
  "held" from the replica (and the holder's renewal is granted there);
- a lease not renewed is taken over after it expires (a done from the
  old holder then is a duplicate, counted); the leases of a node swim
  declares dead end at once;
- grants past want are given back, renewals past want are kept;
- a partition: each side has its own arbiter, the key runs once per
  side, and after the heal the duplicate is counted once (a sync);
- kind 1 (irohds.each), 200 keys, one process per node claiming one key
  at a time: every key granted exactly once;
- a peer_claim_want with a bad field from a real CURVE client is refused
  (status 4) and counted (bad_claim_requests).

Holder ids here are not of the "pid@host/uuid" form on purpose: the
processes that claim exit, and a local holder of that form whose process
is gone counts as free (docs/run-once.md).

Needs root (network namespaces).
"""
import contextlib
import json
import os
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PYTHON = "/usr/bin/python3"
NS = "lease"

# Every script gets claim(): one gossip_claim, its reply as lists.
HEADER = r'''
import json, os, struct, sys, time
from irohds import _daemon


def claim(keys=(), done=(), holder="h", want=1, kind=0, lease_ms=60000, timeout_ms=0,
          ns="%s", flags=0):
    frames = _daemon.call("gossip", "gossip_claim", timeout=60, ns=ns, kind=kind,
                          holder=holder, lease_ms=lease_ms, want=want, flags=flags,
                          timeout_ms=timeout_ms, done=b"".join(done), keys=b"".join(keys))
    r = _daemon.decode(frames, "gossip_claim_reply")[1]
    n = len(r["states"])
    return {"alone": r["alone"], "states": list(r["states"]),
            "expires": list(struct.unpack(">%%dQ" %% n, r["expires"])),
            "nodes": [r["nodes"][32 * i:32 * i + 32].hex() for i in range(n)]}


ARGS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
''' % NS


class Nodes:
    def __init__(self, cluster):
        self.c = cluster
        self.code = os.path.join(cluster.root, "code")
        os.makedirs(self.code, exist_ok=True)
        self.ids = [self.node_id(x) for x in cluster.nodes]

    def env(self, node):
        return harness.irohds_test.test_env(node.home, IROHDS_CAP_PROFILE="fixed",
                                            IROHDS_LAN="1", IROHDS_DAEMON="/bin/false")

    def script(self, body):
        path = os.path.join(self.code, "run-%d.py" % len(os.listdir(self.code)))
        with open(path, "w") as out:
            out.write(HEADER + textwrap.dedent(body))
        return path

    def start(self, node, body, args=None):
        import subprocess
        return node.popen([PYTHON, self.script(body), json.dumps(args or {})],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=self.env(node))

    @staticmethod
    def result(proc, timeout=300):
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-4000:]
        return json.loads(out.strip().splitlines()[-1])

    def python(self, node, body, args=None, timeout=300):
        return self.result(self.start(node, body, args), timeout)

    def claim(self, node, **args):
        """One gossip_claim on node; keys and done as hex lists."""
        return self.python(node, """
            a = dict(ARGS)
            a["keys"] = [bytes.fromhex(k) for k in a.get("keys", [])]
            a["done"] = [bytes.fromhex(k) for k in a.get("done", [])]
            print(json.dumps(claim(**a)))
            """, args)

    def ctl_json(self, node, *args):
        proc = node.daemon.ctl("--json", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def gossip(self, node):
        return self.ctl_json(node, "peers", "--stats")["gossip"]

    def node_id(self, node):
        return self.ctl_json(node, "info")["local"]["node_id"]

    def rank(self, key_hex, among=None):
        """Node indexes by rendezvous score for key (docs/claims.md), best
        first, computed here with libirohds's BLAKE3."""
        from irohds import _native
        among = range(len(self.ids)) if among is None else among
        key = bytes.fromhex(key_hex)

        def score(i):
            h = _native.blake3(NS.encode() + b"\0" + key + bytes.fromhex(self.ids[i]))
            return int.from_bytes(h[:8], "big")
        return sorted(among, key=lambda i: (-score(i), self.ids[i]))

    def key_ranked(self, first, second):
        """A random key whose arbiter is node first and successor second."""
        while True:
            k = os.urandom(32).hex()
            r = self.rank(k)
            if r[0] == first and r[1] == second:
                return k

    def wait_alive(self, among, timeout=60):
        def alive():
            for i in among:
                seen = {p["id"] for p in self.ctl_json(self.c.nodes[i], "peers")
                        if p["state"] == "alive"}
                if not seen >= {self.ids[j] for j in among if j != i}:
                    return False
            return True
        harness.wait_for(alive, timeout=timeout, interval=0.2, what="members alive")

    def wait_dead(self, observers, dead, timeout=60):
        def gone():
            for i in observers:
                states = {p["id"]: p["state"] for p in self.ctl_json(self.c.nodes[i], "peers")}
                if states.get(self.ids[dead], "dead") != "dead":
                    return False
            return True
        harness.wait_for(gone, timeout=timeout, interval=0.2, what="node declared dead")


@contextlib.contextmanager
def cluster(n):
    with harness.Cluster(n) as c:
        c.start_daemons(lan=True)
        nodes = Nodes(c)
        nodes.wait_alive(range(n))
        yield c, nodes


# ---------------------------------------------------------------- tests

@pytest.mark.smoke
def test_one_grant_across_three_nodes_then_renew_and_done():
    with cluster(3) as (c, n):
        key = os.urandom(32).hex()
        arbiter = n.rank(key)[0]
        racers = [n.start(c.nodes[i], """
            print(json.dumps(claim([bytes.fromhex(ARGS["key"])], holder=ARGS["holder"])))
            """, {"key": key, "holder": "racer-%d" % i}) for i in range(3)]
        got = [n.result(p) for p in racers]
        states = [g["states"] for g in got]
        assert sorted(s[0] for s in states) == [0, 1, 1], got
        winner = [s[0] for s in states].index(0)
        for i, g in enumerate(got):
            assert g["alone"] == 0
            assert g["nodes"][0] == n.ids[winner], (i, got)
            assert 0 < g["expires"][0] <= 60000
        # The arbiter decided every one (three served, one of them its own).
        st = [n.gossip(x) for x in c.nodes]
        assert sum(s["claims_served"] for s in st) == 2, st
        assert st[arbiter]["claims_local"] == 1, st[arbiter]
        assert st[arbiter]["claims_replicas"] >= 1
        assert sum(s["claims_replicas_in"] for s in st) >= 1
        assert st[n.rank(key)[1]]["claims_replicas_in"] >= 1

        # Renewal by the same holder keeps it; another holder still sees it held.
        again = n.claim(c.nodes[winner], keys=[key], holder="racer-%d" % winner)
        assert again["states"] == [0]
        other = (winner + 1) % 3
        held = n.claim(c.nodes[other], keys=[key], holder="late")
        assert held["states"] == [1] and held["nodes"] == [n.ids[winner]]
        # "busy" is this node's own work: the arbiter's store keeps the
        # winner's lease, but counts it as active only when it won itself.
        active = n.ctl_json(c.nodes[arbiter], "stats")["store"]["claims_active"]
        assert active == (1 if winner == arbiter else 0), (active, winner, arbiter)

        # Done: everybody else is told who has it.
        fin = n.claim(c.nodes[winner], done=[key], want=0, holder="racer-%d" % winner)
        assert fin["states"] == []
        for i in range(3):
            if i != winner:
                after = n.claim(c.nodes[i], keys=[key], holder="after-%d" % i)
                assert after["states"] == [2] and after["nodes"] == [n.ids[winner]], after
        # want 0 only reports.
        report = n.claim(c.nodes[other], keys=[key, os.urandom(32).hex()], want=0,
                         holder="")
        assert report["states"] == [2, 3]


def test_done_answer_sends_the_next_lookup_to_that_node():
    """A memo done answer names the node that has the result; the next
    gossip_lookup of the key on the asking node asks that node although
    its digest does not show the key (here it never will: the winner
    stored nothing, so the lookup ends "not found" after asking, instead
    of "no candidate" without asking)."""
    with cluster(3) as (c, n):
        key = n.key_ranked(0, 1)
        assert n.claim(c.nodes[1], keys=[key], holder="w")["states"] == [0]
        assert n.claim(c.nodes[1], done=[key], want=0, holder="w")["states"] == []
        out = n.python(c.nodes[2], """
            key = bytes.fromhex(ARGS["key"])
            before = _daemon.decode(_daemon.call("gossip", "gossip_lookup", key=os.urandom(32),
                                                 ns="%s", fn="f"), "gossip_lookup_reply")[1]
            r = claim([key], holder="x")
            look = _daemon.decode(_daemon.call("gossip", "gossip_lookup", key=key, ns="%s",
                                               fn="f"), "gossip_lookup_reply")[1]
            print(json.dumps({"claim": r, "before": before["status"], "after": look["status"]}))
            """ % (NS, NS), {"key": key})
        assert out["claim"]["states"] == [2] and out["claim"]["nodes"] == [n.ids[1]]
        assert out["before"] == 1 and out["after"] == 2, out
        assert n.gossip(c.nodes[2])["digest_hinted"] >= 1
        assert n.gossip(c.nodes[2])["claims_done_hints"] >= 1


def test_arbiter_killed_successor_answers_from_the_replica():
    with cluster(3) as (c, n):
        # Arbiter 0, successor 1, the holder on node 2.
        key = n.key_ranked(0, 1)
        first = n.claim(c.nodes[2], keys=[key], holder="worker", lease_ms=120000)
        assert first["states"] == [0]
        st = n.gossip(c.nodes[1])
        assert st["claims_replicas_in"] >= 1, st
        c.nodes[0].kill_daemon()
        # Until swim declares it dead its keys are unreachable, never free.
        early = n.claim(c.nodes[1], keys=[key], holder="thief", timeout_ms=1000)
        assert early["states"][0] in (1, 4), early
        n.wait_dead([1, 2], 0)
        held = n.claim(c.nodes[1], keys=[key], holder="thief")
        assert held["states"] == [1] and held["nodes"] == [n.ids[2]], held
        held = n.claim(c.nodes[2], keys=[key], holder="thief-2")
        assert held["states"] == [1] and held["nodes"] == [n.ids[2]], held
        # The holder's renewal goes to the new arbiter and is granted.
        renew = n.claim(c.nodes[2], keys=[key], holder="worker", lease_ms=120000)
        assert renew["states"] == [0]
        # Node 1 decided all of these itself now (arbiter of the key).
        assert n.gossip(c.nodes[1])["claims_served"] >= 2


def test_grants_past_want_are_given_back_but_renewals_kept():
    with cluster(3) as (c, n):
        held = n.key_ranked(0, 1)           # the holder has it already
        fresh = n.key_ranked(1, 2)          # free
        other = n.key_ranked(2, 0)          # free
        assert n.claim(c.nodes[2], keys=[held], holder="h")["states"] == [0]
        before = n.gossip(c.nodes[2])
        # want 1 over three arbiters: "fresh" is the grant; "held" is
        # renewed past it (kept), "other" granted past it (given back).
        got = n.claim(c.nodes[2], keys=[fresh, held, other], holder="h")
        assert got["states"] == [0], got
        after = n.gossip(c.nodes[2])
        assert after["claims_renewals_kept"] == before["claims_renewals_kept"] + 1
        assert after["claims_overgrant_released"] == before["claims_overgrant_released"] + 1
        # Another holder: "held" and "fresh" are still h's, "other" is free
        # again (the 1 ms lease it was given back with may take a moment).
        out = n.python(c.nodes[0], """
            keys = [bytes.fromhex(k) for k in ARGS["keys"]]
            for _ in range(200):
                r = claim(keys, holder="x", want=0)
                if r["states"][2] == 3:
                    break
                time.sleep(0.05)
            print(json.dumps(r))
            """, {"keys": [held, fresh, other]})
        assert out["states"] == [1, 1, 3], out
        assert out["nodes"][:2] == [n.ids[2], n.ids[2]]


def test_leases_of_a_dead_holder_node_end_when_swim_declares_it_dead():
    with cluster(3) as (c, n):
        key = n.key_ranked(0, 1)
        assert n.claim(c.nodes[2], keys=[key], holder="doomed",
                       lease_ms=600000)["states"] == [0]
        assert n.claim(c.nodes[1], keys=[key], holder="next")["states"] == [1]
        c.nodes[2].kill_daemon()
        n.wait_dead([0, 1], 2)
        # The release follows the member event: poll until it landed (the
        # lease itself would last ten minutes).
        out = n.python(c.nodes[1], """
            key = bytes.fromhex(ARGS["key"])
            seen = []
            for _ in range(400):
                r = claim([key], holder="next")
                seen.append(r["states"][0])
                if seen[-1] == 0:
                    break
                time.sleep(0.05)
            print(json.dumps(seen))
            """, {"key": key})
        assert out[-1] == 0, out
        assert n.gossip(c.nodes[0])["claims_freed_dead"] >= 1


def test_lease_not_renewed_is_taken_over():
    with cluster(3) as (c, n):
        key = n.key_ranked(1, 2)
        got = n.claim(c.nodes[0], keys=[key], holder="sleepy", lease_ms=2000)
        assert got["states"] == [0]
        # Another holder polls until the lease ran out: held, then granted.
        out = n.python(c.nodes[2], """
            key = bytes.fromhex(ARGS["key"])
            seen = []
            for _ in range(600):
                r = claim([key], holder="eager")
                seen.append(r["states"][0])
                if r["states"][0] == 0:
                    break
                time.sleep(0.05)
            print(json.dumps(seen))
            """, {"key": key})
        assert out[0] == 1 and out[-1] == 0 and set(out[:-1]) == {1}, out
        # The sleepy holder finishes anyway, while "eager" holds the key:
        # both ran it, and the arbiter counts it (its successor does not).
        assert n.claim(c.nodes[0], done=[key], want=0, holder="sleepy")["states"] == []
        dups = [n.gossip(x)["claims_duplicates"] for x in c.nodes]
        assert dups == [0, 1, 0], dups


def test_partition_one_run_per_side_and_the_duplicate_counted():
    with cluster(3) as (c, n):
        key = n.key_ranked(0, 1)
        c.partition([0], [1, 2])
        n.wait_dead([1, 2], 0)
        n.wait_dead([0], 1)
        n.wait_dead([0], 2)
        # Each side has its own arbiter now: the key runs once per side.
        a = n.claim(c.nodes[0], keys=[key], holder="side-a", kind=1)
        b = n.claim(c.nodes[1], keys=[key], holder="side-b", kind=1)
        assert a["states"] == [0] and a["alone"] == 1, a
        assert b["states"] == [0] and b["alone"] == 0, b
        assert n.claim(c.nodes[0], done=[key], want=0, holder="side-a", kind=1)["states"] == []
        assert n.claim(c.nodes[1], done=[key], want=0, holder="side-b", kind=1)["states"] == []
        # ... and only once per side.
        again = n.claim(c.nodes[2], keys=[key], holder="side-b-2", kind=1)
        assert again["states"] == [2], again
        assert sum(n.gossip(x)["claims_duplicates"] for x in c.nodes) == 0
        c.heal()
        n.wait_alive(range(3))
        # Node 1's mark reaches node 0, the key's arbiter again: counted once.
        harness.wait_for(lambda: sum(n.gossip(x)["claims_duplicates"] for x in c.nodes) >= 1,
                         timeout=60, interval=0.2, what="the duplicate counted")
        st = [n.gossip(x) for x in c.nodes]
        assert st[0]["claims_duplicates"] == 1 and st[0]["claims_syncs_in"] >= 1, st[0]
        assert sum(s["claims_duplicates"] for s in st) == 1
        assert n.claim(c.nodes[2], keys=[key], holder="late", kind=1)["states"] == [2]


def test_keep_counts_want_per_arbiter_and_keeps_every_grant_it_answers():
    with cluster(3) as (c, n):
        a1, b1, a2, c1 = (n.key_ranked(0, 1), n.key_ranked(1, 2), n.key_ranked(0, 2),
                          n.key_ranked(2, 0))
        before = n.gossip(c.nodes[1])
        # One key per arbiter: want 1 each, all three granted and kept.
        x, y, z = n.key_ranked(0, 1), n.key_ranked(1, 0), n.key_ranked(2, 1)
        got = n.claim(c.nodes[1], keys=[x, y, z], holder="k", kind=1, flags=1)
        assert got["states"] == [0, 0, 0], got
        # Node 0 stops looking at a1 (its want-th grant), so the answer ends
        # before a2, its next key: c1's grant lies past the end, given back.
        got = n.claim(c.nodes[1], keys=[a1, b1, a2, c1], holder="k", kind=1, flags=1)
        assert got["states"] == [0, 0], got
        after = n.gossip(c.nodes[1])
        assert after["claims_overgrant_released"] == before["claims_overgrant_released"] + 1
        # What was kept is k's: another holder sees all of it held.
        got = n.claim(c.nodes[2], keys=[x, y, z, a1, b1, c1], holder="j", kind=1, want=0)
        assert got["states"][:5] == [1, 1, 1, 1, 1], got
        # An unknown flag is refused.
        out = n.python(c.nodes[0], """
            from irohds import _transport
            try:
                _transport.get_transport().call("gossip", "gossip_claim", ns="lease", kind=1,
                                                holder="k", lease_ms=1000, want=1, flags=2,
                                                timeout_ms=0, done=b"", keys=bytes(32))
                print(json.dumps("accepted"))
            except _transport.ServiceError as e:
                print(json.dumps("%s %s %s" % (e, getattr(e, "code", ""), getattr(e, "text", ""))))
            """)
        assert "bad-request" in out and "unknown flags" in out, out


def test_each_keys_granted_exactly_once_across_nodes():
    with cluster(3) as (c, n):
        keys = [os.urandom(32).hex() for _ in range(200)]
        body = """
            keys = [bytes.fromhex(k) for k in ARGS["keys"]]
            mine, last, rounds = [], [], 0
            while rounds < 5000:
                rounds += 1
                r = claim(keys, done=last, holder=ARGS["holder"], kind=1, want=1)
                last = []
                if 0 in r["states"]:
                    k = keys[r["states"].index(0)]
                    mine.append(k.hex())
                    last = [k]
                    continue
                if len(r["states"]) == len(keys) and set(r["states"]) == {2}:
                    break
                time.sleep(0.02)
            print(json.dumps({"mine": mine, "rounds": rounds}))
            """
        procs = [n.start(c.nodes[i], body, {"keys": keys, "holder": "pass-%d" % i})
                 for i in range(3)]
        results = [n.result(p, timeout=600) for p in procs]
        ran = [k for r in results for k in r["mine"]]
        assert sorted(ran) == sorted(keys), (len(ran), len(set(ran)))
        assert all(r["mine"] for r in results), [len(r["mine"]) for r in results]
        st = [n.gossip(x) for x in c.nodes]
        assert sum(s["claims_duplicates"] for s in st) == 0, st
        assert sum(s["claims_overgrant_released"] for s in st) > 0


PROBE = r"""
import json, sys, zmq, zmq.utils.z85
from irohds import _proto
server, endpoint = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
pub, sec = zmq.curve_keypair()
s = ctx.socket(zmq.DEALER)
s.curve_serverkey = zmq.utils.z85.encode(bytes.fromhex(server))
s.curve_publickey, s.curve_secretkey = pub, sec
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
def ask(**fields):
    s.send(_proto.encode_peer_claim_want(**fields))
    if not s.poll(10000):
        return None
    return _proto.decode(s.recv(), "peer_claim")[1]["status"]
key = b"\x07" * 32
out = {
    "kind": ask(req=1, ns="lease", kind=7, holder="x", want=1, keys=key),
    "keys": ask(req=2, ns="lease", kind=1, holder="x", want=1, keys=key + b"\x01"),
    "holder": ask(req=3, ns="lease", kind=0, holder="has space", want=1, keys=key),
    "replica": ask(req=4, ns="lease", kind=0, flags=1, holder="x", want=1, keys=key),
    "good": ask(req=5, ns="lease", kind=0, holder="x", want=1, keys=key),
}
print(json.dumps(out))
"""


def test_bad_peer_claim_want_is_refused_and_counted():
    with cluster(2) as (c, n):
        before = n.gossip(c.nodes[0])["bad_claim_requests"]
        endpoint = "tcp://%s:%d" % (c.nodes[0].addr, 47460 + 2)
        proc = c.nodes[1].run([PYTHON, "-c", PROBE, n.ids[0], endpoint], timeout=120,
                              env=n.env(c.nodes[1]))
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        # 4 bad request; a replica from a stranger names no holder node (4);
        # the good one from a non-member is still decided (0).
        assert out == {"kind": 4, "keys": 4, "holder": 4, "replica": 4, "good": 0}, out
        assert n.gossip(c.nodes[0])["bad_claim_requests"] == before + 4
