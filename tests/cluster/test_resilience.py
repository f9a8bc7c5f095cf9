"""tests/cluster/test_resilience.py: membership survives a lossy network
and a long partition, with real daemons in network namespaces
(tests/cluster/harness.py), LAN beacons off so nothing but gossip itself
can mend membership:

  - 10 nodes, 10% packet loss on every node for 60 s: no member is ever
    declared dead (suspicions are allowed: refuted, and counted);
  - 6 nodes split 3|3 for 90 s (each side declares the other dead), then
    healed: one membership again within 60 s without any manual join
    (the periodic reconnect to dead members does it).

Membership is read on every node every ~0.5 s, and the daemons' logs
(every swim event is logged) are checked too, so a death shorter than the
polling interval is not missed. Long tests (about 4 minutes together): the
sanitizer build skips them (IROHDS_SANITIZE_BUILD=1). Needs root.
"""
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_peers import PORT, info, members, stats  # noqa: E402

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(os.environ.get("IROHDS_SANITIZE_BUILD") == "1",
                       reason="long cluster runs: not in the sanitizer build"),
]

LOSS_PERCENT = 10
LOSS_SECONDS = 60
PARTITION_SECONDS = 90          # longer than the suspicion maximum and gossip_to_dead
HEAL_LIMIT = 60                 # the limit for one membership again
EVENT_RE = re.compile(r"member ([0-9a-f]{12}) \((n\d+), [^)]*\): (\w+)")


def start_star(c):
    """Node 0 first, then all others with node 0 as their only bootstrap
    peer, LAN off. Returns the node ids by index."""
    c.nodes[0].start_daemon(lan=False)
    first = info(c.nodes[0])["node_id"]
    boot = '[peers]\nbootstrap = ["tcp://%s:%d#%s"]\n' % (c.nodes[0].addr, PORT, first)
    c.start_daemons(lan=False, config=boot, nodes=range(1, c.n))
    return [first] + [info(node)["node_id"] for node in c.nodes[1:]]


def states(node):
    """{member id: state} as node sees it now."""
    return {m["id"]: m["state"] for m in members(node)}


def all_alive(c, ids):
    return all({k for k, s in states(node).items() if s == "alive"} == set(ids) - {ids[i]}
               for i, node in enumerate(c.nodes))


def log_offsets(c):
    return [os.path.getsize(node.daemon.log) for node in c.nodes]


def log_events(c, offsets, kinds):
    """(observer name, member name, event) logged since offsets."""
    found = []
    for node, offset in zip(c.nodes, offsets):
        with open(node.daemon.log, errors="replace") as f:
            f.seek(offset)
            for line in f:
                m = EVENT_RE.search(line)
                if m and m.group(3) in kinds:
                    found.append((node.name, m.group(2), m.group(3)))
    return found


def gossip_totals(c, keys=("probes", "probe_failures", "indirect_probes", "refutes",
                           "reconnects", "push_pulls", "awareness")):
    per_node = [stats(node, "gossip") for node in c.nodes]
    return {k: sum(s.get(k, 0) for s in per_node) for k in keys}


def test_no_false_deaths_under_loss():
    with harness.Cluster(10) as c:
        ids = start_star(c)
        names = {ids[i]: node.name for i, node in enumerate(c.nodes)}
        took = harness.wait_for(lambda: all_alive(c, ids), timeout=30.0, interval=0.2,
                                what="10 nodes converged")
        print("10 nodes converged %.2f s after the last start" % took)
        before = gossip_totals(c)
        offsets = log_offsets(c)
        for node in c.nodes:
            c.set_loss(node, LOSS_PERCENT)
        dead, suspect = [], set()
        timeline = []               # (t, observer, member, state) for every change seen
        last = {}
        start = time.monotonic()
        try:
            while time.monotonic() - start < LOSS_SECONDS:
                t = time.monotonic() - start
                for node in c.nodes:
                    for member, state in states(node).items():
                        key = (node.name, names.get(member, member[:12]))
                        if last.get(key, "alive") != state:
                            timeline.append((round(t, 1),) + key + (state,))
                        last[key] = state
                        if state == "dead":
                            dead.append((round(t, 1),) + key)
                        elif state == "suspect":
                            suspect.add(key)
                time.sleep(0.5)
        finally:
            c.clear_loss()
        after = gossip_totals(c)
        logged = log_events(c, offsets, ("suspect", "dead"))
        logged_dead = [e for e in logged if e[2] == "dead"]
        delta = {k: after[k] - before[k] for k in after if k != "awareness"}
        print("%d%% loss on all 10 nodes for %d s: %d suspect observations polled "
              "(%d (observer, member) pairs), %d suspect events logged, %d dead"
              % (LOSS_PERCENT, LOSS_SECONDS, sum(1 for e in timeline if e[3] == "suspect"),
                 len(suspect), sum(1 for e in logged if e[2] == "suspect"), len(logged_dead)))
        print("gossip counters over the loss period (sum of 10 nodes):", delta)
        if timeline:
            print("state changes seen (t, observer, member, state):", timeline)
        assert not dead and not logged_dead, (
            "false deaths under %d%% loss: polled %s, logged %s, timeline %s"
            % (LOSS_PERCENT, dead, logged_dead, timeline))
        # Loss off: everyone alive everywhere again (suspicions refuted).
        harness.wait_for(lambda: all_alive(c, ids), timeout=30.0, interval=0.2,
                         what="all alive after the loss")


def test_partition_3_3_heals_without_join():
    with harness.Cluster(6) as c:
        ids = start_star(c)
        harness.wait_for(lambda: all_alive(c, ids), timeout=30.0, interval=0.2,
                         what="6 nodes converged")
        left, right = [0, 1, 2], [3, 4, 5]

        def split_seen():
            for side, other in ((left, right), (right, left)):
                for i in side:
                    seen = states(c.nodes[i])
                    if any(seen.get(ids[j]) != "dead" for j in other):
                        return False
                    if any(seen.get(ids[j]) != "alive" for j in side if j != i):
                        return False
            return True

        c.partition(left, right)
        start = time.monotonic()
        try:
            took = harness.wait_for(split_seen, timeout=PARTITION_SECONDS, interval=0.5,
                                    what="each side sees the other dead")
            print("partition 3|3: each side declared the other dead after %.2f s" % took)
            time.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - start)))
            # Still split at the end: nothing came back through the cut.
            assert split_seen(), [states(node) for node in c.nodes]
        finally:
            c.heal()
        healed = time.monotonic()
        offsets = log_offsets(c)
        try:
            took = harness.wait_for(lambda: all_alive(c, ids), timeout=HEAL_LIMIT, interval=0.2,
                                    what="one membership after the heal")
        except TimeoutError:
            print("member tables after %.0f s:" % (time.monotonic() - healed))
            for node in c.nodes:
                print(node.name, {k[:12]: s for k, s in states(node).items()},
                      stats(node, "gossip"))
            raise
        print("partition 3|3 for %d s healed: one membership %.2f s after the heal "
              "(no manual join)" % (PARTITION_SECONDS, took))
        assert gossip_totals(c)["reconnects"] >= 1
        print("alive events after the heal:", len(log_events(c, offsets, ("alive", "join"))))
