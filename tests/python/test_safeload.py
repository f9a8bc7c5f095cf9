"""Results from a peer without a secret are unpickled by the restricted
unpickler (_codec.decode(blob, trusted=False)): the values irohds results
are made of load exactly as on the trusted path, large arrays without a
copy; hostile pickles (built by hand, as a peer could send them) are
refused with UnsafeResult, counted as unsafe_refused, and their payload
never runs; random damage to valid blobs only ever raises CodecError."""
import collections
import datetime
import decimal
import fractions
import os
import pathlib
import pickle
import pickletools
import random
import struct
import subprocess
import uuid

import numpy as np
import pytest

from irohds import FileRef, _codec, _log

multiarray = np.core.multiarray
numeric = np.core.numeric


def blob_of(value):
    return bytearray(_codec.encode(value).to_bytes())


def raw_blob(stream, buffers=()):
    """An IRB1 blob around a hand-made pickle stream."""
    head = struct.pack(">4sIQ", b"IRB1", len(buffers), len(stream))
    head += b"".join(struct.pack(">Q", len(b)) for b in buffers)
    out = bytearray(head + stream)
    for b in buffers:
        out += bytes(-len(out) % 64) + b
    return out


def untrusted(blob):
    return _codec.decode(blob, trusted=False)


@pytest.fixture
def refused():
    """Asserts that each blob given is refused with UnsafeResult, that the
    message names `what`, and that unsafe_refused counts it."""
    def check(blob, what):
        before = _log.counters["unsafe_refused"]
        with pytest.raises(_codec.UnsafeResult) as exc:
            untrusted(blob)
        assert what in str(exc.value)
        assert _log.counters["unsafe_refused"] == before + 1
        return exc.value
    return check


