"""irohds.coren: the coren capability model (DESIGN §6, docs/coren.md).

    from irohds.coren import FnCost, MachCap
    cost = FnCost.sort(1_000_000, 64, 64_000_000)
    v = MachCap.read().verdict(cost)
    if v:                # truthy when fetching from a peer wins
        ...

FnCost is four unsigned 64-bit integers (flops W, memory traffic Q, peak
memory M, result bytes R) computed with integer arithmetic that SATURATES
at 2**64 - 1, bit for bit like common/irh_fncost.c, so every machine agrees
on a published cost. MachCap is what this machine can do, measured by the
irohds-capability actor (service "cap"); when the daemon cannot be reached
it is read from <home>/machcap.cache, and failing that a conservative
default is used (MachCap.source says which). A Verdict is the decision:
score = t_compute - t_fetch seconds, > 0 means fetch.
"""
import math
import operator
import os
import threading
import time

__all__ = ["FnCost", "MachCap", "Verdict", "derive_cost", "U64_MAX"]

U64_MAX = (1 << 64) - 1

# Flags of machcap_info (proto/cap.def).
FLAG_NIC_UNKNOWN = 1 << 0
FLAG_NO_NIC = 1 << 1
FLAG_DISK_FADVISE = 1 << 2
FLAG_FMA = 1 << 3
FLAG_TRIAD_CAPPED = 1 << 4
FLAG_CACHED = 1 << 5
FLAG_FIXED = 1 << 6               # cap.profile = "fixed": nothing was measured

CACHE_SEED = 0x636F72656E          # "coren", seed of the cache checksum
CACHE_FORMAT = 1


# ---- FnCost ------------------------------------------------------------------

