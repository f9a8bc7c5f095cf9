"""tests/cluster/test_digests.py: key digests and the data socket between
real daemons in network namespaces (tests/cluster/harness.py).

- results memoized on A (@irohds.memo in a fresh process in A's
  namespace) show up in B's `irohds-ctl peers --json` results column,
  estimated from A's digest, and in B's gossip digest counters;
- a new result on A reaches B as a delta (deltas grow, wholes do not);
- a restarted A (new digest generation) sends its digest whole again;
- a killed node's digests are dropped;
- the data socket (gossip port + 2) answers a CURVE client's manifest
  request for a key A holds, refuses a local_only one, says "not found"
  for others, serves content (inline and file blobs) and outboards that
  verify against the blob hash, refuses bad reads, and drops garbage,
  counted.

Needs root (network namespaces). Times printed are reports; the bounds
only catch hangs.
"""
import json
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PYTHON = "/usr/bin/python3"
GOSSIP_PORT = 47460

MEMO = (
    "import hashlib, sys, irohds\n"
    "from irohds import _daemon\n"
    "@irohds.memo(ns='dg', min_seconds=0)\n"
    "def f(x):\n"
    "    return {'x': x}\n"
    "@irohds.memo(ns='dg', min_seconds=0)\n"
    "def g(n):\n"
    "    return bytes(range(256)) * (n // 256) + b'tail'\n"
    "for x in sys.argv[1:]:\n"
    "    if x.startswith('g'):\n"
    "        g(int(x[1:]))\n"
    "    elif x.startswith('p'):\n"
    "        # A local_only result (manifest flags bit 1), put as the store\n"
    "        # sees it: in no digest, never served.\n"
    "        _daemon.call('store', 'put', extra=(b'secret',), src=0, codec='raw',\n"
    "                     key=hashlib.sha256(x.encode()).digest(), fn='t.private',\n"
    "                     ns='dg', flags=2, origin=bytes(32))\n"
    "    else:\n"
    "        f(int(x))\n"
    "print('stored', flush=True)\n")


def ctl_json(node, *args):
    proc = node.daemon.ctl("--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def node_id(node):
    return ctl_json(node, "info")["node_id"]


def gossip_stats(node):
    return ctl_json(node, "peers", "--stats")["gossip"]


def peer_view(observer, peer_id):
    return next((p for p in ctl_json(observer, "peers") if p["id"] == peer_id), None)


def memo(node, *xs):
    proc = node.run([PYTHON, "-c", MEMO] + [str(x) for x in xs], env=node.daemon.env(),
                    timeout=120)
    assert proc.returncode == 0 and "stored" in proc.stdout, proc.stderr


def results_at(observer, peer_id):
    view = peer_view(observer, peer_id)
    return view["results"] if view else None


def wait_alive(c, ids):
    harness.wait_for(lambda: all({p["id"] for p in ctl_json(n, "peers") if p["state"] == "alive"}
                                 == set(ids) - {ids[i]} for i, n in enumerate(c.nodes)),
                     timeout=30.0, interval=0.2, what="all nodes alive")


@pytest.mark.smoke
def test_results_reach_peers_as_digests_and_deltas():
    with harness.Cluster(3) as c:
        c.start_daemons(lan=True)
        a, b, other = c.nodes
        ids = [node_id(n) for n in c.nodes]
        wait_alive(c, ids)
        # Three shared results and one local_only (in no digest).
        memo(a, 1, 2, 3, "p1")
        took = harness.wait_for(lambda: results_at(b, ids[0]) == 3 and results_at(other, ids[0]) == 3,
                                timeout=30.0, interval=0.2, what="A's 3 results at B and C")
        print("A's digest reached B and C in %.2f s" % took)
        s = gossip_stats(b)
        assert s["digest_fulls_in"] >= 1 and s["digest_held"] == 1 and s["digest_peers"] == 1
        assert s["digest_malformed"] == 0 and s["digest_refused"] == 0
        assert gossip_stats(a)["digest_fulls_out"] >= 1
        # One more result: a delta, no whole digest.
        fulls, deltas = s["digest_fulls_in"], s["digest_deltas_in"]
        memo(a, 4)
        harness.wait_for(lambda: results_at(b, ids[0]) == 4, timeout=30.0, interval=0.2,
                         what="A's 4th result at B")
        s = gossip_stats(b)
        assert s["digest_deltas_in"] > deltas, s
        assert s["digest_fulls_in"] == fulls, s
        assert gossip_stats(a)["digest_deltas_out"] >= 1
        # Killed: its digests go with it.
        for pid in harness.netns_pids(a.ns):
            os.kill(pid, signal.SIGKILL)
        harness.wait_for(lambda: gossip_stats(b)["digest_held"] == 0, timeout=90.0,
                         interval=0.5, what="A's digests dropped at B")
        view = peer_view(b, ids[0])
        assert view is None or view["state"] != "alive"


def test_restarted_node_sends_its_digest_whole():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=True)
        a, b = c.nodes
        ids = [node_id(n) for n in c.nodes]
        wait_alive(c, ids)
        memo(a, 10, 11)
        harness.wait_for(lambda: results_at(b, ids[0]) == 2, timeout=30.0, interval=0.2,
                         what="A's results at B")
        fulls = gossip_stats(b)["digest_fulls_in"]
        a.stop_daemon()
        a.start_daemon(lan=True)
        # A new generation (seed) of A's digest: B gets it whole, and the
        # same results (they are in A's store).
        took = harness.wait_for(lambda: gossip_stats(b)["digest_fulls_in"] > fulls
                                and results_at(b, ids[0]) == 2,
                                timeout=60.0, interval=0.3, what="A's digest whole again at B")
        print("restarted A's digest whole at B after %.2f s" % took)
        assert gossip_stats(b)["digest_held"] == 1


