"""tests/cluster/test_sign.py: signed results and producer restriction
(docs/security.md, "Signed results"). Real daemons in network namespaces
(tests/cluster/harness.py, helpers of test_fetch.py); every call is a
fresh /usr/bin/python3 in a node's namespace, and each function counts its
computations in a file per node, so "B did not compute" is a file that
stays empty.

- producer restriction: B's config lists only C as a producer of
  namespace "team". A's result is refused before any fetch (B computes,
  refused_producer grows); C's is fetched. `irohds-ctl ls` on B shows who
  produced what ("self", C's name; --json the full ids).
- lying holder: A fetched two results H produced, then A's LMDB records of
  them get a tampered signature (a real process serving real, altered
  records). B refuses A's manifests before any fetch and counts them
  (manifest_bad_signature): it computes the one only A holds and fetches
  the other from H.

Needs root (network namespaces).
"""
import os
import sys

import lmdb
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_fetch  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

SIGNMOD = '''
"""Functions of tests/cluster/test_sign.py, imported by every node."""
import os
import irohds
from fetchmod import COSTLY


def count(tag):
    with open(os.path.join(os.environ["IROHDS_HOME"], "count-" + tag), "a") as f:
        f.write("1\\n")


@irohds.memo(ns="team", min_seconds=0, cost=COSTLY)
def team(x):
    count("team")
    return {"team": x}


@irohds.memo(min_seconds=0, cost=COSTLY)
def plain(x):
    count("plain")
    return {"plain": x}
'''

CALL = """
import signmod
v = signmod.%s(%d)
info = signmod.%s.cache_info()._asdict()
print(json.dumps({"v": v, "peer": info["hits_peer"], "computed": info["computed"]}))
"""

KEY = """
import signmod
print(json.dumps(signmod.%s.memo.key((%d,), {}).hex()))
"""


def _nodes(n):
    with open(os.path.join(n.code, "signmod.py"), "w") as out:
        out.write(SIGNMOD)
    return n


def _ls(n, node):
    return {r["key"]: r for r in n.ctl_json(node, "ls")}


def test_producer_restriction_and_ls_shows_producers():
    with test_fetch.cluster(3) as (c, n):
        _nodes(n)
        a, b, p = c.nodes                   # p: the listed producer ("C")
        pid, aid = n.node_id(p), n.node_id(a)
        # B lists only P as a producer of "team" (read at start).
        b.stop_daemon()
        b.start_daemon(lan=True, config='[ns.team]\nproducers = ["%s"]\n' % pid)
        n.python(a, CALL % ("team", 1, "team"))
        n.python(p, CALL % ("team", 2, "team"))
        n.wait_results(b, a)
        n.wait_results(b, p)
        before = n.gossip(b)
        # A's result: refused before any fetch, B computes.
        got = n.python(b, CALL % ("team", 1, "team"))
        assert got["v"] == {"team": 1} and got["peer"] == 0
        assert n.count(b, "team") == 1
        mid = n.gossip(b)
        assert mid["refused_producer"] >= before["refused_producer"] + 1
        assert mid["fetched"] == before["fetched"]
        # P's result: fetched, not computed.
        got = n.python(b, CALL % ("team", 2, "team"))
        assert got["v"] == {"team": 2} and got["peer"] == 1
        assert n.count(b, "team") == 1
        assert n.gossip(b)["fetched"] == mid["fetched"] + 1
        # ls shows who produced each: --json full ids, the table names.
        k1 = n.python(b, KEY % ("team", 1))
        k2 = n.python(b, KEY % ("team", 2))
        rows = _ls(n, b)
        assert rows[k1]["producer"] == n.node_id(b) and rows[k1]["producer_name"] == "self"
        assert rows[k2]["producer"] == pid and rows[k2]["producer_name"] == p.name
        assert rows[k2]["signed"] is True and rows[k1]["signed"] is False
        text = b.daemon.ctl("ls", "team").stdout
        assert " %s " % p.name in text and " self " in text, text
        # A stays unlisted for "team" only: its other namespaces are open.
        assert aid not in (rows[k1]["producer"], rows[k2]["producer"])


def _tamper_signature(node, key_hex):
    """Flip a bit of the signature in node's LMDB record of key: the store
    serves it as it is (records are data; only the reader can tell)."""
    env = lmdb.open(os.path.join(node.home, "store"), max_dbs=16, map_size=1 << 30)
    try:
        results = env.open_db(b"results", create=False)
        with env.begin(write=True) as txn:
            record = bytearray(txn.get(bytes.fromhex(key_hex), db=results))
            record[-1] ^= 0x01                  # last byte of sig_s
            txn.put(bytes.fromhex(key_hex), bytes(record), db=results)
    finally:
        env.close()


def test_tampered_signature_is_refused_counted_and_another_source_used():
    with test_fetch.cluster(3) as (c, n):
        _nodes(n)
        a, b, h = c.nodes                   # h produced both; a holds copies
        for x in (1, 2):
            n.python(h, CALL % ("plain", x, "plain"))
        n.wait_results(a, h, at_least=2)
        for x in (1, 2):
            got = n.python(a, CALL % ("plain", x, "plain"))
            assert got["peer"] == 1
        assert n.count(a, "plain") == 0
        keys = [n.python(a, KEY % ("plain", x)) for x in (1, 2)]
        rows = _ls(n, a)
        assert [rows[k]["producer"] for k in keys] == [n.node_id(h)] * 2
        assert all(rows[k]["signed"] for k in keys)
        # H drops key 1: from now on only A holds it.
        assert h.daemon.ctl("evict", "--key", keys[0]).returncode == 0
        for k in keys:
            _tamper_signature(a, k)
        n.wait_results(b, a, at_least=2)
        n.wait_results(b, h)
        before = n.gossip(b)
        got = n.python(b, CALL % ("plain", 1, "plain"))
        assert got["v"] == {"plain": 1} and got["peer"] == 0 and n.count(b, "plain") == 1
        got = n.python(b, CALL % ("plain", 2, "plain"))
        assert got["v"] == {"plain": 2} and got["peer"] == 1 and n.count(b, "plain") == 1
        after = n.gossip(b)
        print("B: manifest_bad_signature %d -> %d, fetched %d -> %d" % (
            before["manifest_bad_signature"], after["manifest_bad_signature"],
            before["fetched"], after["fetched"]))
        assert after["manifest_bad_signature"] >= before["manifest_bad_signature"] + 2
        assert after["fetched"] == before["fetched"] + 1
        # What B fetched keeps H's signature: B names H as its producer.
        assert _ls(n, b)[keys[1]]["producer"] == n.node_id(h)