def _u64(name, value):
    """Validate one outside argument: an integer (int, or an integer type
    such as numpy.int64 through __index__; never bool) in [0, 2**64-1]."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise TypeError("FnCost: %s must be an int, not %s" % (name, type(value).__name__))
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError("FnCost: %s must be an int, not %s"
                        % (name, type(value).__name__)) from None
    if value < 0:
        raise ValueError("FnCost: %s must be >= 0, got %d" % (name, value))
    if value > U64_MAX:
        raise ValueError("FnCost: %s must be <= 2**64-1, got %d" % (name, value))
    return int(value)


def _sat(value):
    return value if value <= U64_MAX else U64_MAX


def _add(a, b):
    return _sat(a + b)


def _mul(*factors):
    # Saturate after every step, exactly like C: once a factor product has
    # saturated, multiplying by 0 still gives 0 only if C would too.
    out = 1
    for f in factors:
        out = _sat(out * f)
    return out


def log2_ceil(n):
    """ceil(log2 n) in integers; 0 for n <= 1."""
    return 0 if n <= 1 else (n - 1).bit_length()


class FnCost:
    """What a function needs: flops W, mem_bytes Q, peak_mem M, result_bytes R.
    Immutable; compares and hashes by value."""

    __slots__ = ("flops", "mem_bytes", "peak_mem", "result_bytes")

    def __init__(self, flops=0, mem_bytes=0, peak_mem=0, result_bytes=0):
        object.__setattr__(self, "flops", _u64("flops", flops))
        object.__setattr__(self, "mem_bytes", _u64("mem_bytes", mem_bytes))
        object.__setattr__(self, "peak_mem", _u64("peak_mem", peak_mem))
        object.__setattr__(self, "result_bytes", _u64("result_bytes", result_bytes))

    def __setattr__(self, name, value):
        raise AttributeError("FnCost is immutable")

    @classmethod
    def _raw(cls, w, q, m, r):
        self = object.__new__(cls)
        object.__setattr__(self, "flops", w)
        object.__setattr__(self, "mem_bytes", q)
        object.__setattr__(self, "peak_mem", m)
        object.__setattr__(self, "result_bytes", r)
        return self

    # Seed names.
    W = property(lambda self: self.flops)
    Q = property(lambda self: self.mem_bytes)
    M = property(lambda self: self.peak_mem)
    R = property(lambda self: self.result_bytes)

    # -- constructors (formulas: docs/coren.md) --

    @classmethod
    def new(cls, flops, mem_bytes, peak_mem, result_bytes):
        return cls(flops, mem_bytes, peak_mem, result_bytes)

    @classmethod
    def scan(cls, n_bytes, result_bytes):
        n, r = _u64("n_bytes", n_bytes), _u64("result_bytes", result_bytes)
        total = _add(n, r)
        return cls._raw(n, total, total, r)

    @classmethod
    def sort(cls, n, item_bytes, result_bytes):
        n, item = _u64("n", n), _u64("item_bytes", item_bytes)
        r = _u64("result_bytes", result_bytes)
        passes = log2_ceil(n)
        return cls._raw(_mul(10, n, passes), _mul(n, item, passes), _mul(2, n, item), r)

    @classmethod
    def hash(cls, n_bytes):
        n = _u64("n_bytes", n_bytes)
        return cls._raw(_mul(8, n), n, _add(n, 32), 32)

    @classmethod
    def matmul(cls, m, n, k, result_bytes):
        m, n, k = _u64("m", m), _u64("n", n), _u64("k", k)
        r = _u64("result_bytes", result_bytes)
        elems = _add(_add(_mul(m, k), _mul(k, n)), _mul(m, n))
        nbytes = _mul(8, elems)
        return cls._raw(_mul(2, m, _mul(n, k)), nbytes, nbytes, r)

    @classmethod
    def etl(cls, rows, row_bytes, flops_per_row, result_bytes):
        rows, rb = _u64("rows", rows), _u64("row_bytes", row_bytes)
        fpr, r = _u64("flops_per_row", flops_per_row), _u64("result_bytes", result_bytes)
        return cls._raw(_mul(rows, fpr), _mul(2, rows, rb), _mul(min(rows, 65536), rb), r)

    @classmethod
    def copy(cls, size):
        size = _u64("size", size)
        return cls._raw(0, _mul(2, size), min(size, 8 << 20), size)

    # -- combinators --

    def _other(self, other, op):
        if not isinstance(other, FnCost):
            raise TypeError("FnCost.%s needs an FnCost, not %s" % (op, type(other).__name__))
        return other

    def then(self, other):
        """Sequential: W and Q add up, M is the larger peak, R the second's."""
        o = self._other(other, "then")
        return FnCost._raw(_add(self.flops, o.flops), _add(self.mem_bytes, o.mem_bytes),
                           max(self.peak_mem, o.peak_mem), o.result_bytes)

    def __add__(self, other):
        if not isinstance(other, FnCost):
            return NotImplemented
        return self.then(other)

    def par(self, other):
        """Parallel: W is the longer branch; Q, M and R add up (Q because
        both branches share one memory bus)."""
        o = self._other(other, "par")
        return FnCost._raw(max(self.flops, o.flops), _add(self.mem_bytes, o.mem_bytes),
                           _add(self.peak_mem, o.peak_mem),
                           _add(self.result_bytes, o.result_bytes))

    def repeat(self, k):
        """k runs in a row: W and Q scale, M and R unchanged."""
        k = _u64("k", k)
        return FnCost._raw(_mul(self.flops, k), _mul(self.mem_bytes, k), self.peak_mem,
                           self.result_bytes)

    # -- value semantics --

    def astuple(self):
        return (self.flops, self.mem_bytes, self.peak_mem, self.result_bytes)

    def to_dict(self):
        return dict(zip(self.__slots__, self.astuple()))

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.__slots__})

    def __eq__(self, other):
        return isinstance(other, FnCost) and self.astuple() == other.astuple()

    def __hash__(self):
        return hash(("FnCost",) + self.astuple())

    def __repr__(self):
        return "FnCost(flops=%d, mem_bytes=%d, peak_mem=%d, result_bytes=%d)" % self.astuple()

    def __reduce__(self):
        return (FnCost, self.astuple())


# ---- Verdict -----------------------------------------------------------------

