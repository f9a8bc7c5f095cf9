"""tests/cluster/test_private_ns.py: a namespace with a secret on the wire
(docs/namespaces.md). Three real daemons on one bridge (LAN beacons on,
so C is a live member of the cluster like any other): A creates namespace
"team", B joins it with the token, C has no token.

- A computes `@irohds.memo(ns="team")` results; B gets them (fetched, a
  small one with its manifest and a 3 MiB one read from A's blob,
  counted, value right) and loads them trusted: the result is an instance
  of a class of the shared module, which the restricted unpickler for
  peers' results refuses;
- C calling the same function computes; nothing C can list (peers, stats,
  its store, its log) holds the namespace's id, A's blinded key or the
  function's name as A sent it;
- a real process with C's identity on A's data socket: A's blinded key
  asked under the id, the name or the default namespace is "not found",
  exactly as a key nobody holds, and counted; so is a read of the 3 MiB
  result's blob (C learnt its hash from nowhere: the test hands it over);
  a digest want for the id
  gets no answer; a random proof, the A->B tag copied, and the B->A tag
  replayed are counted and give no membership (still "not found");
- B restarts: A forgets its proof while it is dead, it proves the
  namespace again, and fetches A's next result; then B leaves the
  namespace and its running gossip drops it.

The daemons are not restarted after `ns create` / `ns join`: gossip reads
<home>/ns again every few seconds.

Every call is a fresh /usr/bin/python3 in the node's namespace (helpers of
test_fetch.py); each function counts its runs in a file per node.

Needs root (network namespaces).
"""
import base64
import glob
import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_fetch  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PYTHON = "/usr/bin/python3"
GOSSIP_PORT = 47460

PRIVMOD = '''
"""Functions of tests/cluster/test_private_ns.py, imported by every node."""
import os
import irohds
from fetchmod import COSTLY


def count(tag):
    with open(os.path.join(os.environ["IROHDS_HOME"], "count-" + tag), "a") as f:
        f.write("1\\n")


class Finding:
    """A class of this module: the restricted unpickler refuses it."""

    def __init__(self, x):
        self.x = x
        self.squares = [i * i for i in range(x)]


@irohds.memo(ns="team", min_seconds=0, cost=COSTLY)
def confidential_analysis(x):
    count("work")
    return Finding(x)


@irohds.memo(ns="team", min_seconds=0, cost=COSTLY)
def confidential_table(n):
    count("table")
    return bytes(range(256)) * (n // 256)
'''

BIG = """
import hashlib
import privmod
v = privmod.confidential_table(3 << 20)
key = bytes.fromhex(privmod.confidential_table.key(3 << 20))
found = _localstore.get().lookup(key)
print(json.dumps({"size": len(v), "digest": hashlib.sha256(v).hexdigest(),
                  "blob": found.manifest["blob"].hex(),
                  "info": privmod.confidential_table.cache_info()._asdict()}))
"""

TASKS = ["task-%d" % i for i in range(40)]
EACH = """
import irohds
from irohds import _nssecret
keys = ["task-%%d" %% i for i in range(40)]
ran = []
for k in irohds.each(keys, ns="team", timeout=30):
    ran.append(k)
    with open(%r, "a") as f:
        f.write("%s " + k + "\\n")
print(json.dumps({"ran": ran, "store_ns": _nssecret.store_ns("team"),
                  "status": {k: v.name for k, v in irohds.each_status(keys, ns="team").items()}}))
"""

CALL = """
import privmod
from irohds import _nssecret
v = privmod.confidential_analysis(7)
print(json.dumps({"type": type(v).__name__, "x": v.x, "squares": v.squares,
                  "info": privmod.confidential_analysis.cache_info()._asdict(),
                  "key": privmod.confidential_analysis.key(7),
                  "store_ns": _nssecret.store_ns("team"), "client": dict(_log.counters)}))
"""

