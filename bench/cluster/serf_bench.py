#!/usr/bin/python3
"""bench/cluster/serf_bench.py: Serf, the anchor for irohds' membership
gossip, in the namespace topology of tests/cluster/harness.py.

    sudo /usr/bin/python3 bench/cluster/serf_bench.py --nodes 20 --nodes 50 [--json out.json]

One Serf agent per node namespace, bound to the node's 198.18 address on
eth0 (-bind plus -iface) with its RPC on the namespace's own loopback; no
-discover (mDNS), so nothing of Serf exists in the root namespace. The
agents are joined in a chain (agent i joins agent i-1), LAN profile.

Measured, per cluster size N:
  join   a new agent joins (RPC `join` to one member, timed from just before
         the call) and the other N-1 agents learn it: p50/p99/max over all
         (agent, trial) samples;
  crash  one agent is killed with SIGKILL; time until every other agent
         lists it as failed (and the median agent);
  idle   bytes per second each node sends and receives once the cluster is
         quiet, from the bridge-side veth counters (--idle SECONDS).

The measurements and the Serf adapter live in membership.py (shared with
peers_bench.py, which runs irohds against Serf). The harness reads every
agent's membership over its RPC socket, opened from this process inside
the agent's namespace (setns), so polling adds no packet to the bridge.
Needs root, serf and python3-msgpack.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import membership  # noqa: E402
from membership import harness  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="cluster size (repeatable)")
    parser.add_argument("--trials", type=int, default=3, help="joins per size")
    parser.add_argument("--crashes", type=int, default=2, help="crashes per size")
    parser.add_argument("--idle", type=float, default=20.0,
                        help="seconds of idle traffic measured at the largest size (0: off)")
    parser.add_argument("--loss", type=int, default=0,
                        help="percent loss on every node for --loss-seconds: count false deaths")
    parser.add_argument("--loss-seconds", type=float, default=60.0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("serf_bench: needs root (network namespaces)")
    if not os.path.exists(membership.SERF):
        sys.exit("serf_bench: %s missing (Debian package serf)" % membership.SERF)
    sizes = args.nodes or [20]
    harness.cleanup_stale()
    version = membership.Serf.version()
    results = []
    for n in sizes:
        idle = args.idle if n == max(sizes) else 0
        results.append(membership.run_size(membership.Serf(join_at_start=False), n, args.trials,
                                           idle, args.crashes, args.loss, args.loss_seconds,
                                           rss=False))
        print("done: %d nodes" % n, file=sys.stderr)
    print("Serf anchor (%s, LAN profile, chain join, namespaces on one bridge)" % version)
    print("%6s %12s %12s %12s %14s %14s %16s" % ("nodes", "join p50 s", "join p99 s",
                                                 "join max s", "crash all s", "crash p50 s",
                                                 "idle B/s/node"))
    for r in results:
        idle = r.get("idle")
        print("%6d %12.3f %12.3f %12.3f %14.2f %14.2f %16s" % (
            r["nodes"], r["join"]["p50_s"], r["join"]["p99_s"], r["join"]["max_s"],
            r.get("crash", {}).get("all_s_mean", float("nan")),
            r.get("crash", {}).get("p50_s_mean", float("nan")),
            "%.0f out, %.0f in" % (idle["sent_bps_mean"], idle["received_bps_mean"]) if idle else "-"))
    for r in results:
        if "loss" in r:
            print("%d nodes, %d%% loss for %.0f s: %d members falsely failed (%d observer pairs)" % (
                r["nodes"], r["loss"]["loss_percent"], r["loss"]["seconds"],
                r["loss"]["members_falsely_dead"], r["loss"]["false_dead_pairs"]))
    report = {"anchor": "serf", "version": version, "profile": "lan", "results": results}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
