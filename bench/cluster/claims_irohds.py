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
                           remote_query want 0 (only reports; no grant,
                                        so no replica to the successor)
                           window       want 1 of 64 fresh keys with the keep
                                        flag, as a step of irohds.each asks
                                        (the keys' arbiters are all three
                                        nodes: up to one grant each, kept)
                         Keys are sorted by arbiter with the rendezvous
                         rank the gossip actor uses (arbiter_rank below;
                         the arbiters' counters confirm it); the state of
                         every reply is counted (all "granted", or "free"
                         for remote_query: the keys are fresh). Each
                         phase runs in its own process; meanwhile the CPU
                         of every daemon process in every node is
                         counted (/proc: per request, by node:process).
  measure_irohds_each    irohds.each over the same trivial keys as the
                         Redis loop, `procs` processes on each node, all
                         started together: keys per second, process
                         wall and CPU seconds per key, runs per key, the
                         daemons' CPU per key and the claim counters of
                         every node over the run; with nodes=[B] one
                         process alone (the cost per key).

Daemons start once per cluster with LAN beacons on the cluster's bridge
only (as bench/cluster/xfer_irohds.py, whose set-up this reuses) and stop
with the cluster. Every hook call uses a namespace of its own.
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


PHASES = ("ping_store", "ping_gossip", "store_claim", "store_claim_memo", "local",
          "remote", "remote_memo", "remote_query", "window")
WINDOW = 64


def _fresh_keys(args, n):
    """n fresh keys whose arbiter is the node the phase needs (B itself for
    "local", A for the remote phases; none for the others)."""
    if args.phase not in ("local", "remote", "remote_memo", "remote_query"):
        return [os.urandom(32) for _ in range(n)]
    want = bytes.fromhex(args.self_id if args.phase == "local" else args.arbiter_id)
    ids = [bytes.fromhex(x) for x in args.ids.split(",")]
    keys = []
    while len(keys) < n:
        key = os.urandom(32)
        if arbiter_rank(args.ns, key, ids)[0] == want:
            keys.append(key)
    return keys


def role_claim(args):
    """One phase of measure_irohds_claim on this node (module doc): 50
    untimed requests, "ready", the go file, then args.count timed ones."""
    from irohds import _claims, _daemon, _transport
    tr = _transport.get_transport()
    holder = _claims.new_holder()
    states = {}

    def gossip_claim(key, kind, want, flags=0):
        frames = _daemon.call("gossip", "gossip_claim", ns=args.ns, kind=kind, holder=holder,
                              lease_ms=ca.LEASE_MS, want=want, timeout_ms=0, done=b"",
                              keys=key, flags=flags)
        reply = _daemon.decode(frames, "gossip_claim_reply")[1]
        for st in reply["states"]:
            name = STATE_NAMES[st] if st < len(STATE_NAMES) else str(st)
            states[name] = states.get(name, 0) + 1
        states["alone"] = states.get("alone", 0) + reply["alone"]

    one = {
        "ping_store": lambda key: tr.call("store", "ping"),
        "ping_gossip": lambda key: tr.call("gossip", "ping"),
        "store_claim": lambda key: _daemon.call(
            "store", "each_claim", ns=args.ns, holder=holder, lease_ms=ca.LEASE_MS, want=1,
            done=b"", keys=key),
        "store_claim_memo": lambda key: _daemon.call(
            "store", "claim", key=key, holder=holder, lease_ms=ca.LEASE_MS),
        "local": lambda key: gossip_claim(key, 1, 1),
        "remote": lambda key: gossip_claim(key, 1, 1),
        "remote_memo": lambda key: gossip_claim(key, 0, 1),
        "remote_query": lambda key: gossip_claim(key, 1, 0),
        "window": lambda key: gossip_claim(key + os.urandom(32 * (WINDOW - 1)), 1, 1, 1),
    }[args.phase]
    keys = iter(_fresh_keys(args, args.count + 50))
    _timed(lambda: one(next(keys)), 50)
    states.clear()
    ca.ready_and_wait(args.go)
    c0 = time.process_time()
    times = _timed(lambda: one(next(keys)), args.count)
    out = ca.percentiles(times)
    out["client_cpu_us"] = (time.process_time() - c0) / args.count * 1e6
    if states:
        out["states"] = states
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
    parser.add_argument("--phase", choices=PHASES)
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


def _cpu(cluster):
    """CPU seconds (user + system) so far of every process in the nodes'
    namespaces, by (node name, command name)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for node in cluster.nodes:
        for pid in harness.netns_pids(node.ns):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            name = "%s:%s" % (node.name, comm)
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _counter_delta(cluster, before, after):
    return {cluster.nodes[i].name: {k: v - before[i].get(k, 0) for k, v in after[i].items()
                                    if v != before[i].get(k, 0)}
            for i in range(len(cluster.nodes))}


def measure_irohds_claim(cluster, arbiter, claimer, count):
    """Every phase (module doc) in its own process on the claimer, with the
    CPU each daemon process of every node spent per request meanwhile
    (the machine's 2 cores are shared by all of them: CPU is where the
    time goes when they queue)."""
    x, ns = _irohds(cluster)
    out = {"requests": count}
    for phase in PHASES:
        cpu = {}
        counters = _claim_stats(x)
        results = ca.run_together(cluster, 1, lambda n, i, go: ca.worker(
            "_claim", "--phase", phase, "--ns", ns, "--count", count, "--go", go,
            "--self-id", x.ids[claimer], "--arbiter-id", x.ids[arbiter],
            "--ids", ",".join(x.ids), script=SCRIPT), env_of=_env, nodes=[claimer],
            before=lambda: cpu.update(_cpu(cluster)))
        after = _cpu(cluster)
        result = results[0][1]
        # The worker itself is in `after` but exited: its CPU is client_cpu_us.
        result["daemon_cpu_us"] = {
            k: round((v - cpu.get(k, 0.0)) / count * 1e6, 1) for k, v in sorted(after.items())
            if k in cpu and v - cpu.get(k, 0.0) > 0 and "python" not in k}
        # What each node's gossip counted in this phase (warm-up included:
        # count + 50 requests): A serves the remote phases, B's gossip
        # decides the local phase itself.
        result["gossip_claim_counters"] = _counter_delta(cluster, counters, _claim_stats(x))
        out[phase] = result
    return out


def measure_irohds_each(cluster, nkeys, procs, nodes=None):
    """irohds.each over nkeys keys (module doc), with the daemons' CPU per
    key and the claim counters of every node's gossip over the run."""
    x, ns = _irohds(cluster)
    cpu = {}
    counters = _claim_stats(x)
    results = ca.run_together(cluster, procs, lambda node, i, go: ca.worker(
        "_each", "--ns", ns, "--keys", nkeys, "--go", go, script=SCRIPT), env_of=_env,
        nodes=nodes, before=lambda: cpu.update(_cpu(cluster)))
    after = _cpu(cluster)
    out = ca.loop_summary(results, nkeys)
    out["ns"] = ns
    out["daemon_cpu_us_per_key"] = {
        k: round((v - cpu.get(k, 0.0)) / nkeys * 1e6, 1) for k, v in sorted(after.items())
        if k in cpu and v - cpu.get(k, 0.0) > 0 and "python" not in k}
    out["gossip_claim_counters"] = _counter_delta(cluster, counters, _claim_stats(x))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        role_main(sys.argv[1:])
    else:
        sys.exit("claims_irohds.py: run bench/cluster/claims_anchors.py (this is its "
                 "irohds half)")
