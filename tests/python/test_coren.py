"""irohds.coren without a daemon: FnCost vectors (the same as
tests/c/test_fncost.c and docs/coren.md), C and Python agreeing bit for bit
on 1,000 random inputs through ctypes, bad arguments, verdicts on
hand-built MachCaps, the seed's helpers and derive_cost."""
import ctypes
import math
import pickle
import random

import pytest

from irohds.coren import FnCost, MachCap, Verdict, derive_cost, U64_MAX

MAX = U64_MAX


def t(c):
    return (c.flops, c.mem_bytes, c.peak_mem, c.result_bytes)


# ---- vectors -------------------------------------------------------------------

def test_seed_vectors():
    c = FnCost.sort(1_000_000, 64, 64_000_000)
    assert c.flops == 200_000_000
    assert c.mem_bytes == 1_280_000_000
    c = FnCost.matmul(1000, 1000, 1000, 8_000_000)
    assert c.flops == 2_000_000_000
    assert c.mem_bytes == 24_000_000


@pytest.mark.parametrize("cost, expect", [
    (lambda: FnCost.new(1, 2, 3, 4), (1, 2, 3, 4)),
    (lambda: FnCost.scan(1000, 10), (1000, 1010, 1010, 10)),
    (lambda: FnCost.scan(MAX, 1), (MAX, MAX, MAX, 1)),
    (lambda: FnCost.sort(1_000_000, 64, 64_000_000),
     (200_000_000, 1_280_000_000, 128_000_000, 64_000_000)),
    (lambda: FnCost.sort(0, 64, 0), (0, 0, 0, 0)),
    (lambda: FnCost.sort(1, 8, 0), (0, 0, 16, 0)),
    (lambda: FnCost.sort(1024, 8, 5), (102400, 81920, 16384, 5)),
    (lambda: FnCost.sort(1025, 8, 5), (112750, 90200, 16400, 5)),
    (lambda: FnCost.sort(1 << 63, 1024, 0), (MAX, MAX, MAX, 0)),
    (lambda: FnCost.hash(1000), (8000, 1000, 1032, 32)),
    (lambda: FnCost.hash(MAX), (MAX, MAX, MAX, 32)),
    (lambda: FnCost.matmul(1000, 1000, 1000, 8_000_000),
     (2_000_000_000, 24_000_000, 24_000_000, 8_000_000)),
    (lambda: FnCost.matmul(2, 3, 4, 48), (48, 208, 208, 48)),
    (lambda: FnCost.matmul(1 << 32, 1 << 32, 2, 0), (MAX, MAX, MAX, 0)),
    (lambda: FnCost.etl(100_000, 100, 50, 7), (5_000_000, 20_000_000, 6_553_600, 7)),
    (lambda: FnCost.etl(10, 100, 50, 7), (500, 2000, 1000, 7)),
    (lambda: FnCost.copy(1 << 30), (0, 1 << 31, 8_388_608, 1 << 30)),
    (lambda: FnCost.copy(100), (0, 200, 100, 100)),
    (lambda: FnCost.copy(MAX), (0, MAX, 8_388_608, MAX)),
])
def test_constructor_vectors(cost, expect):
    assert t(cost()) == expect


def test_combinator_vectors():
    a, b = FnCost(10, 20, 30, 40), FnCost(1, 2, 300, 4)
    assert t(a.then(b)) == (11, 22, 300, 4)
    assert a + b == a.then(b)
    assert t(a.par(b)) == (10, 22, 330, 44)
    assert t(a.repeat(5)) == (50, 100, 30, 40)
    assert t(a.repeat(0)) == (0, 0, 30, 40)
    big = FnCost(MAX, MAX - 1, MAX, MAX)
    assert t(big.then(a)) == (MAX, MAX, MAX, 40)
    assert t(big.par(a)) == (MAX, MAX, MAX, MAX)
    assert t(a.repeat(MAX)) == (MAX, MAX, 30, 40)
    pipe = (FnCost.scan(64_000_000, 0)
            .then(FnCost.sort(1_000_000, 64, 0))
            .then(FnCost.hash(64_000_000)))
    assert t(pipe) == (776_000_000, 1_408_000_000, 128_000_000, 32)


def test_value_semantics():
    a = FnCost.sort(10, 8, 1)
    assert a == FnCost.sort(10, 8, 1) and hash(a) == hash(FnCost.sort(10, 8, 1))
    assert a != FnCost.sort(11, 8, 1)
    assert (a.W, a.Q, a.M, a.R) == t(a)
    with pytest.raises(AttributeError):
        a.flops = 1
    assert pickle.loads(pickle.dumps(a)) == a
    assert FnCost.from_dict(a.to_dict()) == a
    assert "flops=" in repr(a)


