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


# ---- the client's side of a namespace with a secret (pyclient/irohds/_nssecret.py)

VECTOR_ID = "81305aef82bc3daaaaaca3ffe7ef1902d28bb2068414ff287251843d4cf74694"
VECTOR_BLIND = "9ef5ef78c1b62bcc6053da2fa8c866f6a1a8b781d61abc0a8147cc4e09dfd478"
VECTOR_TOKEN_SECRET = bytes(range(32))


def _schedule_key(secret, name, purpose):
    """proto/keys.md: the key schedule in hashlib (the C side pins the same
    vectors in tests/c/test_nssecret.c and test_gossip_ns.c)."""
    import hashlib
    root = hashlib.blake2b(name.encode(), digest_size=32, key=secret).digest()
    return hashlib.blake2b(b"", digest_size=32, key=root,
                           salt=purpose.to_bytes(8, "little") + bytes(8),
                           person=b"irohdsns" + bytes(8)).digest()


def test_blinding_vector_matches_c():
    from irohds import _nssecret
    blind_key = _schedule_key(VECTOR_TOKEN_SECRET, "team", 2)
    assert _schedule_key(VECTOR_TOKEN_SECRET, "team", 1).hex() == VECTOR_ID
    assert _nssecret.blind(blind_key, b"\x42" * 32).hex() == VECTOR_BLIND


def test_memo_in_a_secret_namespace_is_stored_blinded_under_its_id(monkeypatch, two_homes):
    from irohds import _keys, _nssecret
    a, b = two_homes
    pin_home(monkeypatch, a)
    irohds.ns_create("lab-secret")
    [row] = irohds.ns_list()
    found = _nssecret.lookup("lab-secret")
    assert found is not None and found[0] == row["id"]
    assert _nssecret.store_ns("lab-secret") == row["id"] and _nssecret.trusted(row["id"])
    assert _nssecret.lookup("public") is None and _nssecret.store_ns("public") == "public"
    assert _nssecret.lookup("") is None and not _nssecret.trusted("public")

    def twice(x):
        return 2 * x
    secret = irohds.memo(ns="lab-secret")(twice)
    public = irohds.memo(ns="lab-public")(twice)
    identity = _keys.function_identity(twice)
    # The key of a call in the secret namespace is the blinded key of that
    # call (its name is part of the key as for any namespace); a public
    # namespace's key is the call's key as it is.
    assert bytes.fromhex(public.key(3)) == _keys.call_key(identity, (3,), {}, "lab-public", 0)
    assert bytes.fromhex(secret.key(3)) == _nssecret.blind(
        found[1], _keys.call_key(identity, (3,), {}, "lab-secret", 0))
    # Another home that did not join: no secret there.
    pin_home(monkeypatch, b)
    _nssecret.forget()
    assert _nssecret.lookup("lab-secret") is None


def test_unreadable_secret_file_is_an_error_not_public(monkeypatch, two_homes):
    from irohds import _nssecret
    a, _ = two_homes
    pin_home(monkeypatch, a)
    irohds.ns_create("lab-secret")
    ns_dir = os.path.join(a, "ns")
    [name] = os.listdir(ns_dir)
    os.chmod(os.path.join(ns_dir, name), 0o644)
    _nssecret.forget()
    with pytest.raises(ValueError, match="0644.*chmod 600"):
        _nssecret.lookup("lab-secret")
    with pytest.raises(ValueError, match="refusing to use it as a public namespace"):
        _nssecret.store_ns("other-name")
    twice = irohds.memo(ns="lab-secret")(lambda x: 2 * x)
    with pytest.raises(ValueError, match="0644"):
        twice(3)
