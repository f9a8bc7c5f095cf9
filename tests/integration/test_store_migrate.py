"""Store format 1 -> 2 (signed manifests, proto/store-layout.md): a store
written by the format-1 irohds-store (tests/integration/data/store-format1,
made by its make_fixture.py) opens with the current binary, which migrates
it in place in one transaction. Every result is kept and served, by the
store and by the Python client's read-only tier; a record that was already
corrupt stays corrupt and is counted, never crashes the migration; the
migrated store reopens as format 2. Real irohds-store, real LMDB, temp
home removed on every path.
"""
import os
import shutil
import sys

import lmdb
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irohds_test import make_home  # noqa: E402
from irohds import _localstore, _proto  # noqa: E402
from test_store import Standalone, get, stats  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "store-format1")
SMALL, BIG, PEER = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32
CONTENT = {SMALL: b"small inline result", BIG: bytes(range(256)) * 400,
           PEER: b"from a peer, before signing"}


def _install_fixture(home):
    """The format-1 store as the old store left it: 0700 dirs, 0600 LMDB,
    0444 blob files."""
    store = os.path.join(home, "store")
    os.makedirs(store, mode=0o700)
    shutil.copy(os.path.join(FIXTURE, "store", "data.mdb"), store)
    os.chmod(os.path.join(store, "data.mdb"), 0o600)
    for dirpath, _, files in os.walk(os.path.join(FIXTURE, "blobs")):
        rel = os.path.relpath(dirpath, FIXTURE)
        os.makedirs(os.path.join(home, rel), mode=0o700, exist_ok=True)
        for name in files:
            dst = os.path.join(home, rel, name)
            shutil.copy(os.path.join(dirpath, name), dst)
            os.chmod(dst, 0o444)


def _meta_format(home):
    env = lmdb.open(os.path.join(home, "store"), readonly=True, lock=False, max_dbs=16)
    try:
        meta = env.open_db(b"meta", create=False)
        with env.begin() as txn:
            return int.from_bytes(txn.get(b"format", db=meta), "big")
    finally:
        env.close()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def old_home():
    home = make_home()
    try:
        _install_fixture(home)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_fixture_is_format_1(old_home):
    # The test means something only if the store it opens is the old one.
    assert _meta_format(old_home) == 1
    assert _localstore.LocalStore(old_home).lookup(SMALL) == _localstore.MISS


def test_format_1_store_is_migrated_and_served(old_home):
    store = Standalone(old_home).start()
    try:
        c = store.client()
        for key, content in CONTENT.items():
            manifest, data = get(c, key)
            assert manifest != "miss", key
            if isinstance(data, str):           # a file blob: its path
                data = _read(data)
            assert data == content
            # Unsigned: this node's own results are signed when served;
            # the peer's from before signing keeps its producer, no signature.
            assert manifest["sign_key"] == bytes(32) and manifest["sig_r"] == bytes(32)
        assert get(c, PEER)[0]["origin"] == bytes([0xab]) * 32
        assert get(c, SMALL)[0]["origin"] == bytes(32)
        assert stats(c)["corrupt"] == 0
        status, frames = c.call("store", "ls")
        assert status == "OK"
        header = frames[0].decode().split("\t")
        rows = [dict(zip([h.split(":")[0] for h in header[1:]], r.decode().split("\t")))
                for r in frames[1:]]
        assert sorted(r["key"] for r in rows) == sorted(k.hex() for k in CONTENT)
        assert {r["key"]: r["producer"] for r in rows}[PEER.hex()] == "ab" * 32
        assert all(r["signed"] == "0" for r in rows)
        c.close()
        assert _meta_format(old_home) == 2
        # The Python client's read-only tier reads the migrated records.
        local = _localstore.LocalStore(old_home)
        found = local.lookup(SMALL)
        assert isinstance(found, _localstore.Found) and bytes(found.content) == CONTENT[SMALL]
        assert isinstance(local.lookup(BIG), _localstore.Found)
    finally:
        assert store.stop() == 0
    # Reopened: format 2 now, nothing to migrate, everything still there.
    store = Standalone(old_home).start()
    try:
        c = store.client()
        assert get(c, BIG)[0]["size"] == len(CONTENT[BIG])
        c.close()
        assert "migrated" in store.read_log()       # the first start's line only
        assert store.read_log().count("migrated from format 1") == 1
    finally:
        store.stop()


def test_corrupt_record_stays_corrupt(old_home):
    # A record that was already broken in format 1: the migration leaves
    # it, the others move, and get reports it corrupt (counted).
    env = lmdb.open(os.path.join(old_home, "store"), max_dbs=16, lock=False)  # nobody else has it open
    bad = bytes([4]) * 32
    results = env.open_db(b"results", create=False)
    with env.begin(write=True) as txn:
        txn.put(bad, b"\x20not a manifest", db=results)
    env.close()
    store = Standalone(old_home).start()
    try:
        c = store.client()
        assert get(c, bad) == ("miss", 2)
        assert stats(c)["corrupt"] == 1
        for key in CONTENT:
            assert get(c, key)[0] != "miss"
        c.close()
    finally:
        store.stop()
