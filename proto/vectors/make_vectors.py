#!/usr/bin/python3
"""(Re)generate proto/vectors/keys.json, the golden vectors of the
canonical key encoding (proto/keys.md), from the Python implementation.

    PYTHONPATH=<build>/python /usr/bin/python3 proto/vectors/make_vectors.py [--check]

The file is committed. Tests (tests/python/test_keys.py, tests/c/
test_key_vectors.c, the irohds-ctl key check) recompute every vector, so a
change that alters any encoding fails loudly: then either fix the change,
or bump ENCODING_VERSION, regenerate, and say why in the commit.
--check compares instead of writing (exit 1 on any difference).

Every value here is independent of the machine, Python and numpy version:
classes are renamed into a fixed module "vectors", functions appear only as
builtins (whose identity is name + empty version), files are written with
fixed content.
"""
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import inspect
import json
import os
import pathlib
import sys
import tempfile
import uuid

import numpy as np

from irohds import _identity, _keys, _native

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keys.json")
FAKE_IDENTITY = bytes(range(32))


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.5


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Money:
    def __init__(self, cents, currency):
        self.cents, self.currency = cents, currency

    def __irohds_key__(self):
        return (self.cents, self.currency)


Pair = collections.namedtuple("Pair", "a b")


class Tag(str):
    pass


for _cls, _name in ((Point, "Point"), (Color, "Color"), (Money, "Money"),
                    (Pair, "Pair"), (Tag, "Tag")):
    _cls.__module__ = "vectors"
    _cls.__qualname__ = _name


def _sig_example(a, b=2, *rest, c=3, **extra):
    pass


