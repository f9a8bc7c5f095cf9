"""The fast decoders proto/gen.py emits (decode_<name>, used by the local
store tier instead of hand-kept layouts) agree with the generic decoder on
every message of proto/*.def, and refuse the same malformed bytes."""
import random

import pytest

from irohds import _proto


def _value(kind, limit, rnd):
    if kind == "h256":
        return bytes(rnd.randrange(256) for _ in range(32))
    if kind == "str":
        return "".join(rnd.choice("abcé/λ") for _ in range(rnd.randrange(min(limit // 2, 40) + 1)))
    if kind == "bytes":
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(min(limit, 64) + 1)))
    bits = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}[kind]
    return rnd.choice([0, 1, (1 << bits) - 1, rnd.randrange(1 << bits)])


def _plain(d):
    return {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in d.items()}


@pytest.mark.parametrize("name", sorted(_proto.FIELDS))
def test_fast_decoder_matches_generic(name):
    rnd = random.Random(name)
    fast = getattr(_proto, "decode_" + name)
    for _ in range(30):
        fields = {f: _value(k, lim, rnd) for f, k, lim in _proto.FIELDS[name]}
        buf = _proto.encode(name, **fields)
        _, full = _proto.decode(buf, name)
        assert _plain(fast(buf)) == _plain(full) == fields
        for cut in range(len(buf)):
            with pytest.raises(_proto.ProtoError):
                fast(buf[:cut])
        with pytest.raises(_proto.ProtoError):
            fast(buf + b"\0")
        other = bytes([(buf[0] + 1) % 256]) + buf[1:]
        with pytest.raises(_proto.ProtoError):
            fast(other)


def test_bad_strings_refused_by_both():
    head = _proto.encode("manifest", blob=bytes(32), codec="ab")
    at = head.index(b"\x00\x02ab") + 2
    for codec in (b"\xff\xfe", b"a\0"):
        bad = head[:at] + codec + head[at + 2:]
        for decode in (_proto.decode_manifest, lambda r: _proto.decode(r, "manifest")):
            with pytest.raises(_proto.ProtoError):
                decode(bad)
