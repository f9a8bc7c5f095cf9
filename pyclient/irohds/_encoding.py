"""Canonical bytes of values (proto/keys.md §2): the type-tagged,
deterministic encoding under every key. Functions and classes used as
values are named through a resolver the caller passes (the identity
module's encode_ref), so this module depends on nothing else of irohds
but the BLAKE3 binding: _identity builds on it, _keys builds on both.

No hash(), no pickle, no repr of arbitrary objects: what cannot be
encoded is _Unsupported, which the public entry points turn into a
TypeError naming the argument, because a silently unstable key would mean
either no reuse or, worse, reuse of a wrong result.
"""
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import inspect
import math
import os
import pathlib
import struct
import sys
import uuid

from . import _native

ENCODING_VERSION = 1
CALL_MAGIC = b"IRHK"
# Byte buffers (bytes, bytearray, memoryview, numpy data) longer than this
# are hashed, not copied into the encoding: the encoding carries their
# length and BLAKE3-256 instead.
INLINE_LIMIT = 64 * 1024

_FLOAT = struct.Struct(">d")
_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"


def _u64(n):
    return n.to_bytes(8, "big")


def _type_name(t):
    module = getattr(t, "__module__", None) or "?"
    return f"{module}.{getattr(t, '__qualname__', getattr(t, '__name__', '?'))}"


class _Unsupported(Exception):
    """Raised deep inside the encoder; carries the object and the path to
    it so the top level can name the argument (e.g. x[2]['k'])."""

    def __init__(self, obj, reason=None):
        super().__init__()
        self.obj = obj
        self.reason = reason
        self.path = []


# --- File: an argument keyed by the file's content -----------------------------

class File(os.PathLike):
    """irohds.File(path): an argument keyed by the BLAKE3 of the file's
    content (and size), not by its name. The hash is memoized per process
    by (device, inode, size, mtime_ns, ctime_ns), so an unchanged file is
    read once. Usable wherever a path is (os.fspath, open)."""

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = os.fspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"irohds.File({self.path!r})"

    def __eq__(self, other):
        return isinstance(other, File) and other.path == self.path

    def __hash__(self):
        return hash(("irohds.File", self.path))

    def digest(self):
        """(BLAKE3-256 of the content, size)."""
        return _file_digest(self.path)


_FILE_MEMO = {}
_FILE_MEMO_MAX = 4096
_blake3_file_size = _native.blake3_file_size