class Verdict:
    """Fetch or compute. score = t_compute - t_fetch (seconds); > 0: fetch
    wins (the object is truthy), < 0: compute here; +inf: must fetch (not
    enough RAM), -inf: must compute (no holder or no network)."""

    __slots__ = ("t_compute", "t_fetch", "t_store", "score", "bottleneck")

    def __init__(self, t_compute, t_fetch, t_store, score, bottleneck):
        self.t_compute, self.t_fetch, self.t_store = t_compute, t_fetch, t_store
        self.score, self.bottleneck = score, bottleneck

    def __bool__(self):
        return self.score > 0

    @property
    def action(self):
        return "fetch" if self.score > 0 else "compute"

    @property
    def must(self):
        return math.isinf(self.score)

    def __str__(self):
        if self.score == math.inf:
            return "fetch (must: not enough RAM)"
        if self.score == -math.inf:
            return "compute (must: no holder or network)"
        if self.score > 0:
            return "fetch (saves %.3fs)" % self.score
        return "compute (saves %.3fs)" % -self.score

    def __repr__(self):
        return ("Verdict(%s, t_compute=%.6g, t_fetch=%.6g, t_store=%.6g, bottleneck=%r)"
                % (self, self.t_compute, self.t_fetch, self.t_store, self.bottleneck))

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


def _time(amount, rate):
    if amount <= 0:
        return 0.0
    return amount / rate if rate > 0 else math.inf


# ---- MachCap -----------------------------------------------------------------

# Conservative figures used when neither the daemon nor the cache file can
# tell us anything: a modest laptop on a 100 Mbit/s link.
_DEFAULTS = dict(flops_core=5e9, flops_all=10e9, mem_bw=5e9, disk_read=100e6,
                 disk_write=100e6, net_bw=12.5e6, net_latency=0.001, ram_total=4 << 30,
                 ram_avail=1 << 30, cores=2)

# (attribute, machcap_info field, scale from the record to SI units, unit)
_FIELDS = (
    ("flops_core", "flops_core", 1, "flop/s"),
    ("flops_all", "flops_all", 1, "flop/s"),
    ("mem_bw", "mem_bw", 1, "B/s"),
    ("disk_read", "disk_read", 1, "B/s"),
    ("disk_write", "disk_write", 1, "B/s"),
    ("net_bw", "net_bw", 1, "B/s"),
    ("net_latency", "net_latency_ns", 1e-9, "s"),
    ("ram_total", "ram_total", 1, "B"),
    ("ram_avail", "ram_avail", 1, "B"),
    ("load1", "load1_milli", 1e-3, ""),
    ("cpu_idle", "cpu_idle_ppm", 1e-6, "fraction"),
    ("gpu_mem_total", "gpu_mem_total", 1, "B"),
    ("gpu_mem_free", "gpu_mem_free", 1, "B"),
    ("measure_wall", "measure_wall_us", 1e-6, "s"),
    ("measured_at", "measured_ms", 1e-3, "s since epoch"),
)