# Run inside node C's namespace: a CURVE client of A's data socket.
PROBE = r"""
import ctypes, json, struct, sys, zmq, zmq.utils.z85
server, addr, key, blob_key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = zmq.Context()
pub, sec = zmq.curve_keypair()
s = ctx.socket(zmq.DEALER)
s.curve_serverkey = zmq.utils.z85.encode(bytes.fromhex(server))
s.curve_publickey, s.curve_secretkey = pub, sec
s.setsockopt(zmq.LINGER, 0)
s.connect(addr)
def ns(x):
    b = x.encode(); return struct.pack('>H', len(b)) + b
def manifest_want(req, k, space):
    return bytes([144]) + struct.pack('>I', req) + bytes.fromhex(k) + ns(space)
def answer():
    if not s.poll(10000):
        return None
    m = s.recv()
    req, = struct.unpack('>I', m[1:5])
    # status follows key (peer_manifest) or blob and what (peer_read)
    return {'id': m[0], 'req': req, 'status': m[37] if m[0] == 145 else m[38], 'size': len(m)}
out = {}
s.send(b'garbage')                                      # not a message
s.send(bytes([145]) + b'\x00' * 10)                     # an answer, truncated
s.send(manifest_want(1, key, 'dg'))
out['found'] = answer()
s.send(manifest_want(2, key, 'other'))                  # another namespace
out['other_ns'] = answer()
s.send(manifest_want(3, '00' * 32, 'dg'))
out['absent'] = answer()
s.send(manifest_want(4, blob_key, 'dg'))                # local_only
out['local_only'] = answer()
s.send(bytes([146]) + struct.pack('>I', 5) + b'\x07' * 32 + bytes([0]) + struct.pack('>QI', 0, 100))
out['read_unknown'] = answer()

# Reads of the blobs of results A holds (an inline one and a file one),
# content and outboard, checked with libirohds's own verification.
lib = ctypes.CDLL(sys.argv[5])
def read(req, blob, what, offset, length):
    s.send(bytes([146]) + struct.pack('>I', req) + blob + bytes([what])
           + struct.pack('>QI', offset, length))
    assert s.poll(20000), 'no read answer'
    m = s.recv()
    rreq, = struct.unpack('>I', m[1:5])
    status = m[38]
    off, total, n = struct.unpack('>QQI', m[39:59])
    assert rreq == req and m[5:37] == blob and m[37] == what and off == offset
    return status, total, m[59:59 + n]
req = 100
out['blobs'] = []
for key in sys.argv[6:]:
    req += 1
    s.send(manifest_want(req, key, 'dg'))
    assert s.poll(10000)
    m = s.recv()
    assert m[37] == 0, 'manifest refused'
    n, = struct.unpack('>I', m[38:42])
    record = m[42:42 + n]
    blob, size = record[1:33], struct.unpack('>Q', record[33:41])[0]
    content = b''
    while len(content) < size:
        req += 1
        status, total, data = read(req, blob, 0, len(content), 1 << 20)
        assert status == 0 and total == size and data, (status, total)
        content += data
    root = ctypes.create_string_buffer(32)
    lib.irh_blake3(content, ctypes.c_size_t(len(content)), root)
    req += 1
    status, total, outboard = read(req, blob, 1, 0, 1 << 20)
    verified = status == 0 and lib.irh_outboard_verify_list(
        outboard, ctypes.c_size_t(len(outboard)), ctypes.c_uint64(size), blob) == 0
    req += 1
    bad = read(req, blob, 0, 100, 10)[0]                # not group-aligned
    req += 1
    past = read(req, blob, 0, size + (1 << 20), 10)[0]  # past the end
    out['blobs'].append({'size': size, 'hash_ok': root.raw == blob, 'outboard_ok': verified,
                         'outboard_bytes': len(outboard), 'bad': bad, 'past': past})
print(json.dumps(out))
"""