def _stat_id(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _file_digest(path):
    # A file rewritten while we read it would give a hash of neither
    # version: stat before and after, and retry if anything moved.
    for _ in range(3):
        before = _stat_id(os.stat(path))
        hit = _FILE_MEMO.get(before)
        if hit is not None:
            return hit
        digest, size = _blake3_file_size(path)
        after = _stat_id(os.stat(path))
        if before == after and size == before[2]:
            if len(_FILE_MEMO) >= _FILE_MEMO_MAX:
                _FILE_MEMO.clear()
            _FILE_MEMO[before] = (digest, size)
            return digest, size
    raise OSError(f"irohds: file {path!r} kept changing while it was hashed")


# --- the encoder ----------------------------------------------------------------

def _blob(mv):
    """Length-framed bytes of a C-contiguous byte view; hashed past the limit."""
    n = mv.nbytes
    if n <= INLINE_LIMIT:
        return b"\x00" + _u64(n) + mv.tobytes()
    return b"\x01" + _u64(n) + _native.blake3(mv)


def _enc_int(x):
    n = ((x if x >= 0 else ~x).bit_length() + 8) // 8
    return _u64(n) + int.to_bytes(x, n, "big", signed=True)


def _enc_float(x):
    return _NAN if math.isnan(x) else _FLOAT.pack(x)


def _enc_str(x):
    # surrogatepass: a str with lone surrogates still has one encoding.
    # Also the fast path's str encoder, hence no _u64 call here.
    raw = str.encode(x, "utf-8", "surrogatepass")
    return b"s" + len(raw).to_bytes(8, "big") + raw


def _unwrap(fn):
    try:
        return inspect.unwrap(fn)
    except ValueError:          # a __wrapped__ cycle
        return fn


class _Encoder:
    __slots__ = ("active", "refs", "resolver")

    def __init__(self, resolver=None):
        # resolver(encoder, obj) -> bytes encodes a function or class used
        # as a value (the identity module's encode_ref); without one such
        # values are unsupported.
        self.resolver = resolver
        self.active = set()   # ids of containers being encoded (cycle guard)
        # None when encoding arguments. In a function identity record it is
        # a list: user functions/classes inside values are then named (tag
        # 'r') and walked as part of the identity graph, not hashed inline,
        # so mutual references cannot recurse.
        self.refs = None

    def enc(self, x):
        t = type(x)
        f = _EXACT.get(t)
        if f is not None:
            return f(self, x)
        return self.other(x, t)

    # containers: each element's path is added on the way out of an error
    def _enter(self, x):
        key = id(x)
        if key in self.active:
            raise _Unsupported(x, "it contains itself (a cycle)")
        self.active.add(key)
        return key

    def seq(self, tag, items, x):
        return self.elements([tag, _u64(len(items))], items, x, "[{}]")

    def elements(self, parts, items, x, where):
        """parts + each item's encoding, joined; `where` formats an
        item's index into the error path."""
        key = self._enter(x)
        try:
            for i, item in enumerate(items):
                try:
                    parts.append(self.enc(item))
                except _Unsupported as e:
                    e.path.append(where.format(i))
                    raise
            return b"".join(parts)
        finally:
            self.active.discard(key)

    def pairs(self, items, x):
        """Encoded (key, value) pairs, in the given order."""
        key = self._enter(x)
        try:
            out = []
            for k, v in items:
                ek = self.enc(k)
                try:
                    out.append((ek, self.enc(v)))
                except _Unsupported as e:
                    e.path.append(f"[{k!r}]" if isinstance(k, (str, int)) else "[...]")
                    raise
            return out
        finally:
            self.active.discard(key)

    def mapping(self, tag, x, ordered=False):
        entries = self.pairs(list(dict.items(x)), x)
        if not ordered:
            entries.sort()
        return tag + _u64(len(entries)) + b"".join(k + v for k, v in entries)

    def unordered(self, tag, x):
        key = self._enter(x)
        try:
            try:
                items = sorted(self.enc(e) for e in x)
            except _Unsupported as e:
                e.path.append("{...}")
                raise
            return tag + _u64(len(items)) + b"".join(items)
        finally:
            self.active.discard(key)

    def other(self, x, t):
        hook = getattr(t, "__irohds_key__", None)
        if hook is not None and not isinstance(x, type):
            key = self._enter(x)
            try:
                inner = self.enc(x.__irohds_key__())
            except _Unsupported as e:
                e.path.append(".__irohds_key__()")
                raise
            finally:
                self.active.discard(key)
            return b"K" + _enc_str(_type_name(t)) + inner
        if isinstance(x, enum.Enum):
            try:
                return b"E" + _enc_str(_type_name(t)) + self.enc(x.value)
            except _Unsupported as e:
                e.path.append(".value")
                raise
        np = sys.modules.get("numpy")
        if np is not None:
            if t is np.ndarray or t is np.memmap:
                return self.ndarray(x, np)
            if isinstance(x, np.generic):
                return b"G" + _enc_str(_dtype_token(x.dtype)) + _blob(memoryview(x.tobytes()))
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            fields = dataclasses.fields(x)
            key = self._enter(x)
            try:
                parts = [b"D", _enc_str(_type_name(t)), _u64(len(fields))]
                for fl in fields:
                    parts.append(_enc_str(fl.name))
                    try:
                        parts.append(self.enc(getattr(x, fl.name)))
                    except _Unsupported as e:
                        e.path.append(f".{fl.name}")
                        raise
                return b"".join(parts)
            finally:
                self.active.discard(key)
        if isinstance(x, File):
            digest, size = x.digest()
            return b"H" + _u64(size) + digest
        if isinstance(x, pathlib.PurePath):
            flavour = "windows" if isinstance(x, pathlib.PureWindowsPath) else "posix"
            return b"P" + _enc_str(flavour) + _enc_str(str(x))
        if t is collections.OrderedDict:
            return self.mapping(b"o", x, ordered=True)
        if t is collections.defaultdict:
            try:
                factory = self.enc(x.default_factory)
            except _Unsupported as e:
                e.path.append(".default_factory")
                raise
            return b"V" + factory + self.mapping(b"d", x)
        if isinstance(x, (type, _FUNCTION_TYPES)) or _is_ufunc(x, np) or (
                callable(x) and hasattr(x, "__wrapped__") and _unwrap(x) is not x):
            return self.ref(x)
        if inspect.ismethod(x):
            return b"M" + self.enc(x.__self__) + self.ref(x.__func__)
        base = _builtin_base(t)
        if base is not None:
            state = getattr(x, "__dict__", None)
            if state:
                raise _Unsupported(x, f"it is a {base.__name__} subclass with "
                                   "extra attributes")
            return b"S" + _enc_str(_type_name(t)) + _EXACT[base](self, x)
        raise _Unsupported(x)

    def ref(self, x):
        if self.resolver is None:
            raise _Unsupported(x, "functions and classes need a resolver")
        return self.resolver(self, x)

    def ndarray(self, a, np):
        shape = b"t" + _u64(a.ndim) + b"".join(b"i" + _enc_int(int(d)) for d in a.shape)
        if a.dtype.hasobject:
            if a.dtype.kind != "O":
                raise _Unsupported(a, "structured arrays with object fields "
                                   "are not supported")
            return self.elements([b"O", shape], a.flat, a, ".flat[{}]")
        c = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        # view as bytes without a copy (C order; 0-size arrays are fine)
        raw = memoryview(c.reshape(-1).view(np.uint8)) if c.size else memoryview(b"")
        return b"A" + _enc_str(_dtype_token(a.dtype)) + shape + _blob(raw)


def _dtype_token(dt):
    # dtype.str names byte order, kind and size ('<f8', '|b1', '<M8[ns]');
    # structured dtypes need their field list too.
    if dt.names is None and dt.subdtype is None:
        return dt.str
    return "descr:" + repr(dt.descr)


def _is_ufunc(x, np):
    return np is not None and isinstance(x, np.ufunc)


_FUNCTION_TYPES = (type(len), type(_u64), type([].append),
                   type(str.join), type(dict.__dict__["fromkeys"]))
_BUILTIN_BASES = (bool, int, float, complex, str, bytes, bytearray, tuple,
                  list, dict, set, frozenset)


def _builtin_base(t):
    for base in t.__mro__:
        if base in _BUILTIN_BASES:
            return base
    return None


def _enc_none(self, x):
    return b"N"


def _enc_bool(self, x):
    return b"T" if x else b"F"


def _enc_memoryview(self, x):
    shape = b"t" + _u64(x.ndim) + b"".join(b"i" + _enc_int(d) for d in (x.shape or ()))
    flat = x.cast("B") if x.c_contiguous else memoryview(x.tobytes())
    return b"m" + _enc_str(x.format) + shape + _blob(flat)


def _enc_datetime(self, x):
    tz = x.tzinfo
    return b"W" + _enc_str(x.replace(tzinfo=None).isoformat()) + _u64(x.fold) + _tz_token(self, x, tz)


def _enc_time(self, x):
    tz = x.tzinfo
    return b"w" + _enc_str(x.replace(tzinfo=None).isoformat()) + _u64(x.fold) + _tz_token(self, x, tz)


def _tz_token(self, x, tz):
    if tz is None:
        return b"N"
    if type(tz) is datetime.timezone:
        off = tz.utcoffset(None)
        return b"Z" + _enc_int(off.days * 86400 + off.seconds) + _enc_int(off.microseconds) \
            + _enc_str(tz.tzname(None) if tz is not datetime.timezone.utc else "UTC")
    key = getattr(tz, "key", None)     # zoneinfo.ZoneInfo
    if isinstance(key, str) and type(tz).__module__ == "zoneinfo":
        return b"z" + _enc_str(key)
    raise _Unsupported(x, f"its tzinfo of type {_type_name(type(tz))} has no "
                       "canonical form (use datetime.timezone or zoneinfo)")


_EXACT = {
    type(None): _enc_none,
    bool: _enc_bool,
    int: lambda self, x: b"i" + _enc_int(x),
    float: lambda self, x: b"f" + _enc_float(x),
    complex: lambda self, x: b"c" + _enc_float(x.real) + _enc_float(x.imag),
    str: lambda self, x: _enc_str(x),
    bytes: lambda self, x: b"b" + _blob(memoryview(x)),
    bytearray: lambda self, x: b"a" + _blob(memoryview(x)),
    memoryview: _enc_memoryview,
    tuple: lambda self, x: self.seq(b"t", x, x),
    list: lambda self, x: self.seq(b"l", x, x),
    dict: lambda self, x: self.mapping(b"d", x),
    set: lambda self, x: self.unordered(b"e", x),
    frozenset: lambda self, x: self.unordered(b"z", x),
    range: lambda self, x: b"r" + _enc_int(x.start) + _enc_int(x.stop) + _enc_int(x.step),
    uuid.UUID: lambda self, x: b"U" + x.bytes,
    datetime.date: lambda self, x: b"Y" + _enc_str(x.isoformat()),
    datetime.datetime: _enc_datetime,
    datetime.time: _enc_time,
    datetime.timedelta: lambda self, x: (b"J" + _enc_int(x.days) + _enc_int(x.seconds)
                                         + _enc_int(x.microseconds)),
    decimal.Decimal: lambda self, x: b"X" + _enc_str(str(x)),
    fractions.Fraction: lambda self, x: b"Q" + _enc_int(x.numerator) + _enc_int(x.denominator),
}
# Builtin subclasses are encoded with their exact base's encoder:
for _base in _BUILTIN_BASES:
    assert _base in _EXACT


def _message(name, err):
    obj = err.obj
    where = name + "".join(reversed(err.path))
    tname = _type_name(type(obj))
    if err.reason:
        return (f"irohds: cannot derive a key from argument '{where}' of type "
                f"{tname}: {err.reason}; pass plain data, irohds.File(path), "
                f"or define __irohds_key__")
    return (f"irohds: cannot derive a key from argument '{where}' of type "
            f"{tname}; pass plain data, irohds.File(path), or define __irohds_key__")


def encode_value(value, name="arg", resolver=None) -> bytes:
    """Canonical bytes of one value (proto/keys.md §2). TypeError naming
    `name` (and the path inside it) and the type for anything that has no
    canonical form."""
    try:
        return _Encoder(resolver).enc(value)
    except _Unsupported as err:
        raise TypeError(_message(name, err)) from None
    except RecursionError:
        raise TypeError(f"irohds: cannot derive a key from argument '{name}': "
                        "it is nested too deeply") from None