# ---- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("bad, exc", [
    (-1, ValueError), (1 << 64, ValueError), (10 ** 30, ValueError),
    (1.0, TypeError), (2.5, TypeError), (True, TypeError), (False, TypeError),
    ("3", TypeError), (None, TypeError), (float("nan"), TypeError),
])
def test_constructors_reject_bad_arguments(bad, exc):
    calls = [
        lambda: FnCost(bad, 0, 0, 0), lambda: FnCost.new(0, 0, 0, bad),
        lambda: FnCost.scan(bad, 0), lambda: FnCost.scan(0, bad),
        lambda: FnCost.sort(bad, 1, 1), lambda: FnCost.sort(1, bad, 1),
        lambda: FnCost.sort(1, 1, bad), lambda: FnCost.hash(bad),
        lambda: FnCost.matmul(bad, 1, 1, 1), lambda: FnCost.matmul(1, 1, bad, 1),
        lambda: FnCost.etl(1, 1, bad, 1), lambda: FnCost.etl(1, bad, 1, 1),
        lambda: FnCost.copy(bad), lambda: FnCost(1, 1, 1, 1).repeat(bad),
    ]
    for call in calls:
        with pytest.raises(exc) as info:
            call()
        assert "FnCost" in str(info.value)


def test_combinators_reject_non_costs():
    with pytest.raises(TypeError):
        FnCost(1, 1, 1, 1).then((1, 1, 1, 1))
    with pytest.raises(TypeError):
        FnCost(1, 1, 1, 1).par(3)
    with pytest.raises(TypeError):
        FnCost(1, 1, 1, 1) + 3


def test_numpy_integers_are_integers():
    import numpy as np
    n = np.prod(np.array([1000, 1000], dtype=np.int64))
    assert t(FnCost.sort(n, np.uint8(64), 0)) == t(FnCost.sort(1_000_000, 64, 0))
    with pytest.raises(TypeError):
        FnCost.scan(np.float64(3.0), 0)
    with pytest.raises(TypeError):
        FnCost.scan(np.bool_(True), 0)
    with pytest.raises(ValueError):
        FnCost.scan(np.int64(-1), 0)


def test_int_subclasses_are_plain_ints():
    import enum

    class N(enum.IntEnum):
        FOUR = 4
    assert t(FnCost.scan(N.FOUR, 0)) == (4, 4, 4, 0)
    assert type(FnCost.scan(N.FOUR, 0).flops) is int


# ---- C and Python agree --------------------------------------------------------

class _Cost(ctypes.Structure):
    _fields_ = [("flops", ctypes.c_uint64), ("mem_bytes", ctypes.c_uint64),
                ("peak_mem", ctypes.c_uint64), ("result_bytes", ctypes.c_uint64)]


@pytest.fixture(scope="module")
def lib():
    # A private handle through the package's loader (its search order),
    # since this test sets argtypes of its own.
    from irohds import _native
    lib = ctypes.CDLL(_native.library()._name)
    u = ctypes.c_uint64
    for name, n in (("new", 4), ("scan", 2), ("sort", 3), ("hash", 1), ("matmul", 4),
                    ("etl", 4), ("copy", 1)):
        fn = getattr(lib, "irh_fncost_" + name)
        fn.argtypes = [u] * n
        fn.restype = _Cost
    for name in ("then", "par"):
        fn = getattr(lib, "irh_fncost_" + name)
        fn.argtypes = [_Cost, _Cost]
        fn.restype = _Cost
    lib.irh_fncost_repeat.argtypes = [_Cost, u]
    lib.irh_fncost_repeat.restype = _Cost
    lib.irh_fncost_log2_ceil.argtypes = [u]
    lib.irh_fncost_log2_ceil.restype = u
    return lib


def _c(cost):
    return _Cost(*t(cost))


def _edge_value(rng):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randrange(0, 4)
    if kind == 1:
        return rng.randrange(0, 1 << 20)
    if kind == 2:
        return max(0, min(MAX, (1 << rng.randrange(1, 64)) + rng.randrange(-2, 3)))
    if kind == 3:
        return MAX - rng.randrange(0, 4)
    if kind == 4:
        return (1 << 32) + rng.randrange(-3, 4)
    if kind == 5:
        return rng.randrange(0, 1 << 40)
    return rng.randrange(0, MAX + 1)


