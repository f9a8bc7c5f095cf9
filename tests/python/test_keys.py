"""Canonical argument encoding and call keys (irohds._keys, proto/keys.md):
golden vectors reproduced exactly by Python, by libirohds through ctypes
and by `irohds-ctl key`; determinism across hash seeds and insertion
orders; the distinctions the spec promises; numpy; irohds.File; errors."""
import collections
import dataclasses
import enum
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from irohds import _encoding, _keys, _native

SOURCE = os.environ.get("IROHDS_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("IROHDS_BUILD") or os.path.join(SOURCE, "build")
VECTORS = os.path.join(SOURCE, "proto", "vectors", "keys.json")
PY = "/usr/bin/python3"


def enc(v):
    return _keys.encode_value(v)


@pytest.fixture(scope="module")
def golden():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="irh-keys-")
    try:
        yield d
    finally:
        for root, dirs, files in os.walk(d, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(d)


# --- golden vectors -------------------------------------------------------------

def test_vectors_reproduced_exactly(golden):
    sys.path.insert(0, os.path.dirname(VECTORS))
    try:
        import make_vectors
    finally:
        sys.path.pop(0)
    now = make_vectors.build()
    assert golden["encoding_version"] == _keys.ENCODING_VERSION
    assert len(golden["values"]) >= 60 and len(golden["calls"]) >= 5
    old = {v["name"]: v for v in golden["values"] + golden["calls"] + golden.get("tasks", [])}
    new = {v["name"]: v for v in now["values"] + now["calls"] + now["tasks"]}
    assert sorted(old) == sorted(new)
    changed = [n for n in new if new[n] != old[n]]
    assert not changed, f"encoding changed for {changed}: bump ENCODING_VERSION"


def test_vector_keys_are_blake3_of_encoding(golden):
    for v in golden["values"] + golden["calls"] + golden.get("tasks", []):
        raw = bytes.fromhex(v["encoding"])
        assert _native.blake3(raw).hex() == v["key"], v["name"]
        h = _native.Hasher()
        h.update(raw[:7])
        h.update(memoryview(raw)[7:])
        assert h.hexdigest() == v["key"], v["name"]


def test_vectors_with_irohds_ctl_key(golden, tmpdir_path):
    ctl = os.path.join(BUILD, "bin", "irohds-ctl")
    if not os.access(ctl, os.X_OK):
        pytest.skip("irohds-ctl is not built yet")
    path = os.path.join(tmpdir_path, "enc.bin")
    for v in golden["values"] + golden["calls"] + golden.get("tasks", []):
        with open(path, "wb") as f:
            f.write(bytes.fromhex(v["encoding"]))
        out = subprocess.run([ctl, "key", path], capture_output=True, text=True,
                             timeout=30, env=dict(os.environ, IROHDS_LAN="0"))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[0] == v["key"], v["name"]


def test_call_vector_frames(golden):
    # The magic, version byte, namespace and fake identity open every call.
    fake = bytes.fromhex(golden["fake_identity"])
    for v in golden["calls"]:
        raw = bytes.fromhex(v["encoding"])
        ns = v["ns"].encode()
        head = b"IRHK" + bytes([_keys.ENCODING_VERSION]) + b"s" + len(ns).to_bytes(8, "big") + ns
        assert raw.startswith(head + fake), v["name"]


# --- determinism ---------------------------------------------------------------

SEED_SCRIPT = r"""
import json, sys
from irohds import _keys
vals = [{"b": 1, "a": 2, 3: [1, 2]}, {"x", "y", "z", 1, 2.5}, frozenset({"q", "r"}),
        {frozenset({1, 2}): {"n": None}}, "text", (1.5, b"raw")]
def f(a, b=2, *r, **k):
    return a
ident = _keys.function_identity(f)
out = [_keys.encode_value(v).hex() for v in vals]
out.append(_keys.call_key(ident, (1,), {"z": {"s", "t"}}, "ns", 1).hex())
out.append(ident.hex())
print(json.dumps(out))
"""


def test_same_keys_across_hash_seeds(tmpdir_path):
    script = os.path.join(tmpdir_path, "seeds.py")
    with open(script, "w") as f:
        f.write(SEED_SCRIPT)
    results = set()
    for seed in ("0", "1", "12345", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([PY, script], capture_output=True, text=True, env=env,
                             timeout=60, cwd=tmpdir_path)
        assert out.returncode == 0, out.stderr
        results.add(out.stdout)
    assert len(results) == 1


def test_insertion_order_does_not_matter():
    a = {"x": 1, "y": [1, 2], 3: None}
    b = {3: None, "y": [1, 2], "x": 1}
    assert enc(a) == enc(b)
    assert enc({1, 2, 3, "a"}) == enc({"a", 3, 2, 1})
    assert enc(frozenset([5, 4])) == enc(frozenset([4, 5]))


# --- distinctions --------------------------------------------------------------

def test_types_are_distinguished():
    distinct = [1, 1.0, True, "1", b"1", bytearray(b"1"), (1,), [1], {1}, frozenset({1}),
                {1: 1}, None, 0, False, 0.0, -0.0, complex(1, 0), np.int64(1),
                np.float64(1.0), np.array(1), np.array([1]), range(1)]
    encodings = [enc(v) for v in distinct]
    assert len(set(encodings)) == len(encodings)


def test_floats():
    assert enc(float("nan")) == enc(-float("nan")) == enc(float("inf") - float("inf"))
    assert enc(0.0) != enc(-0.0)
    assert enc(0.1 + 0.2) != enc(0.3)


def test_ints_of_any_size():
    seen = set()
    for x in [0, 1, -1, 255, 256, -256, 2 ** 63, -2 ** 63, 2 ** 64, 10 ** 40, -10 ** 40]:
        e = enc(x)
        assert e not in seen
        seen.add(e)
        n = int.from_bytes(e[1:9], "big")
        assert int.from_bytes(e[9:], "big", signed=True) == x and len(e) == 9 + n


def test_containers_nest_and_order():
    assert enc([1, 2]) != enc([2, 1])
    assert enc((1, (2, 3))) != enc((1, 2, 3))
    assert enc(["ab"]) != enc(["a", "b"])
    assert enc({"a": 1}) != enc({"a": 1.0})
    od1 = collections.OrderedDict([("a", 1), ("b", 2)])
    od2 = collections.OrderedDict([("b", 2), ("a", 1)])
    assert enc(od1) != enc(od2)                       # order is part of its equality
    assert enc(od1) != enc({"a": 1, "b": 2})


@dataclasses.dataclass
class P:
    x: int
    y: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Q:
    x: int
    y: list = dataclasses.field(default_factory=list)


class Mode(enum.Enum):
    A = 1
    B = 2


class Other(enum.IntEnum):
    A = 1


class Hooked:
    def __init__(self, v):
        self.v = v

    def __irohds_key__(self):
        return {"v": self.v}


def test_user_types():
    assert enc(P(1, [2])) == enc(P(1, [2]))
    assert enc(P(1, [2])) != enc(P(1, [3]))
    assert enc(P(1)) != enc(Q(1))
    assert enc(Mode.A) != enc(Mode.B) and enc(Mode.A) != enc(Other.A) != enc(1)
    assert enc(Hooked(1)) == enc(Hooked(1)) != enc(Hooked(2))
    assert enc(Hooked(1)) != enc({"v": 1})
    Pt = collections.namedtuple("Pt", "a b")
    assert enc(Pt(1, 2)) != enc((1, 2))


def test_functions_as_arguments():
    def helper(x):
        return x
    assert enc(len) == enc(len) != enc(abs)
    assert enc(helper) == enc(helper)
    assert enc(np.add) != enc(np.multiply)


# --- numpy ---------------------------------------------------------------------

def test_numpy_dtype_shape_bytes():
    a = np.arange(12, dtype="<i4")
    assert enc(a) == enc(a.copy())
    assert enc(a) != enc(a.astype("<i8"))
    assert enc(a) != enc(a.reshape(3, 4)) != enc(a.reshape(4, 3))
    b = a.copy()
    b[5] = 99
    assert enc(a) != enc(b)
    assert enc(np.array([1.0], dtype="<f8")) != enc(np.array([1.0], dtype=">f8"))


def test_numpy_non_contiguous_equals_contiguous_copy():
    base = np.arange(60, dtype="<f8").reshape(6, 10)
    for view in (base[:, ::3], base.T, base[::2], np.asfortranarray(base)):
        assert enc(view) == enc(np.ascontiguousarray(view))


def test_numpy_big_arrays_hashed_not_copied():
    big = np.random.default_rng(7).random(100_000)          # 800 kB
    e = enc(big)
    assert len(e) < 200                                      # digest, not the data
    assert e[-32:] == _native.blake3(big)
    changed = big.copy()
    changed[-1] += 1.0
    assert enc(changed) != e
    small = np.arange(10, dtype="<f8")
    assert small.tobytes() in enc(small)                     # small: inline


def test_numpy_memmap_and_scalars(tmpdir_path):
    path = os.path.join(tmpdir_path, "mm.bin")
    data = np.arange(100, dtype="<f4")
    data.tofile(path)
    mm = np.memmap(path, dtype="<f4", mode="r", shape=(100,))
    assert enc(mm) == enc(data)
    del mm
    assert enc(np.float32(1.5)) != enc(np.float64(1.5)) != enc(1.5)
    assert enc(np.array([1, "a"], dtype=object)) == enc(np.array([1, "a"], dtype=object))


def test_numpy_matrix_subclass_rejected():
    with pytest.raises(TypeError, match="numpy"):
        enc(np.ma.masked_array([1, 2], mask=[0, 1]))


def test_large_bytes_hashed():
    big = os.urandom(_keys.INLINE_LIMIT + 1)
    e = enc(big)
    assert len(e) == 1 + 1 + 8 + 32 and e[-32:] == _native.blake3(big)
    assert enc(memoryview(big)) != e and enc(bytearray(big)) != e


# --- File ----------------------------------------------------------------------

def test_file_by_content_and_memo(tmpdir_path, monkeypatch):
    a = os.path.join(tmpdir_path, "a.bin")
    b = os.path.join(tmpdir_path, "b.bin")
    for p in (a, b):
        with open(p, "wb") as f:
            f.write(b"same content\n" * 1000)
    calls = []
    real = _encoding._blake3_file_size

    def counting(path):
        calls.append(path)
        return real(path)
    monkeypatch.setattr(_encoding, "_blake3_file_size", counting)
    monkeypatch.setattr(_encoding, "_FILE_MEMO", {})
    ka = enc(_keys.File(a))
    assert enc(_keys.File(b)) == ka                         # by content, not name
    assert ka != enc(a) and ka != enc(__import__("pathlib").Path(a))
    n = len(calls)
    assert n == 2
    for _ in range(5):
        assert enc(_keys.File(a)) == ka
        assert enc([_keys.File(b), 1]) == enc([_keys.File(a), 1])
    assert len(calls) == n                                  # memo: hashed once
    with open(a, "ab") as f:
        f.write(b"x")
    assert enc(_keys.File(a)) != ka                         # changed file: rehashed
    assert len(calls) == n + 1
    assert os.fspath(_keys.File(a)) == a
    with pytest.raises(OSError):
        enc(_keys.File(os.path.join(tmpdir_path, "missing")))


# --- calls ---------------------------------------------------------------------

def sample(x, y=2, *rest, z=None, **extra):
    return x


def test_call_binding_normalizes():
    ident = _keys.function_identity(sample)
    k = _keys.call_key(ident, (1,), {}, "ns", 1)
    assert len(k) == 32
    assert _keys.call_key(ident, (), {"x": 1}, "ns", 1) == k
    assert _keys.call_key(ident, (1, 2), {}, "ns", 1) == k
    assert _keys.call_key(ident, (1,), {"y": 2, "z": None}, "ns", 1) == k
    assert _keys.call_key(ident, (1, 3), {}, "ns", 1) != k
    assert _keys.call_key(ident, (1, 2, 3), {}, "ns", 1) != k
    assert _keys.call_key(ident, (1,), {"w": 0}, "ns", 1) != k
    assert _keys.call_key(ident, (1,), {"w": 0, "v": 1}, "ns", 1) == \
        _keys.call_key(ident, (1,), {"v": 1, "w": 0}, "ns", 1)
    assert _keys.call_key(ident, (1.0,), {}, "ns", 1) != k
    assert _keys.call_key(ident, (True,), {}, "ns", 1) != k
    assert _keys.call_key(ident, (1,), {}, "ns", 2) != k            # version bump
    assert _keys.call_key(ident, (1,), {}, "ns", "1") != k
    assert _keys.call_key(ident, (1,), {}, "other", 1) != k         # namespace
    with pytest.raises(TypeError, match="signature"):
        _keys.call_key(ident, (), {}, "ns", 1)
    with pytest.raises(TypeError):
        _keys.call_key(b"short", (1,), {}, "ns", 1)


def test_unsupported_type_error_names_argument():
    ident = _keys.function_identity(sample)

    class Opaque:
        pass
    with pytest.raises(TypeError) as exc:
        _keys.call_key(ident, (Opaque(),), {}, "ns", 1)
    msg = str(exc.value)
    assert "argument 'x'" in msg and "Opaque" in msg and "__irohds_key__" in msg
    with pytest.raises(TypeError) as exc:
        _keys.call_key(ident, (1,), {"z": {"k": [0, object()]}}, "ns", 1)
    assert "argument 'z['k'][1]'" in str(exc.value) and "builtins.object" in str(exc.value)
    with pytest.raises(TypeError, match="argument 'data' of type"):
        _keys.encode_value(iter([1]), "data")


def test_cycles_are_type_errors_not_crashes():
    a = [1]
    a.append(a)
    with pytest.raises(TypeError, match="cycle"):
        enc(a)
    d = {}
    d["self"] = d
    with pytest.raises(TypeError, match="cycle"):
        enc(d)
    shared = [1, 2]
    assert enc([shared, shared]) == enc([[1, 2], [1, 2]])   # sharing is not a cycle
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(TypeError, match="deeply"):
        enc(deep)


def test_subclass_with_state_rejected():
    class Tagged(dict):
        pass
    t = Tagged(a=1)
    assert enc(t) != enc({"a": 1})
    t.extra = "state"
    with pytest.raises(TypeError, match="extra attributes"):
        enc(t)


def test_task_vector_frames(golden):
    # Run-once task keys (proto/keys.md §6): magic, version, namespace, then
    # E(version) and E(key); recomputed from their inputs by task_key.
    sys.path.insert(0, os.path.dirname(VECTORS))
    try:
        from make_vectors import TASKS
    finally:
        sys.path.pop(0)
    assert len(golden["tasks"]) == len(TASKS) >= 5
    by_name = {v["name"]: v for v in golden["tasks"]}
    for name, _desc, ns, key, version in TASKS:
        v = by_name[name]
        raw = bytes.fromhex(v["encoding"])
        nsb = ns.encode()
        assert raw.startswith(b"IRHT" + bytes([_keys.ENCODING_VERSION]) + b"s"
                              + len(nsb).to_bytes(8, "big") + nsb), name
        assert raw.endswith(_keys.encode_value(key)), name
        assert _keys.task_key(ns, key, version).hex() == v["key"], name
    with pytest.raises(TypeError, match="str or bytes"):
        _keys.task_key("lab", 3)
    with pytest.raises(TypeError, match="str or bytes"):
        _keys.task_key("lab", bytearray(b"x"))
