"""tests/cluster/test_namespaces.py: namespaces with a secret across real
daemons in network namespaces (tests/cluster/harness.py), LAN discovery
off so the token is the only way the nodes can find each other: node A
creates a namespace, node B joins with the token, then each sees the other
alive and B lists the namespace. A token joined while the daemon is down
is contacted when it starts (discovery reads <home>/peers/ns_bootstrap).

Needs root (network namespaces).
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PORT = 47460


def ctl(node, *args):
    """irohds-ctl in the node's network namespace and home, daemon or not."""
    return node.run([harness.irohds_test.binary("irohds-ctl"), "--home", node.home] + list(args),
                    env=harness.irohds_test.test_env(node.home))


def ctl_json(node, *args):
    proc = ctl(node, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def alive_ids(node):
    return {p["id"] for p in ctl_json(node, "peers") if p["state"] == "alive"}


@pytest.mark.smoke
def test_join_with_a_token_finds_the_creator():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=False)
        a, b = c.nodes
        a_id = ctl_json(a, "info")["local"]["node_id"]
        b_id = ctl_json(b, "info")["local"]["node_id"]
        created = ctl_json(a, "ns", "create", "team")
        # The token names A where B can reach it: its interface address and
        # the port its gossip listens on.
        assert created["bootstrap"] == "tcp://%s:%d#%s" % (a.addr, PORT, a_id)
        assert not alive_ids(b), "LAN is off: B must not know A before the token"
        joined = ctl_json(b, "ns", "join", created["token"])
        assert joined["joined"] == "team" and joined["contacting"] is True
        took = harness.wait_for(lambda: a_id in alive_ids(b) and b_id in alive_ids(a),
                                timeout=10.0, interval=0.1, what="A and B alive")
        print("token join: A and B alive at each other after %.2f s" % took)
        listed = ctl_json(b, "ns", "ls")
        assert listed == [{"name": "team", "id": created["id"],
                           "bootstrap": created["bootstrap"]}]


def test_token_joined_while_down_is_contacted_at_start():
    with harness.Cluster(2) as c:
        a, b = c.nodes
        a.start_daemon(lan=False)
        a_id = ctl_json(a, "info")["local"]["node_id"]
        token = ctl_json(a, "ns", "create", "later")["token"]
        # B has no daemon yet: the join is recorded, not sent.
        b.write_config(lan=False)
        joined = ctl_json(b, "ns", "join", token)
        assert joined["contacting"] is False
        b.start_daemon(lan=False)
        took = harness.wait_for(lambda: a_id in alive_ids(b), timeout=10.0, interval=0.1,
                                what="A alive at B after B's start")
        print("token joined offline: A alive at B %.2f s after B started" % took)
        d = ctl_json(b, "peers", "--stats")["discovery"]
        assert d["bootstrap_peers"] == 1 and d["bootstrap_bad"] == 0, d