def test_c_and_python_agree_on_random_inputs(lib):
    rng = random.Random(0x636F72656E)
    for i in range(1000):
        v = [_edge_value(rng) for _ in range(8)]
        assert lib.irh_fncost_log2_ceil(v[0]) == (0 if v[0] <= 1 else (v[0] - 1).bit_length())
        pairs = [
            (FnCost.new(*v[:4]), lib.irh_fncost_new(*v[:4])),
            (FnCost.scan(v[0], v[1]), lib.irh_fncost_scan(v[0], v[1])),
            (FnCost.sort(v[0], v[1], v[2]), lib.irh_fncost_sort(v[0], v[1], v[2])),
            (FnCost.hash(v[3]), lib.irh_fncost_hash(v[3])),
            (FnCost.matmul(*v[:4]), lib.irh_fncost_matmul(*v[:4])),
            (FnCost.etl(*v[4:8]), lib.irh_fncost_etl(*v[4:8])),
            (FnCost.copy(v[5]), lib.irh_fncost_copy(v[5])),
        ]
        a, b = FnCost(*v[:4]), FnCost(*v[4:])
        pairs += [
            (a.then(b), lib.irh_fncost_then(_c(a), _c(b))),
            (a + b, lib.irh_fncost_then(_c(a), _c(b))),
            (a.par(b), lib.irh_fncost_par(_c(a), _c(b))),
            (a.repeat(v[6]), lib.irh_fncost_repeat(_c(a), v[6])),
        ]
        for py, c in pairs:
            assert t(py) == (c.flops, c.mem_bytes, c.peak_mem, c.result_bytes), (i, v)


# ---- verdicts on hand-built machines ---------------------------------------------

def cap(**kw):
    figures = dict(flops_core=10e9, flops_all=40e9, mem_bw=20e9, disk_read=1e9,
                   disk_write=500e6, net_bw=125e6, net_latency=0.001, ram_total=16e9,
                   ram_avail=8e9, cores=4)
    figures.update(kw)
    return MachCap(**figures)


def test_verdict_memory_bound_compute_wins():
    v = cap().verdict(FnCost.sort(1_000_000, 64, 10_000_000))
    assert v.t_compute == pytest.approx(0.064)
    assert v.t_fetch == pytest.approx(0.081)
    assert v.t_store == pytest.approx(0.02)
    assert v.score == pytest.approx(-0.017)
    assert v.bottleneck == "memory" and v.action == "compute"
    assert not v
    assert str(v) == "compute (saves 0.017s)"


def test_verdict_compute_bound():
    v = cap().verdict(FnCost.matmul(1000, 1000, 1000, 8_000_000))
    assert v.t_compute == pytest.approx(0.05)
    assert v.bottleneck == "compute" and v.score < 0


def test_verdict_fetch_wins_network_then_disk():
    v = cap().verdict(FnCost.new(400_000_000_000, 0, 0, 1_000_000))
    assert v.score == pytest.approx(10.0 - 0.009)
    assert v and v.bottleneck == "network"
    assert str(v) == "fetch (saves 9.991s)"
    v = cap().verdict(FnCost.new(400_000_000_000, 0, 0, 1_000_000_000), peer_bw=10e9,
                      peer_latency=0.0001)
    assert v.t_fetch == pytest.approx(0.1001)
    assert v and v.bottleneck == "disk"


def test_verdict_infinities():
    v = cap().verdict(FnCost.new(1, 1, 9_000_000_000, 1))
    assert v.score == math.inf and v and v.must and v.bottleneck == "memory"
    assert str(v) == "fetch (must: not enough RAM)"
    v = cap().verdict(FnCost.new(400_000_000_000, 0, 0, 1), has_holder=False)
    assert v.score == -math.inf and not v and v.bottleneck == "network"
    v = cap(net_bw=0).verdict(FnCost.new(400_000_000_000, 0, 9_000_000_000, 1))
    assert v.score == -math.inf and v.t_fetch == math.inf
    assert str(v) == "compute (must: no holder or network)"


