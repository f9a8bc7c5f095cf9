#!/usr/bin/python3
"""The peers part of the quick-start demo: two irohds daemons, each in a
network namespace of its own on a private bridge (tests/cluster/harness.py;
addresses from 198.18.0.0/16, nothing reaches this machine's interfaces),
find each other by LAN beacon, and `irohds-ctl peers` on each lists the
other. Everything is removed at the end, also on Ctrl-C.

usage: /usr/bin/python3 scripts/demo_peers.py     (as root; after a build)
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("IROHDS_BUILD", os.path.join(ROOT, "build"))
os.environ.setdefault("IROHDS_SOURCE", ROOT)
sys.path.insert(0, os.path.join(os.environ["IROHDS_BUILD"], "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))


def main():
    if os.geteuid() != 0:
        print("demo_peers: needs root (network namespaces); skipped")
        return 0
    import harness
    with harness.Cluster(2) as c:
        print("== two nodes, each in its own network namespace (%s, %s)"
              % (c.nodes[0].addr, c.nodes[1].addr), flush=True)
        c.start_daemons(lan=True)
        start = time.monotonic()
        harness.wait_for(lambda: all(n.daemon.ctl("peers").stdout.count("alive") == 1
                                     for n in c.nodes),
                         timeout=30.0, interval=0.1, what="the two nodes see each other")
        print("== found each other by LAN beacon in %.1f s" % (time.monotonic() - start))
        time.sleep(1.0)                 # a probe round, for an RTT
        for node in c.nodes:
            print("\n$ irohds-ctl peers          # on %s (%s)" % (node.name, node.addr))
            print(node.daemon.ctl("peers").stdout.rstrip())
    print("\n(both daemons stopped, namespaces removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