# Run inside node C's namespace, with C's own CURVE key pair: a client of
# A's data socket that lies (it has no secret).
PROBE = r"""
import json, os, struct, sys, zmq, zmq.utils.z85
server, addr, cert, ns_id, key, absent, tags, blob = sys.argv[1:9]
pub = sec = None
for line in open(cert):
    line = line.strip()
    if line.startswith('public-key'):
        pub = line.split('"')[1].encode()
    if line.startswith('secret-key'):
        sec = line.split('"')[1].encode()
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.curve_serverkey = zmq.utils.z85.encode(bytes.fromhex(server))
s.curve_publickey, s.curve_secretkey = pub, sec
s.setsockopt(zmq.LINGER, 0)
s.connect(addr)
def string(x):
    b = x.encode(); return struct.pack('>H', len(b)) + b
def manifest(req, k, space):
    s.send(bytes([144]) + struct.pack('>I', req) + bytes.fromhex(k) + string(space))
    while True:                 # proof answers (151) may come first
        assert s.poll(15000), 'no manifest answer'
        m = s.recv()
        if m[0] != 151:
            break
    assert m[0] == 145 and struct.unpack('>I', m[1:5])[0] == req
    return {'status': m[37], 'rest': m[38:].hex()}
def read(req):
    s.send(bytes([146]) + struct.pack('>I', req) + bytes.fromhex(blob) + bytes([0])
           + struct.pack('>QI', 0, 16384))
    while True:
        assert s.poll(15000), 'no read answer'
        m = s.recv()
        if m[0] != 151:
            break
    assert m[0] == 147 and struct.unpack('>I', m[1:5])[0] == req
    return m[38]
def proof(tag_hex):
    t = bytes.fromhex(tag_hex)
    s.send(bytes([151, 1]) + struct.pack('>I', len(t)) + t)
out = {}
out['id'] = manifest(1, key, ns_id)
out['name'] = manifest(2, key, 'team')
out['default'] = manifest(3, key, '')
out['absent'] = manifest(4, absent, ns_id)
out['read'] = read(6)
s.send(bytes([143]) + string(ns_id) + struct.pack('>QQ', 0, 0))
out['digest_answer'] = bool(s.poll(3000))
for t in tags.split(','):
    proof(t)
out['after'] = manifest(5, key, ns_id)
out['read_after'] = read(7)
print(json.dumps(out))
"""


