"""The one blob format of memoized results (codec "pickle5").

A result is pickled with protocol 5; large contiguous buffers (numpy
arrays, bytearrays, PickleBuffer) go out of band so they are written and
read without being copied through the pickle stream, and on read they are
views of the blob (an mmap'd file, or one private copy of an inline blob).

Layout, all integers big-endian (docs/python.md has the same table):

    0   4     magic "IRB1"
    4   u32   n, number of out-of-band buffers
    8   u64   length of the pickle stream
    16  n*u64 length of each buffer
    ..        pickle stream
    ..        buffer i, starting at the next multiple of 64 from the blob
              start (zero padding before it), so arrays are aligned

Every length is checked against the blob size before use; a blob that does
not fit its own header raises CodecError, and the caller recomputes.

decode(buf, trusted=False) is for results from a peer in a namespace
without a secret: the stream goes through _safeload's restricted
unpickler, and anything off its allow-list raises UnsafeResult (counted as
"unsafe_refused"); the caller then computes the value locally.
"""
import os
import pickle
import struct

from . import _log

MAGIC = b"IRB1"
CODEC = "pickle5"
ALIGN = 64
_HEAD = struct.Struct(">4sIQ")
_LEN = struct.Struct(">Q")
_PAD = bytes(ALIGN)


class CodecError(ValueError):
    """A stored blob that cannot be decoded."""


class UnsafeResult(CodecError):
    """An untrusted blob whose pickle would load something off the
    allow-list (a global, a call or a state): refused, never executed."""


def _align(n):
    return (n + ALIGN - 1) & ~(ALIGN - 1)


class Encoded:
    """A pickled value laid out as a blob; write it once, anywhere."""

    __slots__ = ("head", "stream", "buffers", "offsets", "size")

    def __init__(self, value):
        raw = []
        try:
            stream = pickle.dumps(value, protocol=5, buffer_callback=raw.append)
            buffers = [b.raw() for b in raw]
        except BufferError:
            # A non-contiguous out-of-band buffer: keep everything in band.
            stream = pickle.dumps(value, protocol=5)
            buffers = []
        head = _HEAD.pack(MAGIC, len(buffers), len(stream)) + b"".join(
            _LEN.pack(b.nbytes) for b in buffers)
        pos = len(head) + len(stream)
        offsets = []
        for b in buffers:
            pos = _align(pos)
            offsets.append(pos)
            pos += b.nbytes
        self.head = head
        self.stream = stream
        self.buffers = buffers
        self.offsets = offsets
        self.size = pos

    def _pieces(self):
        yield self.head
        yield self.stream
        pos = len(self.head) + len(self.stream)
        for off, b in zip(self.offsets, self.buffers):
            if off > pos:
                yield _PAD[:off - pos]
            yield b
            pos = off + b.nbytes

    def to_bytes(self):
        if not self.buffers:
            return self.head + self.stream
        return b"".join(self._pieces())

    def write_fd(self, fd):
        for piece in self._pieces():
            view = memoryview(piece).cast("B")
            while view:
                n = os.write(fd, view)
                view = view[n:]


def encode(value):
    """Encoded form of value. Raises whatever pickle raises for values it
    cannot pickle (the caller turns that into a local-only result)."""
    return Encoded(value)


def decode(buf, trusted=True):
    """The value stored in blob buf (any buffer; out-of-band buffers are
    views of it, so it must stay alive and should be writable if the
    caller wants writable arrays). Raises CodecError.

    trusted: the blob is ours (the local store, or a namespace with a
    secret), so plain pickle.loads; False for anything else from a peer:
    the restricted unpickler, which raises UnsafeResult (a CodecError) for
    what it refuses."""
    view = memoryview(buf).cast("B")
    size = len(view)
    if size < _HEAD.size:
        raise CodecError("blob too short (%d bytes)" % size)
    magic, n, plen = _HEAD.unpack_from(view, 0)
    if magic != MAGIC:
        raise CodecError("not an irohds blob (magic %r)" % bytes(magic))
    pos = _HEAD.size + n * _LEN.size
    if n > size // 8 or pos > size:
        raise CodecError("blob header claims %d buffers" % n)
    lengths = [_LEN.unpack_from(view, _HEAD.size + i * _LEN.size)[0] for i in range(n)]
    if plen > size - pos:
        raise CodecError("pickle stream overruns blob")
    stream = view[pos:pos + plen]
    pos += plen
    buffers = []
    for length in lengths:
        pos = _align(pos)
        if length > size - pos:
            raise CodecError("buffer overruns blob")
        buffers.append(view[pos:pos + length])
        pos += length
    if pos != size:
        raise CodecError("%d trailing bytes in blob" % (size - pos))
    if not trusted:
        return _decode_untrusted(stream, buffers)
    try:
        return pickle.loads(stream, buffers=buffers)
    except Exception as e:      # any unpickling failure means "recompute"
        raise CodecError("cannot unpickle stored result: %s: %s"
                         % (type(e).__name__, e)) from e


def _decode_untrusted(stream, buffers):
    from . import _safeload     # not imported on the local hit path
    try:
        return _safeload.loads(stream, buffers)
    except UnsafeResult as e:
        _log.count("unsafe_refused")
        # One IrohdsWarning per function comes from the caller (_memo);
        # every refusal is logged here.
        _log.log.info("irohds: %s", e)
        raise
    except Exception as e:      # malformed, not hostile: also "recompute"
        raise CodecError("cannot unpickle result from a peer: %s: %s"
                         % (type(e).__name__, e)) from e