class MachCap:
    """What this machine can do, in SI units (flop/s, bytes/s, bytes, s).
    Build one by hand for planning (MachCap(flops_all=..., ...)), or read
    this machine's with MachCap.read()."""

    def __init__(self, **figures):
        for k, v in _DEFAULTS.items():
            setattr(self, k, figures.pop(k, v))
        self.load1 = figures.pop("load1", 0.0)
        self.cpu_idle = figures.pop("cpu_idle", 0.0)
        self.cpu_model = figures.pop("cpu_model", "")
        self.nic = figures.pop("nic", "")
        self.gpu_count = figures.pop("gpu_count", 0)
        self.gpu_model = figures.pop("gpu_model", "")
        self.gpu_mem_total = figures.pop("gpu_mem_total", 0)
        self.gpu_mem_free = figures.pop("gpu_mem_free", 0)
        self.flags = figures.pop("flags", 0)
        self.fingerprint = figures.pop("fingerprint", 0)
        self.measured_at = figures.pop("measured_at", 0.0)
        self.measure_wall = figures.pop("measure_wall", 0.0)
        self.source = figures.pop("source", "manual")
        if figures:
            raise TypeError("MachCap: unknown figures %s" % ", ".join(sorted(figures)))

    # -- reading --

    @classmethod
    def from_info(cls, info, source):
        """From a decoded machcap_info record (dict of wire fields)."""
        kw = {}
        for attr, field, scale, _unit in _FIELDS:
            kw[attr] = info[field] * scale if scale != 1 else float(info[field])
        kw.update(cores=info["cores"], cpu_model=info["cpu_model"], nic=info["nic"],
                  gpu_count=info["gpu_count"], gpu_model=info["gpu_model"],
                  flags=info["flags"], fingerprint=info["fingerprint"], source=source)
        return cls(**kw)

    @classmethod
    def read(cls, home=None, timeout=None, remeasure=False):
        """This machine's MachCap from the capability actor; when the daemon
        cannot be reached, from <home>/machcap.cache; failing that, the
        conservative defaults (source "default")."""
        from . import _proto
        try:
            from . import _transport
            if home is not None:
                t = _transport.Transport(home=os.path.abspath(home))
            else:
                t = _transport.get_transport()
            try:
                frames = t.call("cap", "remeasure" if remeasure else "machcap",
                                timeout=(timeout if timeout is not None
                                         else (10.0 if remeasure else None)))
                _name, info = _proto.decode(frames[0], expect="machcap_info")
                return cls.from_info(info, "daemon")
            finally:
                if home is not None:
                    t.close()
        except Exception:       # daemon down, actor failed, bad reply: fall back
            pass
        return cls.read_cache(home) or cls(source="default")

    @classmethod
    def read_cache(cls, home=None):
        """MachCap from <home>/machcap.cache, or None when it is missing or
        does not verify (checksum via libirohds' irh_xxh64)."""
        from . import _config, _proto
        path = os.path.join(os.path.abspath(home) if home else _config.home(),
                            "machcap.cache")
        try:
            with open(path, "rb") as f:
                data = f.read(8192)
            _name, cache = _proto.decode(data, expect="machcap_cache")
            record = bytes(cache["record"])
            if cache["format"] != CACHE_FORMAT or _xxh64(record, CACHE_SEED) != cache["checksum"]:
                return None
            _name, info = _proto.decode(record, expect="machcap_info")
        except (OSError, ValueError):
            return None
        return cls.from_info(info, "cache")

    def to_dict(self):
        """Every figure, with units: {name: {"value": v, "unit": u}}."""
        out = {}
        for attr, _field, _scale, unit in _FIELDS:
            out[attr] = {"value": getattr(self, attr), "unit": unit}
        out["cores"] = {"value": self.cores, "unit": "count"}
        for attr in ("cpu_model", "nic", "gpu_model", "source"):
            out[attr] = {"value": getattr(self, attr), "unit": ""}
        out["gpu_count"] = {"value": self.gpu_count, "unit": "count"}
        out["nic_unknown"] = {"value": bool(self.flags & FLAG_NIC_UNKNOWN), "unit": ""}
        out["fixed"] = {"value": bool(self.flags & FLAG_FIXED), "unit": ""}
        out["fingerprint"] = {"value": "%016x" % self.fingerprint, "unit": ""}
        return out

    def __repr__(self):
        return ("MachCap(%s: %.1f GFLOP/s x%d, %.1f GB/s mem, disk r/w %.0f/%.0f MB/s, "
                "net %.0f MB/s, RAM %.1f/%.1f GB)" % (
                    self.source, self.flops_all / 1e9, self.cores, self.mem_bw / 1e9,
                    self.disk_read / 1e6, self.disk_write / 1e6, self.net_bw / 1e6,
                    self.ram_avail / 1e9, self.ram_total / 1e9))

    # -- decisions (same model as common/irh_fncost.c) --

    def verdict(self, cost, peer_bw=None, peer_latency=None, has_holder=True):
        """Compute here, or fetch from a peer (peer_bw bytes/s and
        peer_latency s learned from transfers; default: this NIC)."""
        if not isinstance(cost, FnCost):
            raise TypeError("verdict needs an FnCost, not %s" % type(cost).__name__)
        t_flops = _time(cost.flops, self.flops_all)
        t_mem = _time(cost.mem_bytes, self.mem_bw)
        bw = peer_bw if peer_bw is not None and peer_bw > 0 else self.net_bw
        lat = peer_latency if peer_latency is not None and peer_latency > 0 else self.net_latency
        if not lat > 0:
            lat = 0.0
        t_compute = t_flops if t_flops >= t_mem else t_mem
        t_fetch = lat + cost.result_bytes / bw if bw > 0 else math.inf
        t_store = _time(cost.result_bytes, self.disk_write)
        if not has_holder or not bw > 0:
            score, neck = -math.inf, "network"
        elif float(cost.peak_mem) > self.ram_avail:   # compared as doubles, like C
            score, neck = math.inf, "memory"
        else:
            score = t_compute - t_fetch
            if score > 0:
                neck = "disk" if t_store > t_fetch else "network"
            else:
                neck = "compute" if t_flops >= t_mem else "memory"
        return Verdict(t_compute, t_fetch, t_store, score, neck)

    def etl_buffer_bytes(self, row_bytes):
        """Bytes to buffer before flushing: half a second of disk writes,
        in [4 MiB, 1 GiB], at most 1/8 of available RAM, whole rows, >= 1 row."""
        row_bytes = _u64("row_bytes", row_bytes)
        if row_bytes == 0:
            return 0
        target = self.disk_write * 0.5 if self.disk_write > 0 else 0.0
        target = min(max(target, 4.0 * (1 << 20)), 1024.0 * (1 << 20))
        if self.ram_avail > 0 and target > self.ram_avail / 8:
            target = self.ram_avail / 8
        rows = int(target) // row_bytes
        return _mul(rows or 1, row_bytes)

    def suggest_ttl(self, cost, base_ttl):
        """base_ttl scaled by t_compute / t_fetch, clamped to [0.1, 100]."""
        if not base_ttl > 0:
            return 0.0
        v = self.verdict(cost)
        if math.isinf(v.t_compute) or float(cost.peak_mem) > self.ram_avail \
                or math.isinf(v.t_fetch) or v.t_fetch <= 0:
            ratio = 100.0
        else:
            ratio = v.t_compute / v.t_fetch
        return base_ttl * min(max(ratio, 0.1), 100.0)

    def compute_budget(self, cost):
        """How many copies of this task can run at once: one per core,
        fewer when their peak memory does not fit; 0 if none fits."""
        cores = self.cores or 1
        if cost.peak_mem == 0:
            return cores
        return max(0, min(cores, int(math.floor(self.ram_avail / cost.peak_mem))))