class Craft:
    """Pickles as the reduce tuple it is given: how a hostile peer writes
    a pickle that calls what it wants."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce

    def __call__(self, *args):          # pickle wants a callable in a reduce
        raise AssertionError("never called here")


# ---------------------------------------------------------------- what loads

PLAIN = [
    None, True, 0, -5, 2 ** 200, 1.5, float("inf"), complex(1, -2), "text", "ü" * 100,
    b"bytes", bytearray(b"mutable"), (1, (2, (3,))), [1, [2, [3, {"k": [4]}]]],
    {"a": 1, 2: "b", (3, 4): None}, {1, 2, 3}, frozenset({"x"}), slice(1, 9, 2), range(2, 50, 7),
    ..., int, dict,
    collections.OrderedDict([("b", 1), ("a", 2)]), collections.defaultdict(list, a=[1, 2]),
    collections.defaultdict(None, z=1), collections.deque([1, 2, 3], 5), collections.Counter("abracadabra"),
    datetime.datetime(2026, 12, 2, 15, 30, 1, 77), datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3), "X")),
    datetime.date(1999, 12, 31), datetime.time(23, 59, 1), datetime.timedelta(days=3, microseconds=5),
    decimal.Decimal("3.14159265358979323846"), decimal.Decimal("-Infinity"), fractions.Fraction(22, 7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    pathlib.PurePosixPath("/a/b"), pathlib.PureWindowsPath("C:/x"), pathlib.Path("/tmp/p"),
    FileRef("/tmp/some/file"),
]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_load_as_on_the_trusted_path(value):
    blob = blob_of({"v": value, "again": [value]})
    out = untrusted(blob)
    assert out == _codec.decode(blob_of({"v": value, "again": [value]}))
    assert type(out["v"]) is type(value)
    assert repr(out["v"]) == repr(value)


ARRAYS = {
    "int": np.arange(1000, dtype=np.int32),
    "float": np.linspace(0, 1, 777),
    "bool": np.array([True, False, True]),
    "structured": np.array([(1, 2.5, b"ab"), (3, -1.0, b"cd")],
                           dtype=[("i", "<i4"), ("f", ">f8"), ("s", "S2")]),
    "subarray": np.zeros(4, dtype=[("m", "f4", (2, 3))]),
    "0-d": np.array(42.0),
    "empty": np.zeros((0, 5)),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "strided": np.arange(20)[::3],
    "transposed": np.arange(6).reshape(2, 3).T,
    "unicode": np.array(["ab", "cde"]),
    "datetime": np.array(["2020-01-01", "2026-12-02"], dtype="M8[D]"),
    "complex": np.array([1j, 2 + 3j]),
    "object": np.array([1, "x", None, [2, 3], np.float32(1.5)], dtype=object),
    "object-2d": np.array([[1, "a"], [None, (2,)]], dtype=object),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_numpy_arrays_load(name):
    a = ARRAYS[name]
    out = untrusted(blob_of([a, a]))
    trusted = _codec.decode(blob_of([a, a]))[0]
    for b in out:
        assert type(b) is np.ndarray and b.dtype == a.dtype and b.shape == a.shape
        assert (b.flags.c_contiguous, b.flags.f_contiguous) == \
            (trusted.flags.c_contiguous, trusted.flags.f_contiguous)
        if a.dtype.hasobject:
            assert b.tolist() == a.tolist()
        else:
            assert b.tobytes() == a.tobytes()


def test_numpy_scalars_and_dtypes_load():
    values = [np.float64(2.5), np.int8(-3), np.bool_(True), np.complex64(1j), np.datetime64("2020-01-01"),
              np.str_("s"), np.void(b"\x01\x02"), np.zeros(1, dtype=[("a", "i2"), ("b", "f4")])[0],
              np.dtype("f8"), np.dtype([("a", "<u2"), ("b", "f4", (2,))]), np.dtype(object)]
    out = untrusted(blob_of(values))
    for got, want in zip(out, values):
        assert type(got) is type(want) and repr(got) == repr(want)


def test_structured_dtypes_with_objects_are_refused(refused):
    """Only the plain object dtype may hold pointers: a structured or
    subarray dtype with object fields is refused (and computed locally)."""
    refused(blob_of(np.dtype([("a", "<u2"), ("b", "O")])), "object fields")
    refused(blob_of(np.zeros(2, dtype=[("a", "O", (2,))])), "object fields")


def test_large_array_is_a_view_of_the_blob_as_on_the_trusted_path():
    a = np.random.default_rng(1).random((512, 1024))        # 4 MiB
    blob = blob_of({"a": a})
    trusted = _codec.decode(blob)["a"]
    out = untrusted(blob)["a"]
    whole = np.frombuffer(blob, dtype=np.uint8)
    assert np.shares_memory(trusted, whole)
    assert np.shares_memory(out, whole)
    assert out.flags.writeable and np.array_equal(out, a)


# ---------------------------------------------------------------- what is refused

@pytest.fixture
def marker(tmp_path):
    """A file each payload would create if it ran."""
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a refused payload ran"


def touch(path):
    return "touch %s" % path


def test_reduce_to_os_system(refused, marker):
    refused(blob_of(Craft(os.system, (touch(marker),))), "global posix.system")


def test_builtins_eval_exec_getattr_import(refused, marker):
    code = "open(%r, 'w').close()" % str(marker)
    refused(blob_of(Craft(eval, (code,))), "global builtins.eval")
    refused(blob_of(Craft(exec, (code,))), "global builtins.exec")
    refused(blob_of(Craft(__import__, ("os",))), "global builtins.__import__")
    # getattr(__import__("os"), "system")(cmd): a chain of allowed-looking calls
    refused(blob_of(Craft(Craft(getattr, (Craft(__import__, ("os",)), "system")), (touch(marker),))),
            "global builtins.getattr")


def test_subprocess_partial_methodcaller_copyreg(refused, marker):
    import copyreg
    import functools
    import operator
    refused(blob_of(Craft(subprocess.Popen, (["touch", str(marker)],))), "global subprocess.Popen")
    refused(blob_of(functools.partial(os.system, touch(marker))), "global functools.partial")
    refused(blob_of(Craft(operator.methodcaller("system", touch(marker)), (Craft(__import__, ("os",)),))),
            "global operator.methodcaller")
    refused(blob_of(Craft(copyreg._reconstructor, (os._wrap_close, object, None))),
            "global copyreg._reconstructor")


def test_hostile_object_inside_an_object_array(refused, marker):
    a = np.array([1, Craft(os.system, (touch(marker),))], dtype=object)
    refused(blob_of({"fine": np.arange(3), "a": a}), "global posix.system")


def g(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(s):
    s = s.encode()
    return b"\x8c" + bytes([len(s)]) + s


@pytest.mark.parametrize("module,name", [
    ("builtins", "getattr"), ("builtins", "object.__subclasses__"), ("os", "system"), ("os.path", "join"),
    ("posix", "system"), ("uuid", "os.system"), ("numpy", "core.multiarray._reconstruct.__self__"),
    ("collections", "OrderedDict.__init__.__globals__"), ("pathlib", "os.system"), ("__builtin__", "eval"),
    ("numpy", "load"), ("numpy.core.multiarray", "_reconstruct.__call__"), ("irohds._scratch", "os.remove"),
    ("builtins", "dict.fromkeys"), ("numpy", "frombuffer"), ("numpy.lib.format", "read_array"),
])
def test_dotted_and_unlisted_globals(refused, module, name):
    stack_global = b"\x80\x05" + u(module) + u(name) + b"\x93."
    refused(raw_blob(stack_global), "global %s.%s" % (module, name))
    refused(raw_blob(b"\x80\x02" + g(module, name) + b"."), "global %s.%s" % (module, name))


def test_protocol_0_and_1_instance_opcodes(refused, marker):
    cmd = touch(marker).encode()
    # INST: MARK args "i" module name
    refused(raw_blob(b"(S'" + cmd + b"'\nios\nsystem\n."), "opcode")
    refused(raw_blob(b"(S'x'\nibuiltins\ndict\n."), "opcode")
    # OBJ: MARK class args "o"
    refused(raw_blob(b"(" + g("builtins", "dict") + b"o."), "opcode")
    # EXT1 and persistent ids
    refused(raw_blob(b"\x80\x02\x82\x01."), "opcode")
    refused(raw_blob(b"\x80\x02P1\n."), "opcode")


def test_allowed_callable_with_hostile_arguments(refused):
    # A defaultdict calls its factory later: only plain types may be one.
    refused(blob_of(collections.defaultdict(multiarray._reconstruct)), "defaultdict factory")
    refused(blob_of(Craft(collections.defaultdict, (np.dtype,))), "defaultdict factory")
    # dtype(copy=False) would hand out numpy's shared built-in dtype to BUILD.
    refused(blob_of(Craft(np.dtype, ("f8", False, False), (3, ">", None, None, None, -1, -1, 0))),
            "bad arguments to numpy.dtype")
    refused(blob_of(Craft(multiarray._reconstruct, (np.ndarray, (10 ** 9,), b"b"))),
            "bad arguments to numpy _reconstruct")
    refused(blob_of(Craft(fractions.Fraction, ("1e999999999",))), "Fraction")
    # An allowed value type is not a callable: int("...") is not a call irohds writes.
    refused(blob_of(Craft(int, ("7",))), "call of builtins.int")
    refused(blob_of(Craft(range, (10, "x"))), "bad arguments")


def test_numpy_cannot_be_given_pointers(refused):
    # An object array straight from bytes: the bytes would be pointers.
    refused(blob_of(Craft(numeric._frombuffer, (b"\0" * 8, np.dtype(object), (1,), "C"))),
            "object array from raw bytes")
    refused(blob_of(Craft(numeric._frombuffer, (b"\0" * 16, np.dtype("O,i8"), (1,), "C"))),
            "object fields")
    refused(blob_of(Craft(multiarray.scalar, (np.dtype("O,O"), b"\0" * 16))), "object fields")
    # numpy's own dtype.__setstate__ accepts an object field on top of an
    # integer field; with it an array of integers is an array of pointers.
    evil = np.dtype("V16", False, True)
    evil.__setstate__((3, "|", None, ("p", "n"), {"p": (np.dtype("O"), 0), "n": (np.dtype("i8"), 0)},
                       16, 1, np.dtype([("p", "O")]).flags))
    refused(blob_of(evil), "object fields")
    refused(blob_of(Craft(multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                          (1, (1,), evil, False, [(None, 0x41414141)]))), "object fields")
    # A field outside its item reads past the array.
    wide = np.dtype("V4", False, True)
    wide.__setstate__((3, "|", None, ("x",), {"x": (np.dtype("i8"), 0)}, 4, 1, 16))
    refused(blob_of(Craft(numeric._frombuffer, (b"\0" * 4, wide, (1,), "C"))), "outside its item")
    refused(blob_of(Craft(numeric._frombuffer, (b"\0" * 4, np.dtype("i8"), (1,), "C"))), "wrong size")
    # A view over another array whose state could be changed later.
    refused(blob_of(Craft(numeric._frombuffer, (np.arange(2), np.dtype("i8"), (2,), "C"))),
            "_frombuffer of numpy.ndarray")


def inner(obj):
    """obj's pickle without PROTO and STOP and with no memo writes, to
    splice into a hand-made stream."""
    return pickletools.optimize(pickle.dumps(obj, protocol=3))[2:-1]


DTYPE_I8 = g("numpy", "dtype") + u("i8") + b"\x89\x88\x87R"          # dtype('i8', False, True)
ARRAY = (g("numpy.core.numeric", "_frombuffer") + b"(C\x08" + b"\0" * 8 + DTYPE_I8
         + b"K\x01\x85" + u("C") + b"tR")                           # _frombuffer(8 bytes, i8, (1,), 'C')


def test_dtype_state_numpy_would_crash_on(refused):
    """Found by fuzzing: numpy's dtype.__setstate__ segfaults on a tuple
    where names belong; only the state shapes numpy writes get through."""
    refused(blob_of(Craft(multiarray.scalar, (Craft(np.dtype, ("f8", False, True),
                                                    (3, "<", (None, None), -1, -1, 0)), b"\0" * 8))),
            "bad state for numpy.dtype")
    refused(blob_of(Craft(np.dtype, ("V8", False, True),
                          (3, "|", None, ("a",), {"a": (np.dtype("i4"), 0, "t", 1)}, 8, 1, 0))),
            "bad state for numpy.dtype")


def test_dtype_flags_must_match_the_dtype(refused):
    """Found by fuzzing: the flags in a dtype's state decide whether numpy
    treats items as objects; an object dtype claiming none made numpy
    segfault filling it from a list, an integer dtype claiming objects
    would make bytes pointers."""
    def dtype(spec, flags):
        return Craft(np.dtype, (spec, False, True), (3, "|", None, None, None, -1, -1, flags))
    refused(blob_of(Craft(multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                          (1, (3,), dtype("O8", 35), False, [1, "x", None]))),
            "numpy dtype whose state numpy would not make")
    refused(blob_of(Craft(numeric._frombuffer, (b"\0" * 8, dtype("i8", 63), (1,), "C"))),
            "numpy dtype")


def test_a_length_that_lies_allocates_nothing():
    """BYTEARRAY8 claiming 1 GiB in a 20-byte stream: pickle's own loader
    would allocate it before finding the stream short."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(_codec.CodecError):
            untrusted(raw_blob(b"\x80\x05\x96" + struct.pack("<Q", 1 << 30) + b"xy."))
        assert tracemalloc.get_traced_memory()[1] < 64 << 20
    finally:
        tracemalloc.stop()