def test_verdict_matches_c(lib):
    """Python's float verdict equals the C one for the same inputs."""
    class _Cap(ctypes.Structure):
        _fields_ = [(n, ctypes.c_double) for n in (
            "flops_core", "flops_all", "mem_bw", "disk_read", "disk_write", "net_bw",
            "net_latency", "ram_total", "ram_avail")] + [("cores", ctypes.c_uint32)]

    class _Verdict(ctypes.Structure):
        _fields_ = [("t_compute", ctypes.c_double), ("t_fetch", ctypes.c_double),
                    ("t_store", ctypes.c_double), ("score", ctypes.c_double),
                    ("bottleneck", ctypes.c_int)]
    lib.irh_fncost_verdict.argtypes = [ctypes.POINTER(_Cap), _Cost, ctypes.c_double,
                                       ctypes.c_double, ctypes.c_bool]
    lib.irh_fncost_verdict.restype = _Verdict
    necks = ["compute", "memory", "network", "disk"]
    rng = random.Random(7)
    for _ in range(300):
        m = cap(flops_all=rng.choice([0, 1e9, 4e10]), mem_bw=rng.choice([1e9, 2e10]),
                net_bw=rng.choice([0, 1.25e7, 1.25e9]), disk_write=rng.choice([0, 1e8, 1e10]),
                ram_avail=rng.choice([1e6, 8e9]))
        c = FnCost(*[rng.choice([0, 1000, 10 ** 9, 10 ** 12, MAX]) for _ in range(4)])
        peer = rng.choice([None, 1e8, 1e10])
        holder = rng.random() < 0.8
        py = m.verdict(c, peer_bw=peer, has_holder=holder)
        cc = _Cap(m.flops_core, m.flops_all, m.mem_bw, m.disk_read, m.disk_write, m.net_bw,
                  m.net_latency, m.ram_total, m.ram_avail, m.cores)
        cv = lib.irh_fncost_verdict(ctypes.byref(cc), _c(c), peer or 0.0, 0.0, holder)
        assert (py.t_compute, py.t_fetch, py.t_store, py.score) == \
            (cv.t_compute, cv.t_fetch, cv.t_store, cv.score)
        assert py.bottleneck == necks[cv.bottleneck]


# ---- helpers -----------------------------------------------------------------------

def test_etl_buffer_bytes():
    assert cap().etl_buffer_bytes(1000) == 250_000_000
    assert cap().etl_buffer_bytes(0) == 0
    assert cap().etl_buffer_bytes(2_000_000_000) == 2_000_000_000
    assert cap(ram_avail=16e6).etl_buffer_bytes(1000) == 2_000_000
    assert cap(disk_write=0).etl_buffer_bytes(1 << 20) == 4 << 20
    with pytest.raises(ValueError):
        cap().etl_buffer_bytes(-1)


def test_suggest_ttl():
    cheap = cap().suggest_ttl(FnCost.scan(1000, 1_000_000_000), 3600)
    dear = cap().suggest_ttl(FnCost.new(400_000_000_000, 0, 0, 1_000_000), 3600)
    assert cheap == pytest.approx(360) and dear == pytest.approx(360_000)
    mid = cap().suggest_ttl(FnCost.new(4_000_000_000, 0, 0, 1_000_000), 3600)
    assert mid == pytest.approx(3600 * 0.1 / 0.009)
    assert cap().suggest_ttl(FnCost.scan(1, 1), 0) == 0


def test_compute_budget():
    assert cap().compute_budget(FnCost.new(1, 1, 0, 1)) == 4
    assert cap().compute_budget(FnCost.new(1, 1, 3_000_000_000, 1)) == 2
    assert cap().compute_budget(FnCost.new(1, 1, 9_000_000_000, 1)) == 0


def test_derive_cost_reproduces_the_measured_time():
    m = cap()
    c = derive_cost(2.0, 1.5, 1 << 20, 1234, cap=m)
    assert c.flops == int(1.5 * 10e9) and c.mem_bytes == int(2.0 * 20e9)
    assert c.peak_mem == 1 << 20 and c.result_bytes == 1234
    assert m.verdict(c).t_compute == pytest.approx(2.0)
    # Multi-threaded: CPU time above wall; the model still gives wall here.
    c = derive_cost(1.0, 3.9, 0, 0, cap=m)
    assert m.verdict(c).t_compute == pytest.approx(1.0)
    # Memory freed during the call is no growth, not an error.
    assert derive_cost(1.0, 1.0, -4096, 0, cap=m).peak_mem == 0
    # Saturates instead of overflowing.
    assert derive_cost(1e30, 1e30, 1e30, 0, cap=m).flops == MAX


@pytest.mark.parametrize("args, exc", [
    ((-1, 0, 0, 0), ValueError), ((float("inf"), 0, 0, 0), ValueError),
    ((0, float("nan"), 0, 0), ValueError), (("1", 0, 0, 0), TypeError),
    ((0, 0, True, 0), TypeError), ((0, 0, 0, -5), ValueError), ((0, 0, 0, 1.5), TypeError),
    ((0, 0, float("inf"), 0), ValueError), ((0, 0, "1", 0), TypeError),
])
def test_derive_cost_rejects_bad_input(args, exc):
    with pytest.raises(exc):
        derive_cost(*args, cap=cap())


def test_machcap_rejects_unknown_figures():
    with pytest.raises(TypeError):
        MachCap(flops=1)
    assert isinstance(cap().verdict(FnCost()), Verdict)
    with pytest.raises(TypeError):
        cap().verdict((1, 2, 3, 4))