def test_data_socket_answers_manifests_and_drops_garbage():
    with harness.Cluster(2) as c:
        c.start_daemons(lan=True)
        a, probe = c.nodes
        ids = [node_id(n) for n in c.nodes]
        wait_alive(c, ids)
        # f(7): a small inline result; g: 40 KiB (inline, three groups) and
        # 3 MiB (a file under A's blobs/, read through gossip's sandbox).
        memo(a, 7, "p7", "g40960", "g3145728")
        listing = ctl_json(a, "ls")
        shared = next(r["key"] for r in listing if r["fn"].endswith(".f"))
        private = next(r["key"] for r in listing if r["fn"].endswith(".private"))
        big = sorted((r for r in listing if r["fn"].endswith(".g")), key=lambda r: r["size"])
        before = gossip_stats(a)
        endpoint = "tcp://%s:%d" % (a.addr, GOSSIP_PORT + 2)
        lib = os.path.join(os.environ["IROHDS_BUILD"], "lib", "libirohds.so")
        proc = probe.run([PYTHON, "-c", PROBE, ids[0], endpoint, shared, private, lib]
                         + [r["key"] for r in big], env=probe.daemon.env(), timeout=180)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["found"]["id"] == 145 and out["found"]["req"] == 1
        assert out["found"]["status"] == 0 and out["found"]["size"] > 100
        assert out["other_ns"]["status"] == 2 and out["other_ns"]["req"] == 2
        assert out["absent"]["status"] == 1 and out["absent"]["req"] == 3
        assert out["local_only"]["status"] == 2
        assert out["read_unknown"]["id"] == 147 and out["read_unknown"]["req"] == 5
        assert out["read_unknown"]["status"] == 1
        assert [b["size"] for b in out["blobs"]] == [r["size"] for r in big]
        assert 40960 < big[0]["size"] < 65536 < (3 << 20) < big[1]["size"]
        for b in out["blobs"]:
            assert b["hash_ok"] and b["outboard_ok"], b
            assert b["outboard_bytes"] == 32 * ((b["size"] + 16383) // 16384)
            assert b["bad"] == 3 and b["past"] == 3
        after = gossip_stats(a)
        assert after["outboards_built"] == before["outboards_built"] + 2
        # inline: 1 content + 1 outboard; file: 4 content (1 MiB each) + 1
        assert after["serve_reads"] == before["serve_reads"] + 7
        assert after["serve_io_errors"] == 0 and after["serve_unsafe_paths"] == 0
        assert after["xfer_bad_frames"] >= before["xfer_bad_frames"] + 2
        assert after["serve_manifests"] == before["serve_manifests"] + 3
        assert after["serve_refused"] == before["serve_refused"] + 2
        assert after["serve_not_found"] >= before["serve_not_found"] + 2
        assert after["serve_bad_requests"] >= before["serve_bad_requests"] + 4