def test_numpy_state_given_twice(refused):
    """A dtype already used by an array is given an object state after."""
    stream = (b"\x80\x05" + g("numpy", "dtype") + u("f8") + b"\x89\x88\x87R" + b"q\x00"
              + inner(np.dtype("f8").__reduce__()[2]) + b"b0"      # memo 0: a built f8 dtype
              + g("numpy.core.numeric", "_frombuffer") + b"(C\x08" + b"\0" * 8 + b"h\x00"
              + b"K\x01\x85" + u("C") + b"tR" + b"q\x010"           # memo 1: an array of it
              + b"h\x00" + inner(np.dtype(object).__reduce__()[2]) + b"b.")
    refused(raw_blob(stream), "already in use")
    # The same for an array: its state is given once, right after it is made.
    rebuild = (b"\x80\x05" + g("numpy.core.multiarray", "_reconstruct") + g("numpy", "ndarray")
               + b"K\x00\x85C\x01b\x87R" + b"q\x00"
               + inner((1, (1,), np.dtype("i8"), False, b"\0" * 8)) + b"b0"
               + b"h\x00" + inner((1, (2,), np.dtype("i8"), False, b"\0" * 16)) + b"b.")
    refused(raw_blob(rebuild), "already in use")


def test_mutating_opcodes_only_fill_plain_containers(refused):
    refused(raw_blob(b"\x80\x05" + ARRAY + b"K\x00K\x05s."), "item set in numpy.ndarray")
    refused(raw_blob(b"\x80\x05" + ARRAY + b"(K\x00K\x05u."), "item set in numpy.ndarray")
    refused(raw_blob(b"\x80\x05" + ARRAY + b"(K\x05e."), "append to numpy.ndarray")
    refused(raw_blob(b"\x80\x05" + ARRAY + b"K\x05a."), "append to numpy.ndarray")
    refused(raw_blob(b"\x80\x05" + u("s") + b"(K\x05\x90."), "item added to builtins.str")
    # BUILD on anything but the few types that take a state.
    refused(raw_blob(b"\x80\x05}" + u("x") + b"b."), "state for builtins.dict")


