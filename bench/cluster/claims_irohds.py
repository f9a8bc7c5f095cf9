#!/usr/bin/python3
"""bench/cluster/claims_irohds.py: the irohds side of
bench/cluster/claims_anchors.py (docs/BENCHMARKS.md, Peers III): its two
hooks, in the same cluster as the Redis anchors, so every ratio is one
run's.

  measure_irohds_claim   node B (claimer) sends gossip_claim (proto/
                         gossip.def; kind 1, want 1, one fresh key per
                         request, one request at a time) through the
                         Python client's transport, exactly as the client
                         does, for keys whose arbiter is node A: p50/p99
                         per request, from the send to the decoded reply.
                         Where the time goes, in the same process:
                           ping_store   client -> broker -> store, empty
                           ping_gossip  client -> broker -> gossip, empty
                           store_claim  the local claim of irohds.each on
                                        one machine (store each_claim:
                                        broker + one LMDB write
                                        transaction)
                           store_claim_memo  the same for @irohds.memo
                                        (store claim: the same claims
                                        database, one write transaction)
                           local        gossip_claim of keys whose arbiter
                                        is B itself (no network)
                           remote       the figure (arbiter A)
                           remote_memo  the same with kind 0 (@irohds.memo)
                         Keys are sorted by arbiter with the rendezvous
                         rank the gossip actor uses (arbiter_rank below);
                         the state of every reply is counted (all must be
                         "granted": the keys are fresh).
  measure_irohds_each    irohds.each over the same trivial keys as the
                         Redis loop, `procs` processes on each node, all
                         started together: keys per second, process-
                         seconds per key, runs per key; with nodes=[B]
                         one process alone (the cost per key).

Daemons start once per cluster with LAN beacons on the cluster's bridge
only (as bench/cluster/xfer_irohds.py, whose set-up this reuses) and stop
with the cluster. Every measurement uses a namespace of its own.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster"))

import claims_anchors as ca  # noqa: E402
import harness  # noqa: E402
import xfer_irohds  # noqa: E402  (stages the build's client on PYTHONPATH)

SCRIPT = os.path.abspath(__file__)
STATE_NAMES = ("granted", "held", "done", "free", "unreachable")


# ---- the rendezvous rank of a key (the gossip actor's arbiter choice) ----
def arbiter_rank(wire_ns, key, node_ids):
    """node_ids (32-byte ids) from first to last rank for key, as the
    gossip actor ranks them (gossip_lease_score in actors/gossip/
    gossip_lease.h): score = the first 8 bytes, big-endian, of
    BLAKE3(wire_ns || 0x00 || key || node); highest first, equal scores
    to the lower id. For a public namespace the wire name is its name.
    The bench checks the split it relies on against the arbiters'
    counters (measure_irohds_claim)."""
    from irohds import _native
    prefix = wire_ns.encode() + b"\0" + key

    def score(node):
        return int.from_bytes(_native.blake3(prefix + node)[:8], "big")
    return sorted(node_ids, key=lambda n: (-score(n), n))


# ---- worker roles (run in a node by the parent) ---------------------------
def _timed(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def role_claim(args):
    """The figures of measure_irohds_claim on this node (module doc)."""
    from irohds import _claims, _daemon, _transport
    tr = _transport.get_transport()
    me, arb = bytes.fromhex(args.self_id), bytes.fromhex(args.arbiter_id)
    ids = [bytes.fromhex(x) for x in args.ids.split(",")]
    holder = _claims.new_holder()
    out = {}
    # Warm up every path (connections, the daemon's first transactions).
    for _ in range(50):
        tr.call("store", "ping")
        tr.call("gossip", "ping")
    out["ping_store"] = ca.percentiles(_timed(lambda: tr.call("store", "ping"), args.count))
    out["ping_gossip"] = ca.percentiles(_timed(lambda: tr.call("gossip", "ping"), args.count))

    def store_claim():
        _daemon.call("store", "each_claim", ns=args.ns + "-store", holder=holder,
                     lease_ms=ca.LEASE_MS, want=1, done=b"", keys=os.urandom(32))
    _timed(store_claim, 50)
    out["store_claim"] = ca.percentiles(_timed(store_claim, args.count))

    def store_claim_memo():
        _daemon.call("store", "claim", key=os.urandom(32), holder=holder,
                     lease_ms=ca.LEASE_MS)
    _timed(store_claim_memo, 50)
    out["store_claim_memo"] = ca.percentiles(_timed(store_claim_memo, args.count))

    # Fresh keys sorted by arbiter: `count` for A, `count` for B.
    pools = {"remote": [], "local": [], "remote_memo": []}
    while any(len(p) < args.count + 50 for p in pools.values()):
        key = os.urandom(32)
        order = arbiter_rank(args.ns, key, ids)
        if order[0] == arb:
            pool = min((pools["remote"], pools["remote_memo"]), key=len)
        elif order[0] == me:
            pool = pools["local"]
        else:
            continue
        if len(pool) < args.count + 50:
            pool.append(key)

    def claimer(kind, states):
        def one(key):
            frames = _daemon.call("gossip", "gossip_claim", ns=args.ns, kind=kind,
                                  holder=holder, lease_ms=ca.LEASE_MS, want=1, timeout_ms=0,
                                  done=b"", keys=key)
            reply = _daemon.decode(frames, "gossip_claim_reply")[1]
            for st in reply["states"]:
                name = STATE_NAMES[st] if st < len(STATE_NAMES) else str(st)
                states[name] = states.get(name, 0) + 1
            states["alone"] = states.get("alone", 0) + reply["alone"]
        return one

    for name, kind in (("local", 1), ("remote", 1), ("remote_memo", 0)):
        keys = iter(pools[name])
        states = {}
        one = claimer(kind, states)
        _timed(lambda: one(next(keys)), 50)
        states.clear()
        out[name] = ca.percentiles(_timed(lambda: one(next(keys)), args.count))
        out[name]["states"] = states
    print(json.dumps(out))


def role_each(args):
    """One process of measure_irohds_each: irohds.each over the keys."""
    import irohds
    keys = ca.keys_of(args.keys)
    irohds.each_status(["warm-up"], ns=args.ns + "-warm")     # connect first
    index = {k: i for i, k in enumerate(keys)}
    ran = []
    ca.ready_and_wait(args.go)
    t0, c0 = time.time(), time.process_time()
    for key in irohds.each(keys, ns=args.ns, timeout=ca.LEASE_MS / 1000):
        ca.body(key)
        ran.append(index[key])
    t1 = time.time()
    print(json.dumps(ca.loop_result(ran, t0, t1, time.process_time() - c0)))


ROLES = {"_claim": role_claim, "_each": role_each}


def role_main(argv):
    import argparse
    parser = argparse.ArgumentParser(prog="claims_irohds.py " + argv[0])
    parser.add_argument("--ns")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--self-id")
    parser.add_argument("--arbiter-id")
    parser.add_argument("--ids")
    parser.add_argument("--go")
    ROLES[argv[0]](parser.parse_args(argv[1:]))


# ---- the hooks (called by claims_anchors.run) -----------------------------
_state = {}


def _irohds(cluster):
    """xfer_irohds' per-cluster set-up: daemons on every node, every node
    alive everywhere; one per cluster."""
    if _state.get("cluster") is not cluster:
        _state.clear()
        _state["cluster"] = cluster
        _state["irohds"] = xfer_irohds._Irohds(cluster)
        _state["runs"] = 0
    _state["runs"] += 1
    return _state["irohds"], "bench%d-%d" % (os.getpid(), _state["runs"])


def _env(node):
    env = harness.irohds_test.test_env(node.home, IROHDS_CAP_PROFILE="fixed", IROHDS_LAN="1",
                                       IROHDS_DAEMON="/bin/false")
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    return env


def _claim_stats(x):
    """Per node: the gossip counters about claims and leases."""
    return [{k: v for k, v in x.gossip(node).items() if "claim" in k or "lease" in k}
            for node in x.c.nodes]


def measure_irohds_claim(cluster, arbiter, claimer, count):
    x, ns = _irohds(cluster)
    node = cluster.nodes[claimer]
    before = _claim_stats(x)
    out = ca.run_json(node, ca.worker(
        "_claim", "--ns", ns, "--count", count, "--self-id", x.ids[claimer],
        "--arbiter-id", x.ids[arbiter], "--ids", ",".join(x.ids), script=SCRIPT),
        env=_env(node), timeout=900)
    after = _claim_stats(x)
    # What each node's gossip counted during the run (the arbiter A should
    # have answered the 2 x (count + 50) remote requests, B the local ones).
    out["gossip_claim_counters"] = {
        cluster.nodes[i].name: {k: v - before[i].get(k, 0) for k, v in after[i].items()
                                if v != before[i].get(k, 0)}
        for i in range(len(cluster.nodes))}
    out["requests_per_kind"] = count + 50
    return out


def measure_irohds_each(cluster, nkeys, procs, nodes=None):
    x, ns = _irohds(cluster)
    results = ca.run_together(cluster, procs, lambda node, i, go: ca.worker(
        "_each", "--ns", ns, "--keys", nkeys, "--go", go, script=SCRIPT), env_of=_env,
        nodes=nodes)
    out = ca.loop_summary(results, nkeys)
    out["ns"] = ns
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        role_main(sys.argv[1:])
    else:
        sys.exit("claims_irohds.py: run bench/cluster/claims_anchors.py (this is its "
                 "irohds half)")
