"""Read-only tier over the store's LMDB environment (<home>/store).

A fresh process finds results the daemon stored earlier without a round
trip: it opens the environment READ-ONLY with python3-lmdb, looks the key
up in "results" (manifest record, proto/store.def), the content in "blobs"
(blob record: inline data, or a file <home>/blobs/<hh>/<hex>), and checks
the BLAKE3 of the content against the manifest before anything is decoded.
The daemon stays the only writer; the caller tells it about the hit with a
fire-and-forget "touch" so LRU order stays right.

Anything unexpected (no environment yet, a record that does not decode, a
hash mismatch, a missing file) is reported as MISS or CORRUPT, never
raised: the caller then asks the daemon or recomputes.
"""
import mmap
import os
import struct
import threading
import time

from . import _proto

try:
    import lmdb
except ImportError:         # pragma: no cover - python3-lmdb is a dependency
    lmdb = None

# Hot-path decoders for the two records read on every local-store hit,
# with the same checks as the generated codec (_proto) on the parts used:
# exact id, bounded lengths, no truncation, no trailing bytes. The test
# suite checks them against _proto on the same records.
_M_HEAD = struct.Struct(">B32sQ")           # id, blob, size
_M_TAIL = struct.Struct(">10Q32sI")         # created .. rss_growth, origin, flags
_U16 = struct.Struct(">H")
_B_HEAD = struct.Struct(">BBQI")            # id, kind, size, data length
_STR_LIMITS = (32, 1024, 255)               # codec, fn, ns


def decode_manifest(buf):
    """{"blob", "size", "codec", "expires_us", "flags"} or ProtoError."""
    n = len(buf)
    if n < _M_HEAD.size or buf[0] != _proto.MANIFEST:
        raise _proto.ProtoError("not a manifest record")
    _, blob, size = _M_HEAD.unpack_from(buf, 0)
    pos = _M_HEAD.size
    codec = b""
    for i, limit in enumerate(_STR_LIMITS):
        if pos + 2 > n:
            raise _proto.ProtoError("manifest truncated")
        (length,) = _U16.unpack_from(buf, pos)
        pos += 2
        if length > limit or pos + length > n:
            raise _proto.ProtoError("manifest string too long")
        if i == 0:
            codec = bytes(buf[pos:pos + length])
        pos += length
    if pos + _M_TAIL.size != n:
        raise _proto.ProtoError("manifest has the wrong size")
    tail = _M_TAIL.unpack_from(buf, pos)
    if b"\0" in codec:
        raise _proto.ProtoError("manifest codec has NUL")
    try:
        codec = codec.decode("utf-8")
    except UnicodeDecodeError:
        raise _proto.ProtoError("manifest codec not UTF-8") from None
    return {"blob": blob, "size": size, "codec": codec, "expires_us": tail[2],
            "flags": tail[11]}


def decode_blob(buf):
    """{"kind", "size", "data" (a view of buf)} or ProtoError."""
    n = len(buf)
    if n < _B_HEAD.size or buf[0] != _proto.BLOB:
        raise _proto.ProtoError("not a blob record")
    _, kind, size, length = _B_HEAD.unpack_from(buf, 0)
    if _B_HEAD.size + length != n or length > 1073741824:
        raise _proto.ProtoError("blob record has the wrong size")
    return {"kind": kind, "size": size, "data": memoryview(buf)[_B_HEAD.size:]}


MISS = "miss"
CORRUPT = "corrupt"
FLAG_FILEREF = 1


def blake3(data):
    # Imported on first use (the native binding is only needed once a
    # store exists), then this name is rebound to the native function
    # itself so later calls skip the import and this frame.
    global blake3
    from ._native import blake3 as native
    blake3 = native
    return native(data)


class Found:
    """A verified stored result: manifest fields and the content buffer
    (writable: a private copy of an inline blob, or a copy-on-write mmap
    of a blob file) or, for FileRef results, the file path."""

    __slots__ = ("manifest", "content", "path")

    def __init__(self, manifest, content, path):
        self.manifest = manifest
        self.content = content
        self.path = path


def blob_path(home, blob_hash):
    hexd = blob_hash.hex()
    return os.path.join(home, "blobs", hexd[:2], hexd)


