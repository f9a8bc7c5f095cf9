"""irohds-ctl ls and evict as people use them, against a real daemon in a
temp home: readable dates and sizes with exact numbers kept in --json,
short keys, the NAMESPACE column and TOTAL line, function names matched by
their dotted tail, newest access first, and evict that says when nothing
matched."""
import json
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, serve  # noqa: E402


@pytest.fixture(scope="module")
def daemon():
    yield from serve(Daemon())


def put(daemon, key, fn, content, ns="lab"):
    client = daemon.client()
    try:
        status, frames = client.call("store", "put", extra=[content], key=key, src=0,
                                     codec="raw", fn=fn, ns=ns)
        assert status == "OK", frames
    finally:
        client.close()


def touch(daemon, key):
    client = daemon.client()
    try:
        status, frames = client.call("store", "touch", key=key)
        assert status == "OK", frames
    finally:
        client.close()


def ok(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


def rows_of(text):
    """Text table -> header line, data lines, TOTAL line."""
    lines = text.splitlines()
    assert lines[-1].startswith("TOTAL"), text
    return lines[0], lines[1:-1], lines[-1]


def test_names_match_by_dotted_tail(daemon):
    keys = {fn: bytes([n] * 32) for n, fn in enumerate(
        ["__main__.features", "pkg.mod.features", "pkg.mod.myfeatures",
         "pkg.Model.features.fit"], start=0x40)}
    for fn, key in keys.items():
        put(daemon, key, fn, b"x")
    found = {r["fn"] for r in json.loads(ok(daemon.ctl("--json", "ls", "features")))}
    assert found == {"__main__.features", "pkg.mod.features"}
    found = {r["fn"] for r in json.loads(ok(daemon.ctl("--json", "ls", "mod.features")))}
    assert found == {"pkg.mod.features"}
    # The exact full name still works, and a partial word never matches.
    found = {r["fn"] for r in json.loads(ok(daemon.ctl("--json", "ls", "pkg.mod.myfeatures")))}
    assert found == {"pkg.mod.myfeatures"}
    assert json.loads(ok(daemon.ctl("--json", "ls", "eatures"))) == []
    assert json.loads(ok(daemon.ctl("--json", "ls", "fit"))) != []

    # evict by tail: ambiguous is refused and names the candidates ...
    r = daemon.ctl("evict", "features")
    assert r.returncode == 1 and r.stdout == ""
    assert "__main__.features" in r.stderr and "pkg.mod.features" in r.stderr
    assert len(json.loads(ok(daemon.ctl("--json", "ls", "features")))) == 2
    # ... a unique tail evicts that function.
    doc = json.loads(ok(daemon.ctl("--json", "evict", "myfeatures")))
    assert doc == {"fn": "pkg.mod.myfeatures", "count": 1, "bytes": doc["bytes"]}
    assert isinstance(doc["bytes"], int)
    r = daemon.ctl("evict", "__main__.features")
    assert r.returncode == 0 and "of __main__.features" in r.stdout


def test_evict_of_nothing_says_so(daemon):
    for args in (["evict", "tests.nothing.here"], ["--json", "evict", "here"],
                 ["evict", "--key", "ab" * 32], ["evict", "--key", "abcdef0123"]):
        r = daemon.ctl(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr.startswith("irohds-ctl: evict: no stored result"), r.stderr
        assert len(r.stderr.splitlines()) == 1


def test_evict_by_key_prefix(daemon):
    key = bytes.fromhex("5eed" * 16)
    put(daemon, key, "tests.cli.prefix", b"abc")
    r = daemon.ctl("evict", "--key", key.hex()[:12].upper())
    assert r.returncode == 0 and r.stdout.startswith("evicted 1 result "), r.stderr
    assert json.loads(ok(daemon.ctl("--json", "ls", "tests.cli.prefix"))) == []
    r = daemon.ctl("evict", "--key", "5e")           # too short to mean anything
    assert r.returncode == 2


def test_ls_without_namespace_shows_dash(daemon):
    key = bytes([0x6e] * 32)
    put(daemon, key, "tests.cli.nons", b"x", ns="")
    rows = json.loads(ok(daemon.ctl("--json", "ls", "tests.cli.nons")))
    assert [r["ns"] for r in rows] == [""]
    header, lines, _ = rows_of(ok(daemon.ctl("ls", "tests.cli.nons")))
    assert lines[0].split()[1] == "-", lines


def test_readable_table_exact_json(daemon):
    small, big, newest = bytes([0x61] * 32), bytes([0x62] * 32), bytes([0x63] * 32)
    put(daemon, small, "tests.cli.table.f", b"tiny")
    put(daemon, big, "tests.cli.table.f", b"z" * 3000)
    put(daemon, newest, "tests.cli.table.f", b"!" * 20)
    time.sleep(0.01)
    touch(daemon, small)            # the most recent access, so listed first

    rows = json.loads(ok(daemon.ctl("--json", "ls", "f")))
    rows = [r for r in rows if r["fn"] == "tests.cli.table.f"]
    assert [r["key"] for r in rows] == [small.hex(), newest.hex(), big.hex()]
    for r in rows:
        # Exact numbers, as numbers; full keys.
        for field in ("size", "created_us", "accessed_us", "expires_us"):
            assert isinstance(r[field], int) and not isinstance(r[field], bool), (field, r)
        assert len(r["key"]) == 64
    assert rows[0]["accessed_us"] > rows[0]["created_us"]
    assert [r["size"] for r in rows] == [4, 20, 3000]

    text = ok(daemon.ctl("ls", "tests.cli.table.f"))
    assert all(line == line.rstrip() for line in text.splitlines()), text
    header, lines, total = rows_of(text)
    assert header.split() == ["KEY", "NAMESPACE", "FUNCTION", "SIZE", "CODEC", "PRODUCER",
                              "ACCESSED", "CREATED", "EXPIRES"]
    # Producer: this node computed them all ("self"); --json gives the
    # full node id, the one `info` reports.
    assert [line.split()[6] for line in lines] == ["self"] * 3, lines
    node_id = json.loads(ok(daemon.ctl("--json", "info")))["local"]["node_id"]
    assert len(node_id) == 64
    assert [(r["producer"], r["producer_name"], r["signed"]) for r in rows] == \
        [(node_id, "self", False)] * 3
    assert [line.split()[0] for line in lines] == [small.hex()[:12], newest.hex()[:12],
                                                   big.hex()[:12]]
    assert small.hex() not in "\n".join(lines)          # short keys only
    big_line = lines[2]
    assert " 2.9 KiB " in big_line and "3000" not in big_line
    assert "just now" in lines[0]
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(rows[2]["created_us"] / 1e6))
    assert created in big_line
    assert re.search(r"\bnever$", big_line)
    # Namespace: the store reports the put's ns (the manifest keeps it),
    # shown in the NAMESPACE column.
    assert [r["ns"] for r in rows] == ["lab", "lab", "lab"]
    assert lines[0].split()[1] == "lab"
    # TOTAL: how many and how much.
    assert "3 results" in total and "3.0 KiB" in total      # 3024 bytes

    # --limit keeps the newest accesses and says what was left out.
    header, lines, total = rows_of(ok(daemon.ctl("ls", "tests.cli.table.f", "--limit", "2")))
    assert len(lines) == 2 and lines[0].startswith(small.hex()[:12])
    assert "2 of 3 results shown" in total
    assert len(json.loads(ok(daemon.ctl("--json", "ls", "tests.cli.table.f", "--limit=1")))) == 1


def test_empty_listing(daemon):
    header, lines, total = rows_of(ok(daemon.ctl("ls", "tests.cli.none")))
    assert lines == [] and "0 results" in total and "0 B" in total
    assert json.loads(ok(daemon.ctl("--json", "ls", "tests.cli.none"))) == []


def test_every_json_number_is_a_number(daemon):
    put(daemon, bytes([0x7a] * 32), "tests.cli.numbers", b"n" * 10)
    numeric = re.compile(r"^-?\d+(\.\d+)?$")

    def check(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                check(v, where + "." + k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                check(v, "%s[%d]" % (where, i))
        elif isinstance(value, str) and not where.endswith(".key"):
            # Names, paths and versions may be text; numbers never are
            # (keys are hex text, which may happen to be all digits).
            assert not numeric.match(value), (where, value)

    for args in (["ls"], ["stats"], ["info"], ["status"], ["ping"], ["gc"],
                 ["evict", "tests.cli.numbers"]):
        check(json.loads(ok(daemon.ctl("--json", *args))), " ".join(args))