def token_secret(token):
    payload = token.split(":", 1)[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return raw[:32]


def purpose_key(secret, name, purpose):
    """docs/namespaces.md, the key schedule, in Python's hashlib."""
    root = hashlib.blake2b(name.encode(), digest_size=32, key=secret).digest()
    return hashlib.blake2b(b"", digest_size=32, key=root,
                           salt=purpose.to_bytes(8, "little") + bytes(8),
                           person=b"irohdsns" + bytes(8)).digest()


def pair_tag(key4, sender, receiver):
    return hashlib.blake2b(b"irohds-ns-proof" + bytes.fromhex(sender) + bytes.fromhex(receiver),
                           digest_size=32, key=key4).hexdigest()


def test_secret_namespace_is_shared_among_members_only():
    with test_fetch.cluster(3) as (c, n):
        a, b, cc = c.nodes
        with open(os.path.join(n.code, "privmod.py"), "w") as out:
            out.write(PRIVMOD)
        ids = [n.node_id(x) for x in c.nodes]
        created = n.ctl_json(a, "ns", "create", "team")
        joined = n.ctl_json(b, "ns", "join", created["token"])
        assert joined["joined"] == "team"
        ns_id = created["id"]
        # Bad input beside: a garbage token changes nothing.
        bad = cc.daemon.ctl("ns", "join", "irohds1:AAAA")
        assert bad.returncode != 0 and "damaged" in bad.stderr
        # The running daemons pick the new secrets up (gossip reads <home>/ns
        # again every few seconds) and A and B prove them to each other.
        harness.wait_for(lambda: n.gossip(a)["ns_members"] >= 1
                         and n.gossip(b)["ns_members"] >= 1,
                         timeout=60, interval=0.3, what="A and B members of team at each other")
        assert n.gossip(a)["ns_secrets"] == 1 and n.gossip(cc)["ns_secrets"] == 0
        assert n.gossip(a)["ns_members"] == 1               # B, never C

        on_a = n.python(a, CALL)
        assert on_a["type"] == "Finding" and on_a["x"] == 7 and n.count(a, "work") == 1
        assert on_a["store_ns"] == ns_id
        key = on_a["key"]
        listing = n.ctl_json(a, "ls")
        mine = [r for r in listing if r["key"] == key]
        assert len(mine) == 1 and mine[0]["ns"] == ns_id     # stored under the id, blinded

        # B, a member: fetched, counted, and loaded trusted.
        n.wait_results(b, a, timeout=60)
        before = n.gossip(b)
        on_b = n.python(b, CALL)
        after = n.gossip(b)
        assert on_b["type"] == "Finding" and on_b["x"] == 7 and on_b["squares"] == on_a["squares"]
        assert n.count(b, "work") == 0
        assert on_b["info"]["hits_peer"] == 1 and on_b["info"]["unsafe_refused"] == 0
        assert after["fetched"] == before["fetched"] + 1
        assert on_b["key"] == key

        # A result of 3 MiB: B reads its blob from A (a member granted by
        # the manifest answer).
        big_a = n.python(a, BIG)
        n.wait_results(b, a, at_least=2, timeout=60)
        big_b = n.python(b, BIG)
        assert big_b["digest"] == big_a["digest"] and big_b["size"] == 3 << 20
        assert big_b["info"]["hits_peer"] == 1 and n.count(b, "table") == 0

        # C, no token: computes, and holds nothing of A's namespace.
        on_c = n.python(cc, CALL)
        assert on_c["type"] == "Finding" and n.count(cc, "work") == 1
        assert on_c["store_ns"] == "team" and on_c["key"] != key
        visible = json.dumps([n.ctl_json(cc, "peers"), n.ctl_json(cc, "peers", "--stats"),
                              n.ctl_json(cc, "ls")])
        assert ns_id not in visible and key not in visible
        with open(cc.daemon.log, errors="replace") as f:
            log = f.read()
        assert ns_id not in log and ns_id[:16] not in log and key not in log
        assert "confidential_analysis" not in json.dumps(n.ctl_json(cc, "peers"))
        a_at_c = [p for p in n.ctl_json(cc, "peers") if p["id"] == ids[0]]
        assert a_at_c and a_at_c[0]["results"] == 0

        # irohds.each in the secret namespace: A and B run each task once
        # between them, their claims and done marks under the id with
        # blinded keys; C, not a member, never arbitrates them, and its
        # own "team" (public, another namespace) runs every key itself.
        assert n.gossip(cc)["claims_served"] == 0
        runs = os.path.join(n.code, "each-runs")
        procs = [n.start_python(x, EACH % (runs, x.name)) for x in (a, b)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-4000:]
            outs.append(json.loads(out.strip().splitlines()[-1]))
        ran = outs[0]["ran"] + outs[1]["ran"]
        assert sorted(ran) == sorted(TASKS), (len(ran), len(set(ran)))
        assert all(set(o["status"].values()) == {"DONE"} for o in outs), outs
        assert all(o["store_ns"] == ns_id for o in outs)
        assert n.gossip(cc)["claims_served"] == 0
        summary = n.ctl_json(a, "each", "team")
        assert summary["done"] == len(TASKS) and summary["ns"] == "team", summary
        again = n.python(b, EACH % (runs, b.name))
        assert again["ran"] == []                           # rerun: nothing redone
        on_c = n.python(cc, EACH % (runs, cc.name))
        assert sorted(on_c["ran"]) == sorted(TASKS) and on_c["store_ns"] == "team"
        visible = json.dumps([n.ctl_json(cc, "peers", "--stats"), n.ctl_json(cc, "ls")])
        assert ns_id not in visible

        # A lying process with C's identity.
        secret = token_secret(created["token"])
        key4 = purpose_key(secret, "team", 4)
        tags = [os.urandom(32).hex(), pair_tag(key4, ids[0], ids[1]),
                pair_tag(key4, ids[1], ids[0])]
        certs = glob.glob(os.path.join(cc.home, "**", "node.cert_secret"), recursive=True)
        assert len(certs) == 1
        absent = hashlib.blake2b(b"nobody", digest_size=32).hexdigest()
        before = n.gossip(a)
        endpoint = "tcp://%s:%d" % (a.addr, GOSSIP_PORT + 2)
        proc = cc.run([PYTHON, "-c", PROBE, ids[0], endpoint, certs[0], ns_id, key, absent,
                       ",".join(tags), big_a["blob"]], env=cc.daemon.env(), timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        after = n.gossip(a)
        print("probe:", out)
        print("A's ns counters:", {k: (before[k], after[k]) for k in after if k.startswith("ns_")})
        for asked in ("id", "name", "default", "after"):
            assert out[asked] == out["absent"], asked       # exactly "not found"
        assert out["absent"]["status"] == 1
        assert out["digest_answer"] is False
        assert out["read"] == 1 and out["read_after"] == 1  # A's blob: "not found" to C
        assert after["ns_refused"] >= before["ns_refused"] + 7
        assert after["ns_bad_proofs"] >= before["ns_bad_proofs"] + 2     # copied, replayed
        assert after["ns_proofs_unmatched"] >= before["ns_proofs_unmatched"] + 1
        assert after["ns_members"] == 1                     # still only B
        assert after["serve_manifests"] == before["serve_manifests"]

        # B restarts: it proves the namespace again, and A's next result
        # reaches it (membership follows the member, not the process).
        b.stop_daemon()
        harness.wait_for(lambda: n.gossip(a)["ns_members"] == 0, timeout=60, interval=0.3,
                         what="B's proof forgotten at A once B is dead")
        with open(b.daemon.log, errors="replace") as f:
            stopped = f.read()
        assert "Assertion" not in stopped and "gossip" in stopped     # a clean stop
        c.start_daemons(lan=True, nodes=[1])
        harness.wait_for(lambda: n.gossip(a)["ns_members"] == 1
                         and n.gossip(b)["ns_members"] == 1,
                         timeout=60, interval=0.3, what="A and B members again")
        again = CALL.replace("confidential_analysis(7)", "confidential_analysis(8)")
        assert n.python(a, again)["x"] == 8 and n.count(a, "work") == 2
        n.wait_results(b, a, at_least=3, timeout=60)
        on_b = n.python(b, again)
        assert on_b["type"] == "Finding" and on_b["x"] == 8 and n.count(b, "work") == 0
        assert on_b["info"]["hits_peer"] == 1
        assert n.gossip(a)["ns_members"] == 1               # C never

        # What A tells every member about itself counts no secret result
        # (it holds two), and C's view of A shows none.
        assert n.store(a)["entries"] >= 3
        assert n.gossip(a)["heartbeat_results"] == 0
        a_at_c = [p for p in n.ctl_json(cc, "peers") if p["id"] == ids[0]]
        assert a_at_c and a_at_c[0]["results"] == 0
        assert n.gossip(cc)["heartbeat_results"] == n.store(cc)["entries"] >= 1   # public

        # B leaves: its running gossip drops the namespace within seconds.
        left = n.ctl_json(b, "ns", "leave", "team")
        assert left["left"] == "team"
        harness.wait_for(lambda: n.gossip(b)["ns_secrets"] == 0, timeout=30, interval=0.3,
                         what="B's gossip without the secret")
        assert n.gossip(b)["ns_members"] == 0
