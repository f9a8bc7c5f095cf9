#!/usr/bin/python3
"""bench/cluster/peers_bench.py: irohds membership against Serf, side by
side in one run, in the namespace topology of tests/cluster/harness.py.

    sudo env IROHDS_BUILD=$PWD/build PYTHONPATH=$PWD/build/python \\
         /usr/bin/python3 bench/cluster/peers_bench.py --nodes 20 --nodes 50 [--json out.json]

Per cluster size N, first irohds (N daemons, LAN beacons off, node 0 the
bootstrap peer of the others), then Serf (N agents, LAN profile, chain
join, no mDNS), each on a fresh cluster; the last node hosts the joiners.
Measured for both the same way (membership.py):

  join   a new member starts with one member as its join address (irohds:
         peers.bootstrap, a new node id per trial; Serf: -join, a new name)
         until every other member lists it alive: p50/p99/max over all
         (observer, trial) samples, timed from the process start;
  crash  every process of one node killed with SIGKILL until every other
         member lists it dead (Serf: failed); mean and worst of --crashes;
  idle   bytes/s per node over --idle seconds (bridge-port counters);
  rss    VmRSS per node: the daemon and its four actors (and each one), or
         the Serf agent; PSS too (shared pages counted once);
  loss   (--loss P) P% loss on every node for --loss-seconds: members ever
         listed dead.

Prints a table with the ratio irohds/Serf per figure (below 1: irohds
smaller or faster) and the load average at the start and end of each run
(the machine is shared: figures under load are upper bounds).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import membership  # noqa: E402
from membership import harness  # noqa: E402


def rows(irohds, serf):
    """(label, irohds value, Serf value, unit) for the table."""
    def get(r, *path):
        for p in path:
            if r is None or p not in r:
                return None
            r = r[p]
        return r
    out = [("join first observer", get(irohds, "join", "min_s"), get(serf, "join", "min_s"), "s"),
           ("join p50", get(irohds, "join", "p50_s"), get(serf, "join", "p50_s"), "s"),
           ("join p99", get(irohds, "join", "p99_s"), get(serf, "join", "p99_s"), "s"),
           ("join max", get(irohds, "join", "max_s"), get(serf, "join", "max_s"), "s"),
           ("crash dead at all (mean)", get(irohds, "crash", "all_s_mean"),
            get(serf, "crash", "all_s_mean"), "s"),
           ("crash dead at all (worst)", get(irohds, "crash", "all_s_max"),
            get(serf, "crash", "all_s_max"), "s"),
           ("crash dead at median", get(irohds, "crash", "p50_s_mean"),
            get(serf, "crash", "p50_s_mean"), "s"),
           ("idle sent per node", get(irohds, "idle", "sent_bps_mean"),
            get(serf, "idle", "sent_bps_mean"), "B/s"),
           ("idle received per node", get(irohds, "idle", "received_bps_mean"),
            get(serf, "idle", "received_bps_mean"), "B/s"),
           ("RSS per node", get(irohds, "memory", "rss_kib_mean"),
            get(serf, "memory", "rss_kib_mean"), "KiB"),
           ("PSS per node", get(irohds, "memory", "pss_kib_mean"),
            get(serf, "memory", "pss_kib_mean"), "KiB")]
    if get(irohds, "loss") or get(serf, "loss"):
        out.append(("members falsely dead under loss", get(irohds, "loss", "members_falsely_dead"),
                    get(serf, "loss", "members_falsely_dead"), ""))
    return out


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, int) or value >= 100:
        return "%.0f" % value
    return "%.3f" % value


def print_table(results):
    for n in sorted({r["nodes"] for r in results}):
        by = {r["system"]: r for r in results if r["nodes"] == n}
        irohds, serf = by.get("irohds"), by.get("serf")
        print("\n%d nodes (load average at start/end: irohds %s / %s, Serf %s / %s)" % (
            n, irohds and irohds["load_start"], irohds and irohds["load_end"],
            serf and serf["load_start"], serf and serf["load_end"]))
        print("%-32s %12s %12s %10s" % ("", "irohds", "Serf", "irohds/Serf"))
        for label, a, b, unit in rows(irohds, serf):
            ratio = "%.2f" % (a / b) if a is not None and b else "-"
            print("%-32s %12s %12s %10s" % ("%s (%s)" % (label, unit) if unit else label,
                                             fmt(a), fmt(b), ratio))
        if irohds and "memory" in irohds:
            per = irohds["memory"]["per_process_rss_kib_mean"]
            print("irohds RSS per process (KiB, mean over nodes): " +
                  ", ".join("%s %.0f" % kv for kv in sorted(per.items())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="cluster size (repeatable)")
    parser.add_argument("--trials", type=int, default=3, help="joins per size and system")
    parser.add_argument("--crashes", type=int, default=2, help="crashes per size and system")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle traffic (0: off)")
    parser.add_argument("--loss", type=int, default=0,
                        help="percent loss on every node for --loss-seconds: count false deaths")
    parser.add_argument("--loss-seconds", type=float, default=60.0)
    parser.add_argument("--only", choices=("irohds", "serf"), help="run one system only")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("peers_bench: needs root (network namespaces)")
    if args.only != "irohds" and not os.path.exists(membership.SERF):
        sys.exit("peers_bench: %s missing (Debian package serf)" % membership.SERF)
    if not os.path.exists(harness.irohds_test.binary("irohds-daemon")):
        sys.exit("peers_bench: no irohds-daemon under $IROHDS_BUILD/bin (build first)")
    harness.cleanup_stale()
    systems = [membership.Irohds(), membership.Serf(join_at_start=True)]
    systems = [s for s in systems if args.only in (None, s.name)]
    results = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for n in args.nodes or [20]:
        for system in systems:
            results.append(membership.run_size(system, n, args.trials, args.idle, args.crashes,
                                               args.loss, args.loss_seconds))
            print("done: %s at %d nodes" % (system.name, n), file=sys.stderr)
    print("irohds vs Serf membership, %s; Serf %s (LAN profile); %d cores" % (
        started, membership.Serf.version() if args.only != "irohds" else "-", os.cpu_count()))
    print_table(results)
    report = {"started": started, "cores": os.cpu_count(), "args": vars(args), "results": results}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
