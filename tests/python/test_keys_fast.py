"""The key fast path (irohds._keys.call_keyer) against the generic encoder
(call_key): thousands of random values and calls over many signature
shapes must give bit-identical keys, and every call the fast path does
not take (keywords, odd types, wrong arity) must still behave exactly as
call_key, errors included."""
import collections
import enum
import math
import random

import pytest

from irohds import _keys


def leaf(rng):
    c = rng.randrange(12)
    if c == 0:
        return None
    if c == 1:
        return rng.random() < 0.5
    if c == 2:
        return rng.randrange(-300, 300)
    if c == 3:
        return rng.getrandbits(rng.choice((7, 8, 63, 64, 65, 200))) * rng.choice((1, -1))
    if c == 4:
        return rng.choice((0.0, -0.0, math.inf, -math.inf, math.nan, 1e-310,
                           rng.uniform(-1e9, 1e9)))
    if c == 5:
        return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(128, 0x2FFF),
                                       0xD800, 0x1F600)))
                       for _ in range(rng.randrange(12)))
    if c == 6:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(40)))
    if c == 7:
        return rng.choice((b"", b"x" * (_keys.INLINE_LIMIT + 1), b"y" * _keys.INLINE_LIMIT))
    if c == 8:
        return bytearray(b"ba")          # not a fast type: generic
    if c == 9:
        return Color.RED                 # not a fast type: generic
    if c == 10:
        return MyInt(rng.randrange(5))   # builtin subclass: tag 'S'
    return str(rng.randrange(1000))


class Color(enum.Enum):
    RED = 1


class MyInt(int):
    pass


def value(rng, depth=0):
    c = rng.randrange(10)
    if depth >= 2 or c < 5:
        return leaf(rng)
    n = rng.randrange(5)
    if c == 5:
        return tuple(value(rng, depth + 1) for _ in range(n))
    if c == 6:
        return [value(rng, depth + 1) for _ in range(n)]
    if c == 7:
        d = {}
        for _ in range(n):
            k = leaf(rng)
            try:
                d[k] = value(rng, depth + 1)
            except TypeError:           # unhashable key
                pass
        return d
    if c == 8:
        return collections.OrderedDict(a=leaf(rng))
    return {1, rng.randrange(5)}


# Signature shapes: defaults, *args, keyword-only, **kwargs, positional-only.
def f0():
    return 0


def f1(a):
    return a


def f2(i, tag="x"):
    return i


def f3(a, b=None, c=1.5, d=(1, "t"), e=[], f=-0.0):  # noqa: B006
    return a


def f4(a, /, b, *rest, k=3, **kw):
    return a


def f5(*args):
    return args


def f6(x, *, y=b"y", z=None):
    return x


def f7(x, *, need):
    return x


def f8(zz, a, bb, ccc="s", d=True):
    return zz


FUNCS = [f0, f1, f2, f3, f4, f5, f6, f7, f8]


def outcome(fn, *a, **kw):
    try:
        return ("ok", fn(*a, **kw))
    except TypeError as e:
        return ("TypeError", str(e))


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_random_calls_match_generic(fn):
    rng = random.Random(fn.__name__)
    ident = _keys.function_identity(fn)
    for ns, version in (("", 0), ("team/ns", "v2"), ("é", 1.5), ("", None), ("", b"v")):
        keyer = _keys.call_keyer(ident, ns, version)
        for _ in range(300):
            args = tuple(value(rng) for _ in range(rng.randrange(7)))
            kwargs = {}
            if rng.random() < 0.1:
                kwargs = {rng.choice(("a", "b", "k", "y", "q")): value(rng)}
            want = outcome(_keys.call_key, ident, args, kwargs, ns, version)
            got = outcome(keyer, args, kwargs)
            assert got == want, (fn.__name__, args, kwargs)


def test_fast_path_is_taken_and_encoding_identical():
    # The encodings themselves, value by value, for the fast types.
    rng = random.Random(7)
    for _ in range(5000):
        v = value(rng)
        f = _keys._FAST.get(type(v))
        want = _keys.encode_value(v)
        assert _keys._fast_value(v) == want, v
        if f is not None:
            try:
                got = f(v)
            except (KeyError, _keys._Slow):
                continue
            assert got == want, v


def test_mutable_default_is_read_at_call_time():
    def g(a, acc=[]):   # noqa: B006
        return a
    ident = _keys.function_identity(g)
    keyer = _keys.call_keyer(ident, "", 0)
    k1 = keyer((1,), {})
    assert k1 == _keys.call_key(ident, (1,), {}, "", 0)
    g.__defaults__[0].append(5)     # the identity is cached; bind sees the change
    assert keyer((1,), {}) == _keys.call_key(ident, (1,), {}, "", 0) != k1


def test_unknown_signature_and_non_atomic_version():
    unknown = bytes(range(32))       # no signature recorded: raw call shape
    for version in (0, (1, 2), {"a": 1}):
        keyer = _keys.call_keyer(unknown, "", version)
        assert keyer((1, "a"), {"k": 2}) == _keys.call_key(unknown, (1, "a"), {"k": 2}, "", version)
    ident = _keys.function_identity(f2)
    keyer = _keys.call_keyer(ident, "", (1, [2]))
    assert keyer((3,), {}) == _keys.call_key(ident, (3,), {}, "", (1, [2]))


def test_errors_match():
    ident = _keys.function_identity(f1)
    keyer = _keys.call_keyer(ident, "", 0)
    with pytest.raises(TypeError, match="argument 'a'.*object"):
        keyer((object(),), {})
    with pytest.raises(TypeError, match="signature"):
        keyer((1, 2), {})
    with pytest.raises(TypeError, match="signature"):
        keyer((), {})
    cyc = []
    cyc.append(cyc)
    with pytest.raises(TypeError, match="cycle"):
        keyer((cyc,), {})
    with pytest.raises(TypeError, match="32 bytes"):
        _keys.call_keyer(b"short", "", 0)
    with pytest.raises(TypeError, match="namespace"):
        _keys.call_keyer(ident, 5, 0)
