"""irohds.ns_create / ns_join / ns_list as users call them (docs/python.md,
docs/namespaces.md), in temp homes without a daemon: a token made in one
home joins another, the namespace counts as joined, the list never holds
a secret, and a damaged token is a ValueError saying so, with nothing
written."""
import os
import re
import shutil

import pytest

import irohds
from client_support import irohds_test, pin_home


@pytest.fixture
def two_homes():
    made = [irohds_test.make_home(), irohds_test.make_home()]
    try:
        yield made
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def test_create_join_list(monkeypatch, two_homes):
    a, b = two_homes
    pin_home(monkeypatch, a)
    token = irohds.ns_create("lab-secret")
    assert re.fullmatch(r"irohds1:[A-Za-z0-9_-]+", token)
    assert "lab-secret" in irohds.joined()
    [row] = irohds.ns_list()
    assert row["name"] == "lab-secret" and "token" not in row
    assert "secret" not in repr(row).replace("lab-secret", "")
    with pytest.raises(ValueError, match="exists already"):
        irohds.ns_create("lab-secret")
    pin_home(monkeypatch, b)
    assert irohds.ns_list() == []
    assert irohds.ns_join(token) == "lab-secret"
    assert [r["id"] for r in irohds.ns_list()] == [row["id"]]
    assert os.listdir(os.path.join(b, "ns")) == [row["id"] + ".ns"]


def test_bad_tokens(monkeypatch, two_homes):
    a, _ = two_homes
    pin_home(monkeypatch, a)
    for bad, why in (("nonsense", "not a join token"), ("irohds1:AAAA", "damaged"),
                     ("irohds7:AAAA", "not supported")):
        with pytest.raises(ValueError, match=why):
            irohds.ns_join(bad)
    for bad in ("", None, 3):
        with pytest.raises(ValueError):
            irohds.ns_join(bad)
    assert irohds.ns_list() == []
