"""Call keys (DESIGN §4 -> proto/keys.md §3): the framed encoding of a
call whose BLAKE3-256 is the result key, and its fast path. Values are
encoded by _encoding, function identity comes from _identity; this module
imports both and neither imports it. Golden vectors in
proto/vectors/keys.json pin every byte, so any change here that alters an
encoding fails the tests loudly and must bump ENCODING_VERSION.

A key is BLAKE3-256 of a framed encoding of (magic + version, namespace,
function identity, user version, bound arguments).
"""
import inspect

from . import _identity, _native
from ._encoding import (CALL_MAGIC, ENCODING_VERSION, INLINE_LIMIT, File,  # noqa: F401
                        _Encoder, _FLOAT, _NAN, _Unsupported, _enc_str,
                        _message, _u64)
from . import _encoding

__all__ = ["ENCODING_VERSION", "INLINE_LIMIT", "File", "encode_value",
           "call_encoding", "call_key", "call_keyer", "function_identity",
           "qualified_name", "reference_identity", "ignore_identity",
           "task_encoding", "task_key"]

_REF = _identity.encode_ref


def encode_value(value, name="arg") -> bytes:
    """Canonical bytes of one value (proto/keys.md §2); functions and
    classes are named by their identity. TypeError naming `name` for
    anything that has no canonical form."""
    return _encoding.encode_value(value, name, _REF)


def reference_identity(obj) -> bytes:
    """32-byte identity of a function or class passed as a value: its full
    identity for user code, else BLAKE3 of its name and package version."""
    return _identity._object_identity(obj)


def function_identity(fn) -> bytes:
    """32-byte digest of fn's code and of the user code, constants, closure
    values and defaults it depends on (proto/keys.md §4); cached per
    function object."""
    return _identity.function_identity(fn)


def qualified_name(fn) -> str:
    """'pkg.mod.f' / 'pkg.mod.Class.method'."""
    return _identity.qualified_name(fn)


# --- calls ----------------------------------------------------------------------

def _bound_arguments(identity, args, kwargs):
    sig = _identity.signature_for(identity)
    if sig is None:
        # Not a function whose identity we derived: the raw call shape.
        return [("*args", tuple(args)), ("**kwargs", dict(kwargs))]
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"irohds: the arguments do not match the function's "
                        f"signature: {exc}") from None
    bound.apply_defaults()
    return list(bound.arguments.items())


IGNORE_MAGIC = b"IRHG"


def ignore_identity(identity: bytes, ignore) -> bytes:
    """The identity a function has when the parameters in `ignore` are left
    out of its keys (proto/keys.md §3.1): BLAKE3("IRHG" ‖ identity ‖
    E(sorted names as a tuple)); the identity itself when ignore is empty,
    so functions without ignore= keep their keys."""
    names = tuple(sorted(set(ignore)))
    if not names:
        return bytes(identity)
    return _native.blake3(IGNORE_MAGIC + bytes(identity) + encode_value(names, "ignore"))


def call_encoding(identity: bytes, args: tuple, kwargs: dict, ns: str, version,
                  ignore=()) -> bytes:
    """The framed call encoding (proto/keys.md §3) whose BLAKE3 is the key.
    Parameters named in `ignore` are bound, then left out, and the
    identity becomes ignore_identity(identity, ignore)."""
    if not isinstance(identity, (bytes, bytearray)) or len(identity) != 32:
        raise TypeError("irohds: function identity must be 32 bytes")
    if not isinstance(ns, str):
        raise TypeError(f"irohds: namespace must be a str, not {type(ns).__name__}")
    entries = []
    enc = _Encoder(_REF)
    for pname, value in _bound_arguments(bytes(identity), args, kwargs):
        if pname in ignore:
            continue
        try:
            entries.append((_enc_str(pname), enc.enc(value)))
        except _Unsupported as err:
            raise TypeError(_message(pname, err)) from None
        except RecursionError:
            raise TypeError(f"irohds: cannot derive a key from argument "
                            f"'{pname}': it is nested too deeply") from None
    entries.sort()
    return b"".join([CALL_MAGIC, bytes([ENCODING_VERSION]), _enc_str(ns),
                     ignore_identity(identity, ignore), encode_value(version, "version"),
                     b"d", _u64(len(entries))] + [k + v for k, v in entries])