def read_file_verified(path, expect_hash, expect_size, want_content=True):
    """mmap a blob file copy-on-write and check its hash; returns the mmap
    (or True when want_content is False), or None when it does not match."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size != expect_size:
            return None
        if expect_size == 0:
            ok = blake3(b"") == expect_hash
            return (bytearray() if want_content else True) if ok else None
        m = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if blake3(m) != expect_hash:
        m.close()
        return None
    if not want_content:
        m.close()
        return True
    return m


class LocalStore:
    """Per-process read-only handle on <home>/store."""

    def __init__(self, home):
        self.home = home
        self.path = os.path.join(home, "store")
        self.pid = os.getpid()
        self.env = None
        self.dbs = None
        self._lock = threading.Lock()
        self._next_try = 0.0
        # FileRef files verified in this process: path -> (size, mtime, inode).
        self._verified_files = {}

    def _open(self):
        if self.env is not None:
            return True
        if lmdb is None:
            return False
        with self._lock:
            if self.env is not None:
                return True
            now = time.monotonic()
            if now < self._next_try:
                return False
            # The daemon may create the environment later: retry, but not
            # on every call.
            self._next_try = now + 0.5
            if not os.path.exists(os.path.join(self.path, "data.mdb")):
                return False
            try:
                env = lmdb.open(self.path, readonly=True, create=False, max_dbs=16,
                                lock=True, subdir=True, readahead=False)
                # No explicit txn: python-lmdb opens the handles in its own
                # transaction and keeps them valid for the environment.
                dbs = (env.open_db(b"results", create=False),
                       env.open_db(b"blobs", create=False))
            except lmdb.Error:
                return False
            self.dbs = dbs
            self.env = env
            return True

    def _records(self, key):
        """(manifest bytes, blob bytes) copied out of one read txn."""
        env = self.env
        try:
            txn = env.begin(buffers=True)
        except lmdb.MapResizedError:
            env.set_mapsize(0)
            txn = env.begin(buffers=True)
        try:
            m = txn.get(key, db=self.dbs[0])
            if m is None:
                return None, None
            try:
                manifest = decode_manifest(m)
            except _proto.ProtoError:
                return CORRUPT, None
            b = txn.get(manifest["blob"], db=self.dbs[1])
            if b is None:
                return manifest, None
            try:
                blob = decode_blob(b)
            except _proto.ProtoError:
                return manifest, CORRUPT
            # Copy inline data out of the map: the txn's pages may be reused
            # as soon as it ends. bytearray keeps arrays writable.
            if blob["kind"] == 0:
                blob["data"] = bytearray(blob["data"])
            else:
                blob["data"] = None
            return manifest, blob
        finally:
            txn.abort()

    def lookup(self, key, now_us=None):
        """Found, MISS, or CORRUPT (stored but unverifiable)."""
        # LMDB handles must never cross a fork: the owner (_memo._Process)
        # is rebuilt in a child by an at-fork hook, so no pid check here.
        if not self._open():
            return MISS
        try:
            manifest, blob = self._records(key)
        except lmdb.Error:
            return MISS
        if manifest is None:
            return MISS
        if manifest is CORRUPT or blob is None or blob is CORRUPT:
            return CORRUPT
        expires = manifest["expires_us"]
        if expires and expires < (now_us or int(time.time() * 1e6)):
            return MISS
        want = manifest["blob"]
        if blob["size"] != manifest["size"]:
            return CORRUPT
        if blob["kind"] == 0:
            data = blob["data"]
            if len(data) != manifest["size"] or blake3(data) != want:
                return CORRUPT
            return Found(manifest, data, None)
        if blob["kind"] != 1:
            return CORRUPT
        path = blob_path(self.home, want)
        if manifest["flags"] & FLAG_FILEREF:
            if not self.check_file(path, want, manifest["size"]):
                return CORRUPT
            return Found(manifest, None, path)
        m = read_file_verified(path, want, manifest["size"])
        if m is None:
            return CORRUPT
        return Found(manifest, m, path)

    def check_file(self, path, want, size):
        """Verify a stored file once per process (and again if it changed)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        if self._verified_files.get(path) == sig:
            return True
        if read_file_verified(path, want, size, want_content=False) is not True:
            return False
        self._verified_files[path] = sig
        return True
