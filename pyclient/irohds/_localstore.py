"""Read-only tier over the store's LMDB environment (<home>/store).

A fresh process finds results the daemon stored earlier without a round
trip: it opens the environment READ-ONLY with python3-lmdb, looks the key
up in "results" (manifest record, proto/store.def), the content in "blobs"
(blob record: inline data, or a file <home>/blobs/<hh>/<hex>), and checks
the BLAKE3 of the content against the manifest before anything is decoded.
The daemon stays the only writer; the caller tells it about the hit with a
fire-and-forget "touch" so LRU order stays right. Records are decoded by
the codec generated from proto/store.def, and only after the store's
meta "format" says the layout is the one this reader knows.

Anything unexpected (no environment yet, a record that does not decode, a
hash mismatch, a missing file) is reported as MISS or CORRUPT, never
raised: the caller then asks the daemon or recomputes.
"""
import mmap
import os
import stat
import threading
import time

from . import _config
from . import _proto

try:
    import lmdb
except ImportError:         # pragma: no cover - python3-lmdb is a dependency
    lmdb = None

# The layout this reader understands (proto/store-layout.md, meta "format").
# A store of any other format is left alone: every lookup is a MISS and the
# daemon answers instead.
STORE_FORMAT = 2
CHECK_EVERY = 0.05          # seconds between size checks of data.mdb

# Record decoders generated from proto/store.def (proto/gen.py): the same
# checks as _proto.decode, one struct per run of fixed-size fields.
decode_manifest = _proto.decode_manifest
decode_blob = _proto.decode_blob

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
        # Never block on a FIFO or follow a link planted in blobs/.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != expect_size:
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
        self.bad_format = None      # meta "format" of a store we cannot read
        self.fd = -1                # data.mdb, to compare its size with the map
        self.psize = 4096
        self.checked_size = -1      # data.mdb size last found intact
        self.next_check = 0.0       # monotonic time of the next size check
        self.truncated = 0          # times data.mdb was found shorter than its pages
        # FileRef files verified in this process: path -> (size, mtime, inode).
        self._verified_files = {}

    def _open(self):
        if self.dbs is not None:
            return True
        if lmdb is None:
            return False
        with self._lock:
            if self.dbs is not None:
                return True
            now = time.monotonic()
            if now < self._next_try:
                return False
            # The daemon may create the environment later: retry, but not
            # on every call.
            self._next_try = now + 0.5
            try:
                fd = os.open(os.path.join(self.path, "data.mdb"),
                             os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                return False
            try:
                # LMDB reads its two meta pages through the map at open.
                if os.fstat(fd).st_size < 2 * mmap.PAGESIZE:
                    raise OSError("data.mdb shorter than its meta pages")
                env = lmdb.open(self.path, readonly=True, create=False, max_dbs=16,
                                lock=True, subdir=True, readahead=False)
            except (OSError, lmdb.Error):
                os.close(fd)
                return False
            self.fd = fd
            self.env = env
            try:
                self.psize = env.stat()["psize"]
            except lmdb.Error:
                self._close()
                return False
            self.checked_size = -1
            self.next_check = 0.0
            # Before any page is read (opening a named database reads the
            # main tree): the file must hold every page in use.
            if not self._intact():
                return False
            try:
                # No explicit txn: python-lmdb opens the handles in its own
                # transaction and keeps them valid for the environment.
                meta = env.open_db(b"meta", create=False)
                with env.begin(db=meta) as txn:
                    fmt = txn.get(b"format")
                if fmt is None or len(fmt) != 8 or int.from_bytes(fmt, "big") != STORE_FORMAT:
                    self.bad_format = fmt
                    self._close()
                    self._next_try = now + 30.0
                    return False
                self.dbs = (env.open_db(b"results", create=False),
                            env.open_db(b"blobs", create=False))
            except lmdb.Error:
                self._close()
                return False
            return True

    def _intact(self):
        """True when data.mdb holds every page LMDB may read. Reading a page
        past the end of a truncated file through the map is SIGBUS, which
        kills the caller; so the file's size is compared with the pages in
        use before any read, and a short file closes the environment (the
        daemon's store sets it aside; we retry later). Pages in use only
        grow by writes that extend the file first, so an unchanged size
        that was enough stays enough."""
        now = time.monotonic()
        if now < self.next_check:
            return True
        try:
            size = os.fstat(self.fd).st_size
        except OSError:
            size = -1
        if size == self.checked_size:
            # An fstat per hit is a third of a local-store hit: re-check
            # the size at most every CHECK_EVERY seconds.
            self.next_check = now + CHECK_EVERY
            return True
        ok = size >= 2 * self.psize     # the two meta pages
        if ok:
            try:
                ok = size >= (self.env.info()["last_pgno"] + 1) * self.psize
            except lmdb.Error:
                ok = False
        if ok:
            self.checked_size = size
            self.next_check = now + CHECK_EVERY
            return True
        self.truncated += 1
        self._close()
        self._next_try = time.monotonic() + 5.0
        return False

    def _close(self):
        env, self.env, self.dbs = self.env, None, None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if env is not None:
            env.close()

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
        # LMDB handles must never cross a fork: get() hands out a new
        # LocalStore in a child (at-fork hook), so no pid check here.
        if not self._open() or not self._intact():
            return MISS
        try:
            manifest, blob = self._records(key)
        except (lmdb.Error, AttributeError, TypeError):    # closed by another thread
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


_store = None
_store_lock = threading.Lock()


def get():
    """The process's LocalStore for the current home (a new one after fork:
    LMDB handles must never cross a fork)."""
    global _store
    h = _config.home()
    ls = _store
    if ls is None or ls.home != h:
        with _store_lock:
            ls = _store
            if ls is None or ls.home != h:
                ls = _store = LocalStore(h)
    return ls


def _after_fork():
    global _store, _store_lock
    _store = None
    _store_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