def _xxh64(data, seed):
    """irh_xxh64 from libirohds (the cache checksum)."""
    from . import _config
    import ctypes
    lib = _config.native_lib()
    if lib is None:
        raise ValueError("libirohds not available to verify the checksum")
    fn = lib.irh_xxh64
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    fn.restype = ctypes.c_uint64
    return fn(data, len(data), seed)


# ---- costs of memoized calls --------------------------------------------------

_cap_lock = threading.Lock()
_cap_cached = None
_cap_time = 0.0
_CAP_TTL = 60.0


def _local_cap():
    """This machine's MachCap, asked at most once a minute per process."""
    global _cap_cached, _cap_time
    with _cap_lock:
        now = time.monotonic()
        if _cap_cached is None or now - _cap_time > _CAP_TTL:
            # Short timeout: this runs inside a memoized call's store path.
            _cap_cached = MachCap.read(timeout=0.5)
            _cap_time = now
        return _cap_cached


def _seconds(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("derive_cost: %s must be a number, not %s" % (name, type(value).__name__))
    if not math.isfinite(value) or value < 0:
        raise ValueError("derive_cost: %s must be finite and >= 0, got %r" % (name, value))
    return float(value)


def derive_cost(wall_s, cpu_s, rss_growth, result_bytes, cap=None):
    """FnCost of a call measured on this machine (docs/coren.md):
    W = cpu_s x per-core flop/s, Q = wall_s x memory bandwidth,
    M = rss_growth, R = result_bytes. On the measuring machine the verdict's
    t_compute = max(cpu_s / cores, wall_s) = wall_s: the model reproduces
    the measured time; elsewhere it scales with the other machine's figures.
    """
    wall_s = _seconds("wall_s", wall_s)
    cpu_s = _seconds("cpu_s", cpu_s)
    # RSS can shrink during a call (the GC freed more than the call kept):
    # that is a measurement, not misuse, so it counts as no growth.
    if isinstance(rss_growth, bool) or not isinstance(rss_growth, (int, float)):
        raise TypeError("derive_cost: rss_growth must be a number, not %s"
                        % type(rss_growth).__name__)
    if not math.isfinite(rss_growth):
        raise ValueError("derive_cost: rss_growth must be finite, got %r" % (rss_growth,))
    rss = max(0, int(rss_growth))
    rb = _u64("result_bytes", result_bytes)
    cap = cap or _local_cap()
    w = _sat(int(cpu_s * cap.flops_core)) if cap.flops_core > 0 else 0
    q = _sat(int(wall_s * cap.mem_bw)) if cap.mem_bw > 0 else 0
    return FnCost._raw(w, q, _sat(rss), rb)