def values(tmpdir):
    """(name, python description, value) for every value vector."""
    blob = os.path.join(tmpdir, "blob.bin")
    with open(blob, "wb") as f:
        f.write(b"irohds file vector\n" * 100)
    big = np.arange(20000, dtype="<f8")             # 160000 bytes: hashed
    nested = {"k": [1, (2.5, None)], "s": {b"x", b"y"}, "z": frozenset({True})}
    return [
        ("none", "None", None),
        ("false", "False", False),
        ("true", "True", True),
        ("int-0", "0", 0),
        ("int-1", "1", 1),
        ("int-neg1", "-1", -1),
        ("int-127", "127", 127),
        ("int-128", "128", 128),
        ("int-neg128", "-128", -128),
        ("int-neg129", "-129", -129),
        ("int-2pow64", "2**64", 2 ** 64),
        ("int-neg-2pow100", "-2**100", -2 ** 100),
        ("float-1", "1.0", 1.0),
        ("float-0", "0.0", 0.0),
        ("float-neg0", "-0.0 (kept distinct from 0.0)", -0.0),
        ("float-nan", "float('nan')", float("nan")),
        ("float-nan-neg", "-float('nan') (canonical NaN)", -float("nan")),
        ("float-inf", "float('inf')", float("inf")),
        ("float-tenth", "0.1", 0.1),
        ("complex", "complex(1.5, -2.0)", complex(1.5, -2.0)),
        ("str-empty", "''", ""),
        ("str", "'héllo ✓'", "héllo ✓"),
        ("str-surrogate", "'\\udc80' (lone surrogate, surrogatepass)", "\udc80"),
        ("bytes", "b'\\x00\\xff'", b"\x00\xff"),
        ("bytes-big", "bytes(range(256)) * 300 (76800 bytes: hashed)",
         bytes(range(256)) * 300),
        ("bytearray", "bytearray(b'ab')", bytearray(b"ab")),
        ("memoryview", "memoryview(b'ab')", memoryview(b"ab")),
        ("memoryview-2d", "memoryview(array('i',[1,2,3,4]) as 2x2 int32)",
         memoryview(np.array([1, 2, 3, 4], dtype="<i4").tobytes()).cast("i", (2, 2))),
        ("tuple-empty", "()", ()),
        ("tuple", "(1, 'a')", (1, "a")),
        ("list", "[1, 'a']", [1, "a"]),
        ("dict", "{'b': 2, 'a': 1}", {"b": 2, "a": 1}),
        ("dict-mixed-keys", "{1: 'i', 1.5: 'f', 'x': 's', None: 'n'}",
         {1: "i", 1.5: "f", "x": "s", None: "n"}),
        ("set", "{3, 1, 2}", {3, 1, 2}),
        ("frozenset", "frozenset({'b', 'a'})", frozenset({"b", "a"})),
        ("nested", "{'k': [1, (2.5, None)], 's': {b'x', b'y'}, 'z': frozenset({True})}", nested),
        ("range", "range(1, 10, 3)", range(1, 10, 3)),
        ("ordereddict", "OrderedDict([('b', 1), ('a', 2)])",
         collections.OrderedDict([("b", 1), ("a", 2)])),
        ("defaultdict", "defaultdict(list, {'a': [1]})",
         collections.defaultdict(list, {"a": [1]})),
        ("namedtuple", "vectors.Pair(a=1, b=2)", Pair(1, 2)),
        ("str-subclass", "vectors.Tag('x')", Tag("x")),
        ("dataclass", "vectors.Point(x=1, y=0.5)", Point(1)),
        ("enum-int", "vectors.Color.RED", Color.RED),
        ("enum-str", "vectors.Color.GREEN", Color.GREEN),
        ("hook", "vectors.Money(150, 'EUR') with __irohds_key__ -> (150, 'EUR')",
         Money(150, "EUR")),
        ("ndarray-f8", "np.array([1.0, 2.0], dtype='<f8')", np.array([1.0, 2.0], dtype="<f8")),
        ("ndarray-2d-i4", "np.arange(6, dtype='<i4').reshape(2, 3)",
         np.arange(6, dtype="<i4").reshape(2, 3)),
        ("ndarray-0d", "np.array(7, dtype='<i8')", np.array(7, dtype="<i8")),
        ("ndarray-empty", "np.zeros((0, 3), dtype='<f4')", np.zeros((0, 3), dtype="<f4")),
        ("ndarray-bool", "np.array([True, False])", np.array([True, False])),
        ("ndarray-big", "np.arange(20000, dtype='<f8') (160000 bytes: hashed)", big),
        ("ndarray-structured", "np.zeros(2, dtype=[('a','<i4'),('b','<f8')])",
         np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])),
        ("ndarray-object", "np.array([1, 'a'], dtype=object)", np.array([1, "a"], dtype=object)),
        ("numpy-scalar-f4", "np.float32(1.5)", np.float32(1.5)),
        ("numpy-scalar-i8", "np.int64(-3)", np.int64(-3)),
        ("numpy-scalar-bool", "np.bool_(True)", np.bool_(True)),
        ("path", "pathlib.PurePosixPath('/data/x.csv')", pathlib.PurePosixPath("/data/x.csv")),
        ("path-windows", "pathlib.PureWindowsPath('C:/x')", pathlib.PureWindowsPath("C:/x")),
        ("file", "irohds.File(path) of b'irohds file vector\\n' * 100", _keys.File(blob)),
        ("uuid", "uuid.UUID(int=1)", uuid.UUID(int=1)),
        ("date", "datetime.date(2024, 2, 29)", datetime.date(2024, 2, 29)),
        ("datetime-naive", "datetime.datetime(2024, 2, 29, 12, 30, 0, 5)",
         datetime.datetime(2024, 2, 29, 12, 30, 0, 5)),
        ("datetime-utc", "datetime.datetime(2024, 1, 1, tzinfo=timezone.utc)",
         datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)),
        ("datetime-offset", "datetime(2024,1,1,tzinfo=timezone(timedelta(hours=-5,minutes=-30)))",
         datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(
             datetime.timedelta(hours=-5, minutes=-30)))),
        ("time", "datetime.time(1, 2, 3)", datetime.time(1, 2, 3)),
        ("timedelta", "datetime.timedelta(days=-1, seconds=5, microseconds=7)",
         datetime.timedelta(days=-1, seconds=5, microseconds=7)),
        ("decimal", "decimal.Decimal('1.10')", decimal.Decimal("1.10")),
        ("fraction", "fractions.Fraction(-1, 3)", fractions.Fraction(-1, 3)),
        ("ref-builtin-len", "len (builtin function reference)", len),
        ("ref-builtin-int", "int (class reference)", int),
    ]


def calls():
    """(name, description, args, kwargs, ns, version, signature or None)."""
    sig = inspect.signature(_sig_example)
    return [
        ("call-raw-empty", "f() with no known signature, ns '', version 1",
         (), {}, "", 1, None),
        ("call-raw", "f(1, 'a', k=2.0), no known signature, ns 'lab', version 2",
         (1, "a"), {"k": 2.0}, "lab", 2, None),
        ("call-bound", "f(a, b=2, *rest, c=3, **extra) called f(1): defaults applied",
         (1,), {}, "lab", 1, sig),
        ("call-bound-full", "same f called f(1, 5, 6, 7, c=0, z=[1]), version 'v2'",
         (1, 5, 6, 7), {"c": 0, "z": [1]}, "lab", "v2", sig),
        ("call-ns-unicode", "f() no signature, ns 'équipe', version None",
         (), {}, "équipe", None, None),
    ]


