"""Python client without a daemon: blob codec, in-process tier, fast keys,
table parsing, errors, and the "no daemon" fallback (computes locally,
warns once)."""
import os
import pickle
import shutil

import numpy as np
import pytest

from client_support import count, irohds_test, pin_home, run_worker

import irohds
from irohds import _codec, _memcache, _transport


@pytest.fixture(autouse=True)
def home(monkeypatch):
    # Every test here runs without a daemon.
    h = irohds_test.make_home()
    pin_home(monkeypatch, h)
    try:
        yield h
    finally:
        shutil.rmtree(h, ignore_errors=True)


@pytest.fixture
def counter(home):
    return os.path.join(home, "count.txt")


# ---------------------------------------------------------------- codec

def test_codec_round_trip_out_of_band_arrays():
    a = np.arange(50000, dtype=np.float64).reshape(50, 1000)
    value = {"a": a, "b": np.arange(3, dtype=np.int8), "l": [1, "x", None]}
    enc = _codec.encode(value)
    assert len(enc.buffers) == 2          # the arrays went out of band
    blob = bytearray(enc.to_bytes())
    assert len(blob) == enc.size
    out = _codec.decode(blob)
    assert np.array_equal(out["a"], a) and out["a"].dtype == a.dtype
    assert out["a"].flags.writeable
    assert out["l"] == [1, "x", None]
    # Buffers start 64-byte aligned inside the blob.
    addr = np.frombuffer(blob, dtype=np.uint8).ctypes.data
    assert (out["a"].ctypes.data - addr) % 64 == 0


def test_codec_write_fd_equals_to_bytes(tmp_path):
    enc = _codec.encode({"a": np.ones(1000), "s": "hello"})
    p = tmp_path / "blob"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
    enc.write_fd(fd)
    os.close(fd)
    assert p.read_bytes() == enc.to_bytes()


def test_codec_rejects_damaged_blobs():
    blob = _codec.encode({"a": np.arange(100), "t": "x" * 100}).to_bytes()
    for cut in range(0, len(blob), 7):
        with pytest.raises(_codec.CodecError):
            _codec.decode(blob[:cut])
    with pytest.raises(_codec.CodecError):
        _codec.decode(b"XXXX" + blob[4:])
    with pytest.raises(_codec.CodecError):
        _codec.decode(blob + b"\0")
    # A flipped byte in the pickle stream is caught by unpickling (the
    # store's BLAKE3 check catches the rest before decode is reached).
    bad = bytearray(blob)
    bad[16 + 8 * 1] ^= 0xFF
    with pytest.raises(_codec.CodecError):
        _codec.decode(bad)


def test_codec_unpicklable_raises():
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        _codec.encode(lambda: 1)


# ---------------------------------------------------------------- in-process tier

def test_memcache_lru_bound_by_bytes():
    c = _memcache.MemCache(1000)
    for k in (b"a", b"b", b"c"):
        c.put(k, k, 300, "f")
    assert c.total == 900
    assert c.get(b"a") is not None          # a is now most recent
    c.put(b"d", b"d", 300, "f")             # evicts b (least recent)
    assert c.get(b"b") is None
    assert {k for k in c.lru} == {b"a", b"c", b"d"}
    assert c.total == 900
    assert c.put(b"huge", b"x", 1001, "f") is None     # never fits
    assert c.total <= 1000
    c.set_budget(300)
    assert list(c.lru) == [b"d"] and c.total == 300
    assert c.drop_fn("f") == 1 and c.total == 0


def test_in_process_tier_bounded_by_bytes(home):
    calls = []

    @irohds.mem
    def blob(i):
        calls.append(i)
        return bytes(10_000) + bytes([i])

    old = _memcache.CACHE.budget
    try:
        _memcache.CACHE.clear()
        irohds.set_memory_limit(35_000)     # room for three results
        for i in range(5):
            blob(i)
        assert calls == [0, 1, 2, 3, 4]
        assert _memcache.CACHE.total <= 35_000
        blob(4)
        blob(3)
        assert calls == [0, 1, 2, 3, 4]     # recent ones are kept
        blob(0)                             # evicted earlier: recomputed
        assert calls == [0, 1, 2, 3, 4, 0]
    finally:
        irohds.set_memory_limit(old)
        _memcache.CACHE.clear()


def test_fast_keys_never_conflate(home):
    seen = []

    @irohds.mem
    def ident(x):
        seen.append(x)
        return (type(x).__name__, x)

    for v in (1, 1.0, True, 0.0, -0.0, 0, False, "1", b"1", None, (1,), (1.0,)):
        r = ident(v)
        assert r == (type(v).__name__, v)
        assert ident(v) == r                 # cached, and still the right type
        assert type(ident(v)[1]) is type(v)
    # -0.0 and 0.0 are different keys: the sign survives.
    assert str(ident(-0.0)[1]) == "-0.0" and str(ident(0.0)[1]) == "0.0"
    assert len(seen) == 12


def test_mem_decorator_caches_in_process_only(home):
    n = []

    @irohds.mem
    def add(a, b=2):
        n.append(1)
        return a + b

    assert add(1) == 3 and add(1) == 3 and add(1, b=2) == 3
    assert add(2) == 4
    assert not os.path.exists(os.path.join(home, "store"))
    add.evict()
    assert add(1) == 3
    assert len(n) >= 3


def test_unsupported_argument_type_error(home):
    @irohds.memo
    def f(x):
        return x

    class Opaque:
        pass

    with pytest.raises(TypeError) as ei:
        f(Opaque())
    msg = str(ei.value)
    assert "irohds" in msg and "Opaque" in msg