def call_key(identity: bytes, args: tuple, kwargs: dict, ns: str, version,
             ignore=()) -> bytes:
    """32-byte key of a call: BLAKE3-256 of call_encoding(...)."""
    return _native.blake3(call_encoding(identity, args, kwargs, ns, version, ignore))


# --- run-once task keys (proto/keys.md §6) --------------------------------------

TASK_MAGIC = b"IRHT"


def task_encoding(ns: str, key, version=0) -> bytes:
    """The framed encoding of a run-once task key (irohds.each, run_once):
    "IRHT" ‖ u8(ENCODING_VERSION) ‖ STR(ns) ‖ E(version) ‖ E(key), where
    key is a str or bytes (anything else is a TypeError)."""
    if not isinstance(ns, str):
        raise TypeError(f"irohds: namespace must be a str, not {type(ns).__name__}")
    if type(key) is not str and type(key) is not bytes:
        raise TypeError(f"irohds: a run-once key must be a str or bytes, not "
                        f"{type(key).__name__} ({key!r:.60})")
    return b"".join([TASK_MAGIC, bytes([ENCODING_VERSION]), _enc_str(ns),
                     encode_value(version, "version"), encode_value(key, "key")])


def task_key(ns: str, key, version=0) -> bytes:
    """32-byte store key of a run-once task: BLAKE3-256 of task_encoding."""
    return _native.blake3(task_encoding(ns, key, version))


# --- the fast path: same bytes, less work ---------------------------------------
#
# A memoized function's key is derived on every call that misses the
# in-process tier, so it is on the local-store hit path. call_keyer()
# precomputes, once per (function, ns, version), everything that does not
# depend on the arguments (the frame up to the entry count, the encoded
# parameter names and their sorted order, atomic defaults), and encodes
# the common argument types with small direct functions. Anything it does
# not handle (keyword arguments, other types, a call that does not match
# the signature) goes to call_key, so the result is always call_key's;
# tests/python/test_keys_fast.py checks this on thousands of random calls.

class _Slow(Exception):
    """A value the fast encoders do not handle: use the generic path."""


def _f_none(x):
    return b"N"


def _f_bool(x):
    return b"T" if x else b"F"


def _f_int(x):
    n = ((x if x >= 0 else ~x).bit_length() + 8) >> 3
    return b"i" + n.to_bytes(8, "big") + x.to_bytes(n, "big", signed=True)


def _f_float(x):
    return b"f" + (_NAN if x != x else _FLOAT.pack(x))


def _f_bytes(x):
    n = len(x)
    if n > INLINE_LIMIT:
        raise _Slow()
    return b"b\x00" + n.to_bytes(8, "big") + x


def _f_tuple(x):
    # Elements of fast types only: a container inside goes the generic
    # way, which also guards against cycles.
    return b"t" + len(x).to_bytes(8, "big") + b"".join([_FAST_LEAF[type(v)](v) for v in x])


def _f_list(x):
    return b"l" + len(x).to_bytes(8, "big") + b"".join([_FAST_LEAF[type(v)](v) for v in x])


def _f_dict(x):
    leaf = _FAST_LEAF
    entries = sorted([(leaf[type(k)](k), leaf[type(v)](v)) for k, v in dict.items(x)])
    return b"d" + len(entries).to_bytes(8, "big") + b"".join([k + v for k, v in entries])


# Exact types only (a subclass encodes differently: tag 'S').
_FAST_LEAF = {type(None): _f_none, bool: _f_bool, int: _f_int, float: _f_float,
              str: _enc_str, bytes: _f_bytes}
_FAST = dict(_FAST_LEAF)
_FAST.update({tuple: _f_tuple, list: _f_list, dict: _f_dict})


