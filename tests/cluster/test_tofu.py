"""tests/cluster/test_tofu.py: trust on first use between real daemons in
network namespaces (tests/cluster/harness.py), LAN off so only the
address given can bring nodes together.

- peers.bootstrap without #NODEID: the node id is fetched from the peer's
  key endpoint (gossip port + 1), pinned in <home>/peers/known_nodes and
  used; the node joins.
- irohds-ctl join tcp://HOST:PORT without #NODEID does the same at run time.
- The node at a pinned address comes back with another key: a join without
  #NODEID is refused, logged and counted (tofu_key_changed); an explicit
  #NODEID from the user still joins.

Needs root (network namespaces).
"""
import json
import os
import shutil
import stat
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_peers import PORT, alive_ids, info, stats  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def known_nodes(node):
    path = os.path.join(node.home, "peers", "known_nodes")
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    with open(path) as f:
        lines = [l.split() for l in f if l.strip() and not l.startswith("#")]
    return mode, {address: node_id for address, node_id in lines}


def log_text(node):
    text = ""
    for name in ("irohds.log", "test-daemon.log"):
        try:
            with open(os.path.join(node.home, name), errors="replace") as f:
                text += f.read()
        except FileNotFoundError:
            pass
    return text


def make_identity(node):
    proc = node.run([harness.irohds_test.binary("irohds-ctl"), "--home", node.home,
                     "--json", "info"], env=harness.irohds_test.test_env(node.home), check=True)
    return json.loads(proc.stdout)["node_id"]


def test_bootstrap_without_node_id_joins_and_pins():
    with harness.Cluster(2) as c:
        a, b = c.nodes
        a.start_daemon(lan=False)
        id_a = info(a)["node_id"]
        address = "tcp://%s:%d" % (a.addr, PORT)
        b.start_daemon(lan=False, config='[peers]\nbootstrap = ["%s"]\n' % address)
        id_b = info(b)["node_id"]
        took = harness.wait_for(lambda: id_a in alive_ids(b) and id_b in alive_ids(a),
                                timeout=15.0, interval=0.1, what="bootstrap without node id")
        print("bootstrap without #NODEID joined in %.2f s" % took)
        mode, pins = known_nodes(b)
        assert mode == 0o600
        assert pins == {address: id_a}
        assert "trusting node %s at %s on first use" % (id_a, address) in log_text(b)
        g = stats(b, "gossip")
        assert g["tofu_pinned"] == 1 and g["tofu_key_changed"] == 0 and g["known_nodes"] == 1
        assert stats(a, "gossip")["key_answers"] >= 1
        # Discovery saw the bootstrap peer come alive by its address.
        harness.wait_for(lambda: stats(b, "discovery")["bootstrap_joined"] == 1, timeout=70.0,
                         interval=0.5, what="discovery counts the bootstrap joined")


def test_ctl_join_without_node_id():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=False)
        a, b = c.nodes
        id_a, id_b = info(a)["node_id"], info(b)["node_id"]
        address = "tcp://%s:%d" % (a.addr, PORT)
        proc = b.daemon.ctl("join", address)
        assert proc.returncode == 0, proc.stderr
        harness.wait_for(lambda: id_a in alive_ids(b) and id_b in alive_ids(a), timeout=15.0,
                         interval=0.1, what="ctl join without node id")
        assert known_nodes(b)[1] == {address: id_a}
        assert stats(b, "gossip")["tofu_pinned"] == 1
        # Joining again uses the pin (the answer matches it): nothing new pinned.
        assert b.daemon.ctl("join", address).returncode == 0
        harness.wait_for(lambda: stats(b, "gossip")["tofu_pinned_joins"] >= 1, timeout=10.0,
                         interval=0.1, what="second join uses the pin")
        assert stats(b, "gossip")["tofu_pinned"] == 1