IGNORED = ("verbose", "n_jobs")


def _ignore_example(x, verbose=False, n_jobs=1):
    pass


TASKS = [
    ("task-str", "each(['task_001'], ns='lab')", "lab", "task_001", 0),
    ("task-url", "run_once('s3://bucket/a b.npz', version=3), ns ''", "",
     "s3://bucket/a b.npz", 3),
    ("task-bytes", "each([b'\\x00\\xff'], ns='lab', version='v2')", "lab", b"\x00\xff", "v2"),
    ("task-unicode", "each(['caf\\u00e9 \\u2603'], ns='\\u00fc')", "\u00fc", "caf\u00e9 \u2603", 0),
    ("task-empty", "each([''], ns='lab')", "lab", "", 0),
]


def build():
    out = {"encoding_version": _keys.ENCODING_VERSION,
           "inline_limit": _keys.INLINE_LIMIT,
           "fake_identity": FAKE_IDENTITY.hex(), "values": [], "calls": [],
           "ignore": [], "tasks": []}
    # Run-once task keys (proto/keys.md §6).
    for name, desc, ns, key, version in TASKS:
        enc = _keys.task_encoding(ns, key, version)
        out["tasks"].append({"name": name, "python": desc, "ns": ns,
                             "encoding": enc.hex(), "key": _native.blake3(enc).hex()})
    with tempfile.TemporaryDirectory(prefix="irh-vec-") as tmp:
        for name, desc, value in values(tmp):
            enc = _keys.encode_value(value, name)
            out["values"].append({"name": name, "python": desc, "encoding": enc.hex(),
                                  "key": _native.blake3(enc).hex()})
    saved = dict(_identity._SIGNATURES)
    try:
        for name, desc, args, kwargs, ns, version, sig in calls():
            _identity._SIGNATURES.pop(FAKE_IDENTITY, None)
            if sig is not None:
                _identity._SIGNATURES[FAKE_IDENTITY] = sig
            enc = _keys.call_encoding(FAKE_IDENTITY, args, kwargs, ns, version)
            out["calls"].append({"name": name, "python": desc, "ns": ns,
                                 "encoding": enc.hex(), "key": _native.blake3(enc).hex()})
        # ignore= (proto/keys.md §3.1): the identity with the ignore list,
        # then a call whose ignored arguments are left out.
        enc = (_keys.IGNORE_MAGIC + FAKE_IDENTITY
               + _keys.encode_value(tuple(sorted(IGNORED))))
        out["ignore"].append({"name": "ignore-identity",
                              "python": "ignore_identity(fake, ['verbose', 'n_jobs'])",
                              "encoding": enc.hex(), "key": _native.blake3(enc).hex()})
        _identity._SIGNATURES[FAKE_IDENTITY] = inspect.signature(_ignore_example)
        enc = _keys.call_encoding(FAKE_IDENTITY, (1,), {"verbose": True}, "lab", 1,
                                  ignore=IGNORED)
        out["ignore"].append({"name": "ignore-call",
                              "python": "f(x, verbose=False, n_jobs=1), ignore=['verbose', "
                                        "'n_jobs'], called f(1, verbose=True), ns 'lab'",
                              "ns": "lab", "encoding": enc.hex(),
                              "key": _native.blake3(enc).hex()})
    finally:
        _identity._SIGNATURES.clear()
        _identity._SIGNATURES.update(saved)
    return out


def dumps(data):
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main():
    data = build()
    text = dumps(data)
    if "--check" in sys.argv[1:]:
        with open(OUT, encoding="utf-8") as f:
            golden = json.load(f)
        if dumps(golden) != text:
            old = {v["name"]: v for v in golden.get("values", []) + golden.get("calls", [])
                   + golden.get("ignore", []) + golden.get("tasks", [])}
            for v in data["values"] + data["calls"] + data["ignore"] + data["tasks"]:
                if old.get(v["name"]) != v:
                    print(f"differs: {v['name']}", file=sys.stderr)
            print("keys.json differs from the current encoding", file=sys.stderr)
            return 1
        print("keys.json matches")
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