def _fast_value(x):
    """Canonical bytes of x via the fast encoders, else the generic one
    (which raises _Unsupported for what has no encoding)."""
    f = _FAST.get(type(x))
    if f is not None:
        try:
            return f(x)
        except (KeyError, _Slow):
            pass
    return _Encoder(_REF).enc(x)


def _fast_plan(sig):
    """What a positional-only call needs from the signature, or None.
    Returns (params, npos, min_args, var_pos): params is the list of
    (name, kind, default) in signature order."""
    P = inspect.Parameter
    params = []
    npos = 0
    min_args = None
    var_pos = None
    for i, p in enumerate(sig.parameters.values()):
        kind = p.kind
        if kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD):
            if var_pos is not None or npos != i:
                return None
            npos += 1
            if p.default is P.empty:
                if min_args is not None:
                    return None     # cannot happen in a valid signature
            elif min_args is None:
                min_args = i
        elif kind == P.VAR_POSITIONAL:
            var_pos = i
        elif kind == P.KEYWORD_ONLY:
            if p.default is P.empty:
                return None         # a positional call cannot bind it
        params.append((p.name, kind, p.default))
    if min_args is None:
        min_args = npos
    return params, npos, min_args, var_pos


def call_keyer(identity: bytes, ns: str, version, ignore=()):
    """A function (args, kwargs) -> key that always equals
    call_key(identity, args, kwargs, ns, version, ignore); fast for
    positional calls of plain values on a function whose identity this
    process derived. Raises what call_key raises."""
    if not isinstance(identity, (bytes, bytearray)) or len(identity) != 32:
        raise TypeError("irohds: function identity must be 32 bytes")
    if not isinstance(ns, str):
        raise TypeError(f"irohds: namespace must be a str, not {type(ns).__name__}")
    identity = bytes(identity)
    blake3 = _native.blake3

    ignore = frozenset(ignore)

    def generic(args, kwargs):
        return blake3(call_encoding(identity, args, kwargs, ns, version, ignore))

    sig = _identity.signature_for(identity)
    plan = _fast_plan(sig) if sig is not None and not ignore else None
    if plan is None or type(version) not in _FAST_LEAF:
        return generic
    params, npos, min_args, var_pos = plan
    P = inspect.Parameter
    names = [_enc_str(name) for name, _, _ in params]
    order = sorted(range(len(params)), key=names.__getitem__)
    prefix = b"".join([CALL_MAGIC, bytes([ENCODING_VERSION]), _enc_str(ns), identity,
                       _FAST_LEAF[type(version)](version), b"d", _u64(len(params))])
    # Defaults of immutable atomic types are encoded now; others (a list
    # default may be mutated between calls) at every call, as bind would.
    defaults = []
    for name, kind, default in params:
        if kind == P.VAR_POSITIONAL:
            defaults.append(None)
        elif kind == P.VAR_KEYWORD:
            defaults.append(b"d" + _u64(0))
        elif type(default) in _FAST_LEAF:
            defaults.append(_FAST_LEAF[type(default)](default))
        else:
            defaults.append(default)
    encoded_default = [isinstance(d, bytes) for d in defaults]
    max_args = npos if var_pos is None else None
    fast = _FAST
    value = _fast_value
    join = b"".join

    def keyer(args, kwargs):
        n = len(args)
        if kwargs or n < min_args or (max_args is not None and n > max_args):
            return generic(args, kwargs)
        try:
            vals = []
            for a in (args if n <= npos else args[:npos]):
                f = fast.get(type(a))
                vals.append(f(a) if f is not None else value(a))
            for i in range(len(vals), len(params)):
                if i == var_pos:
                    vals.append(value(tuple(args[npos:])))
                elif encoded_default[i]:
                    vals.append(defaults[i])
                else:
                    vals.append(value(defaults[i]))
        except (KeyError, _Slow, _Unsupported, RecursionError):
            return generic(args, kwargs)
        pieces = [prefix]
        for i in order:
            pieces.append(names[i])
            pieces.append(vals[i])
        return blake3(join(pieces))

    return keyer