def test_refusal_is_only_on_the_untrusted_path():
    blob = blob_of(Craft(os.getpid, ()))
    assert _codec.decode(blob) == os.getpid()
    with pytest.raises(_codec.UnsafeResult):
        untrusted(blob)
    assert issubclass(_codec.UnsafeResult, _codec.CodecError)


def test_random_damage_only_raises_codec_errors():
    """Seeded mutations of valid blobs: the restricted loader returns a
    value or raises CodecError (UnsafeResult is one), nothing else, and
    never runs anything."""
    rng = random.Random(20261202)
    seeds = [blob_of(v) for v in (
        {"a": np.arange(20, dtype=np.int16).reshape(4, 5), "s": "x", "d": datetime.date(2020, 1, 2)},
        [np.zeros(3, dtype=[("a", "i4"), ("b", "f8", (2,))]), decimal.Decimal("1.5"), {1, 2}],
        np.array([1, "x", None], dtype=object),
        [collections.OrderedDict(a=1), collections.deque([1]), fractions.Fraction(1, 3), np.float32(1),
         pathlib.PurePosixPath("/x"), FileRef("/f"), np.arange(6)[::2]],
    )]
    outcomes = collections.Counter()
    for i in range(4000):
        blob = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(16, len(blob))
            op = rng.random()
            if op < 0.6:
                blob[pos] = rng.randrange(256)
            elif op < 0.8:
                blob[pos] ^= 1 << rng.randrange(8)
            else:
                blob[pos:pos] = bytes([rng.randrange(256)])
        try:
            untrusted(blob)
            outcomes["loaded"] += 1
        except _codec.UnsafeResult:
            outcomes["refused"] += 1
        except _codec.CodecError:
            outcomes["malformed"] += 1
    assert outcomes["malformed"] and outcomes["refused"] and outcomes["loaded"], outcomes