def test_changed_key_at_pinned_address_refused_and_counted():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=False)
        a, b = c.nodes
        old_id = info(a)["node_id"]
        address = "tcp://%s:%d" % (a.addr, PORT)
        assert b.daemon.ctl("join", address).returncode == 0
        harness.wait_for(lambda: old_id in alive_ids(b), timeout=15.0, interval=0.1,
                         what="first contact")
        # Node a comes back at the same address with a new identity.
        a.stop_daemon()
        shutil.rmtree(os.path.join(a.home, "identity"))
        new_id = make_identity(a)
        assert new_id != old_id
        a.start_daemon(lan=False)
        assert b.daemon.ctl("join", address).returncode == 0
        harness.wait_for(lambda: stats(b, "gossip")["tofu_key_changed"] >= 1, timeout=15.0,
                         interval=0.1, what="changed key refused")
        time.sleep(2.0)                 # a join, had one started, would be done by now
        assert new_id not in alive_ids(b)
        assert known_nodes(b)[1] == {address: old_id}          # the pin stays
        text = log_text(b)
        assert "NODE KEY CHANGED at %s" % address in text and new_id in text
        # The user says which key is right: an explicit #NODEID joins.
        assert b.daemon.ctl("join", "%s#%s" % (address, new_id)).returncode == 0
        harness.wait_for(lambda: new_id in alive_ids(b), timeout=15.0, interval=0.1,
                         what="explicit node id joins")


KEY_CLIENT = r"""
import struct, sys, zmq
host, port = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
def ask(frames):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.connect("tcp://%s:%d" % (host, port))
    s.send_multipart(frames)
    reply = s.recv_multipart() if s.poll(1500) else None
    s.close()
    return reply
ASK = bytes([139]) + struct.pack(">IH", 0x49524b41, 1)
print("ask", ask([ASK])[0].hex())
print("garbage", ask([b"\x00garbage"]))
print("two-frames", ask([ASK, ASK]))
print("wrong-version", ask([bytes([139]) + struct.pack(">IH", 0x49524b41, 2)]))
print("oversize", ask([ASK + b"x" * 4096]))
"""


def test_key_endpoint_answers_only_the_fixed_request():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=False)
        a, b = c.nodes
        id_a = info(a)["node_id"]
        g = stats(a, "gossip")
        assert g["key_port"] == PORT + 1
        proc = b.run([sys.executable, "-c", KEY_CLIENT, a.addr, str(PORT + 1)], timeout=60,
                     env=harness.irohds_test.test_env(b.home))
        assert proc.returncode == 0, proc.stderr
        out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
        print(out)
        # peer_key: id 140, magic "IRKY", version 1, the node id.
        assert out["ask"] == "8c" + "49524b59" + "0001" + id_a
        assert out["garbage"] == out["two-frames"] == out["wrong-version"] == "None"
        assert out["oversize"] == "None"
        g = stats(a, "gossip")
        assert g["key_answers"] == 1 and g["key_bad_asks"] >= 3
        # The clear endpoint never touches the CURVE side's ZAP handler.
        assert g["unknown_keys"] == 0 and g["handshake_failed"] == 0


def test_key_endpoint_off():
    """peers.serve_key = false: an address without pin cannot be joined
    without #NODEID; one pinned (by hand here) is joined with its pin."""
    with harness.Cluster(2) as c:
        a, b = c.nodes
        a.start_daemon(lan=False, config="[peers]\nserve_key = false\n")
        id_a = info(a)["node_id"]
        address = "tcp://%s:%d" % (a.addr, PORT)
        assert stats(a, "gossip")["key_port"] == 0
        b.start_daemon(lan=False)
        assert b.daemon.ctl("join", address).returncode == 0
        harness.wait_for(lambda: stats(b, "gossip")["tofu_fetch_failed"] >= 1, timeout=15.0,
                         interval=0.2, what="no key endpoint: fetch fails")
        assert alive_ids(b) == set()
        assert not os.path.exists(os.path.join(b.home, "peers", "known_nodes"))
        b.stop_daemon()
        path = os.path.join(b.home, "peers", "known_nodes")
        with open(path, "w") as f:
            f.write("# pinned by hand\n%s %s\nnot a pin\n" % (address, id_a))
        os.chmod(path, 0o600)
        b.start_daemon(lan=False)
        g = stats(b, "gossip")
        assert g["known_nodes"] == 1 and g["known_nodes_bad_lines"] == 1
        assert b.daemon.ctl("join", address).returncode == 0
        harness.wait_for(lambda: id_a in alive_ids(b), timeout=15.0, interval=0.2,
                         what="pinned address joined without a key endpoint")
        g = stats(b, "gossip")
        assert g["tofu_fetch_failed"] >= 1 and g["tofu_pinned_joins"] >= 1