def test_key_is_hex_and_distinguishes(home):
    @irohds.memo(ns="lab", version=1)
    def f(x):
        return x

    @irohds.memo(ns="lab", version=2)
    def g(x):
        return x

    k = f.key(1)
    assert len(k) == 64 and int(k, 16) >= 0
    assert k == f.key(1) and k != f.key(1.0) and k != f.key(True) and k != f.key(2)


@pytest.mark.parametrize("env", [
    {"XDG_DATA_HOME": "/tmp/irh-xdg//data/../d"},
    {"XDG_DATA_HOME": "relative/xdg"},          # invalid per XDG: ignored
    {"XDG_DATA_HOME": "", "HOME": "/tmp/irh-user/"},
    {"HOME": ""},                               # empty: the password entry
    {"IROHDS_HOME": "/tmp/irh-h/./x/.."},
], ids=["xdg", "xdg-relative", "home", "home-empty", "irohds-home"])
def test_home_matches_the_daemons_resolver(monkeypatch, env):
    # The client and the daemon must find the same home: compare with
    # irh_paths_new (libirohds) under the same environment.
    import ctypes
    from irohds import _config, _native
    for name in ("IROHDS_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lib = _native.library()
    lib.irh_paths_new.restype = ctypes.POINTER(ctypes.c_char_p)   # ->home is first
    lib.irh_paths_new.argtypes = [ctypes.c_char_p, ctypes.c_bool, ctypes.c_void_p]
    lib.irh_paths_destroy.argtypes = [ctypes.c_void_p]
    paths = lib.irh_paths_new(None, False, None)
    assert paths
    try:
        # Same directory; the client also cleans the path lexically
        # (irh_paths.c keeps an absolute one as given).
        assert _config.home() == os.path.normpath(os.fsdecode(paths[0]))
    finally:
        lib.irh_paths_destroy(ctypes.byref(ctypes.cast(paths, ctypes.c_void_p)))


def test_resolve_outside_a_call_is_an_error():
    with pytest.raises(RuntimeError):
        irohds.resolve("x.txt")


def test_join_records_namespace():
    irohds.join("my-lab")
    assert "my-lab" in irohds.status()["namespaces"]
    with pytest.raises(ValueError):
        irohds.join("")


# ---------------------------------------------------------------- tables

def test_parse_table_types_and_escapes():
    frames = [b"T1\tname:s\tn:u\td:i\tr:f\th:x\tok:b",
              b"a\\tb\\\\c\\nd\t42\t-3\tinf\t00ff\t1",
              b"x\t0\t0\t0.5\t\t0"]
    rows = _transport.parse_table(frames)
    assert rows[0] == {"name": "a\tb\\c\nd", "n": 42, "d": -3, "r": float("inf"),
                       "h": b"\x00\xff", "ok": True}
    assert rows[1]["h"] == b"" and rows[1]["ok"] is False
    for bad in ([], [b"X1\ta:s"], [b"T1\ta:q"], [b"T1\ta:u", b"1\t2"], [b"T1\ta:b", b"2"]):
        with pytest.raises(ValueError):
            _transport.parse_table(bad)


# ---------------------------------------------------------------- no daemon

def test_no_daemon_computes_locally_and_warns_once(home, counter):
    out = run_worker(home, counter, "square", 4, IROHDS_DAEMON="/bin/false")
    assert out["value"] == {"x": 4, "sq": 16, "pad": "p" * 1024}
    daemon_warnings = [w for w in out["warnings"] if "daemon is not reachable" in w]
    assert len(daemon_warnings) == 1, out["warnings"]
    assert count(counter) == 1
    # And again in a fresh process: computed again (nothing stored), right value.
    out = run_worker(home, counter, "square", 4, IROHDS_DAEMON="/bin/false")
    assert out["value"]["sq"] == 16 and count(counter) == 2


def test_no_daemon_warning_once_per_process(home):
    import subprocess
    import sys
    code = ("import warnings, irohds\n"
            "@irohds.memo\n"
            "def f(x):\n"
            "    return x + 1\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    assert [f(i) for i in range(5)] == [1, 2, 3, 4, 5]\n"
            "    assert f(3) == 4\n"
            "print(sum('daemon is not reachable' in str(x.message) for x in w))\n")
    script = os.path.join(home, "once.py")
    with open(script, "w") as fh:
        fh.write(code)
    env = irohds_test.test_env(home, IROHDS_DAEMON="/bin/false")
    r = subprocess.run([sys.executable, script], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_exception_propagates_without_daemon(home, counter):
    out = run_worker(home, counter, "boom", 1, IROHDS_DAEMON="/bin/false")
    assert out["error"] == "ValueError: boom 1"
    out = run_worker(home, counter, "boom", 1, IROHDS_DAEMON="/bin/false")
    assert out["error"] == "ValueError: boom 1"
    assert count(counter, "boom") == 2


def test_exceptions_are_not_cached_in_process(home):
    n = []

    @irohds.memo
    def flaky(x):
        n.append(x)
        if len(n) == 1:
            raise KeyError("first")
        return x

    with pytest.raises(KeyError):
        flaky(7)
    assert flaky(7) == 7 and flaky(7) == 7
    assert n == [7, 7]


# ---------------------------------------------------------------- record decoders

def test_touch_body_is_the_generated_encoding():
    from irohds import _proto
    key = bytes(range(32))
    assert _proto.encode_touch(key=key) == bytes([_proto.TOUCH]) + key
