"""@irohds.memo and @irohds.mem: the tiers of a memoized call.

    1. in-process (_memcache): bounded by bytes, LRU;
    2. local store read directly from LMDB (_localstore), verified, then a
       fire-and-forget "touch" so the daemon keeps LRU order;
    3. the daemon: claim the key (run-once between local processes), or
       wait for whoever holds it, or get what is already stored.

On a miss the function runs here, is measured (wall, CPU, peak RSS growth,
result size), its result serialized (_codec) and put with its cost; the
put releases the claim. When the daemon cannot be reached, the value is
computed locally with one IrohdsWarning per process: a broken daemon never
breaks the program. The function's own exceptions propagate unchanged and
are never cached.
"""
import contextvars
import functools
import itertools
import os
import resource
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings

from . import _codec
from . import _config
from . import _localstore
from . import _proto
from . import _transport
from ._memcache import CACHE

# Claim lease; renewed every third of it while the function runs.
# IROHDS_LEASE_MS overrides (tests use short leases to prove renewal).
LEASE_MS = int(os.environ.get("IROHDS_LEASE_MS") or 30000)
WAIT_MS = 30000
MAX_ROUNDS = 8
FLAG_FILEREF = _localstore.FLAG_FILEREF   # manifest flag: the result is a file
ZERO32 = bytes(32)
_TOUCH_ID = bytes([_proto.TOUCH])       # a touch body is this + the key


class IrohdsWarning(UserWarning):
    """irohds degraded (no daemon, unstorable result, short function):
    the program keeps running on local computation."""


_warned = set()
_warn_lock = threading.Lock()


_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_once(tag, message):
    with _warn_lock:
        if tag in _warned:
            return
        _warned.add(tag)
    # Attribute the warning to the caller's code, outside this package.
    level, f = 2, sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        level += 1
        f = f.f_back
    warnings.warn(message, IrohdsWarning, stacklevel=level)


# ---------------------------------------------------------------- FileRef

class FileRef:
    """A result that is a file. Inside a memoized call, write the file at
    irohds.resolve(name) and return FileRef(that path); the file is
    ingested into the store and every later call gets a FileRef whose
    .path is the stored, read-only file."""

    __slots__ = ("path",)

    def __init__(self, path):
        path = os.fspath(path)
        scratch = _scratch.get()
        if scratch is not None and scratch.path and not os.path.isabs(path):
            path = os.path.join(scratch.path, path)
        self.path = os.path.abspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return "irohds.FileRef(%r)" % self.path

    def __eq__(self, other):
        return isinstance(other, FileRef) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def read_bytes(self):
        with open(self.path, "rb") as f:
            return f.read()


class _Scratch:
    """The running call's scratch directory, made on first resolve()."""

    __slots__ = ("path",)

    def __init__(self):
        self.path = None

    def get(self):
        if self.path is None:
            self.path = _new_scratch()
        return self.path

    def remove(self):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


_scratch = contextvars.ContextVar("irohds_scratch", default=None)


def resolve(name):
    """A scratch path for `name` private to the running memoized call."""
    scratch = _scratch.get()
    if scratch is None:
        raise RuntimeError("irohds.resolve(%r) must be called inside an "
                           "@irohds.memo function" % (name,))
    name = os.fspath(name)
    if os.path.isabs(name) or ".." in name.split(os.sep):
        raise ValueError("irohds.resolve: %r must be a relative name" % (name,))
    path = os.path.join(scratch.get(), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


# ---------------------------------------------------------------- process state

class _Process:
    """Things that must be new after a fork: holder id, renewer, locks."""

    def __init__(self):
        self.pid = os.getpid()
        self.holder = "%d@%s/%s" % (self.pid, socket.gethostname()[:64], uuid.uuid4().hex)
        self.lock = threading.Lock()
        self.inflight = {}          # key -> Lock: one computation per key here
        self.renew = {}             # key -> last renewal (monotonic)
        self.renew_thread = None
        self.seq = itertools.count()
        self.local = None           # _localstore.LocalStore
        self.down_until = 0.0
        self.touches = set()
        self.touch_thread = None
        self.touch_event = None

    def key_lock(self, key):
        with self.lock:
            lk = self.inflight.get(key)
            if lk is None:
                lk = self.inflight[key] = threading.Lock()
            return lk

    def key_unlock(self, key, lk):
        # Forget the lock once free, so the map does not grow with every
        # key ever computed; a thread still queued on it re-checks the
        # in-process tier and the store after acquiring it.
        with self.lock:
            if self.inflight.get(key) is lk and not lk.locked():
                del self.inflight[key]

    def localstore(self):
        h = _config.home()
        ls = self.local
        if ls is None or ls.home != h:
            ls = self.local = _localstore.LocalStore(h)
        return ls

    # Touches ("this key was just read from LMDB") are handed to one
    # background thread: a zmq send costs tens of microseconds, too much
    # for the local-store hit path, and LRU order does not need it at once.
    def touch(self, key):
        with self.lock:
            first = not self.touches
            self.touches.add(key)
            if self.touch_thread is None:
                self.touch_event = threading.Event()
                t = threading.Thread(target=self._touch_loop, name="irohds-touch",
                                     daemon=True)
                self.touch_thread = t
                t.start()
        if first:                       # wake the sender once per batch
            self.touch_event.set()

    def _touch_loop(self):
        while True:
            self.touch_event.wait()
            time.sleep(0.05)            # coalesce a burst of hits
            with self.lock:
                self.touch_event.clear()
                keys, self.touches = self.touches, set()
            if time.monotonic() < self.down_until:
                continue
            _transport.get_transport().post_many(
                "store", [_TOUCH_ID + key for key in keys])

    # Lease renewal for long computations: one thread per process
    # re-claims (same holder) every key it computes, every lease/3.
    def renew_add(self, key):
        with self.lock:
            self.renew[key] = time.monotonic()
            if self.renew_thread is None:
                t = threading.Thread(target=self._renew_loop, name="irohds-renew",
                                     daemon=True)
                self.renew_thread = t
                t.start()

    def renew_remove(self, key):
        with self.lock:
            self.renew.pop(key, None)

    def _renew_loop(self):
        every = LEASE_MS / 3000.0
        while True:
            time.sleep(min(1.0, every / 2))
            if os.getpid() != self.pid:
                return
            now = time.monotonic()
            with self.lock:
                due = [k for k, t in self.renew.items() if now - t >= every]
            for key in due:
                try:
                    _transport.get_transport().call("store", "claim", key=key,
                                                    holder=self.holder, lease_ms=LEASE_MS)
                except Exception:   # the put path reports problems; keep renewing
                    pass
                with self.lock:
                    if key in self.renew:
                        self.renew[key] = now


_proc = _Process()


def process():
    # Rebuilt after fork by the at-fork hook below.
    return _proc


def _after_fork():
    global _proc
    _proc = _Process()


os.register_at_fork(after_in_child=_after_fork)


class _DaemonDown(Exception):
    pass


class _FastMiss(Exception):
    def __init__(self, key):
        self.key = key


def _call(service, name, timeout=None, **fields):
    """Transport call that honours a short back-off after the daemon was
    found unreachable (so a dead daemon costs one timeout, not one per
    call); raises _DaemonDown after warning once."""
    p = process()
    if time.monotonic() < p.down_until:
        raise _DaemonDown()
    try:
        return _transport.get_transport().call(service, name, timeout=timeout, **fields)
    except _transport.Unavailable as e:
        p.down_until = time.monotonic() + 5.0
        warn_once("daemon", "irohds: daemon unavailable (%s); computing locally "
                            "without the shared store" % e)
        raise _DaemonDown() from None
    except _transport.ServiceError as e:
        warn_once("svc:" + e.code, "irohds: store error %s (%s); computing locally"
                  % (e.code, e.text))
        raise _DaemonDown() from None


# ---------------------------------------------------------------- keys

_keys = None


def keys():
    global _keys
    if _keys is None:
        from . import _keys as k
        _keys = k
    return _keys


# Types whose equality implies an identical key encoding when the exact
# type matches too (floats: except 0.0 == -0.0, excluded below).
_ATOMIC = frozenset({int, str, bytes, bool, float, type(None)})


# ---------------------------------------------------------------- the decorator

class Memo:
    """State of one decorated function."""

    def __init__(self, fn, ns="", version=0, cost=None, min_seconds=15.0,
                 local_only=False, refresh=False, mem_only=False):
        self.fn = fn
        self.ns = ns or ""
        self.version = version
        self.cost = cost
        self.min_seconds = min_seconds
        self.local_only = local_only
        self.refresh = refresh
        self.mem_only = mem_only
        self.fast = None            # set by make()
        self._identity = None
        self._name = None
        self._keyer = None

    @property
    def name(self):
        if self._name is None:
            self._name = keys().qualified_name(self.fn)
        return self._name

    def identity(self):
        if self._identity is None:
            self._identity = keys().function_identity(self.fn)
        return self._identity

    def key(self, args, kwargs):
        # The keyer (built once) equals call_key, with the per-function
        # framing precomputed and a fast path for plain positional calls.
        k = self._keyer
        if k is None:
            k = self._keyer = keys().call_keyer(self.identity(), self.ns, self.version)
        return k(args, kwargs)

    # ---- the slow path (everything but a fast-key hit) ----

    def call(self, args, kwargs, key=None):
        if key is None:
            key = self.key(args, kwargs)      # TypeError on unsupported args
        if not self.refresh:
            e = CACHE.get(key)
            if e is not None:
                return e.value
            if not self.mem_only:
                found = self._read_local(key)
                if found is not None:
                    return self._remember(key, found[0], found[1])
        if self.mem_only:
            value = self.fn(*args, **kwargs)
            return self._remember(key, value, _size_of(value))
        p = process()
        lk = p.key_lock(key)
        try:
            with lk:
                if not self.refresh:
                    e = CACHE.get(key)      # another thread finished it
                    if e is not None:
                        return e.value
                value, size = self._shared(key, args, kwargs)
                # Inside the lock: a thread queued on it finds the value.
                return self._remember(key, value, size)
        finally:
            p.key_unlock(key, lk)

    def _remember(self, key, value, size):
        CACHE.put(key, value, size, self.name)
        return value

    def fast_lookup(self, *args):
        """The live in-process Entry for positional atomic args, for the
        fast map (an lru_cache(typed=True) in make()); raises _FastMiss
        (carrying the key when it was derived) otherwise, and exceptions
        are never cached by lru_cache."""
        types = tuple(map(type, args))
        # Only atomic values, and no zero float: for these, equal values of
        # the exact same types (lru_cache typed=True checks top-level types)
        # always have the same key, so the map never conflates 1, 1.0,
        # True, 0.0 and -0.0, or containers that compare equal.
        if not _ATOMIC.issuperset(types) or (float in types and 0.0 in args):
            raise _FastMiss(None)
        key = self.key(args, {})
        e = CACHE.get(key)
        if e is None:
            raise _FastMiss(key)
        return e

    def fast_clear(self):
        self.fast.cache_clear()

    # ---- tier 2: LMDB, read-only ----

    def _read_local(self, key):
        """(value, size) from the local store, or None. A stored result
        that fails verification or decoding is reported to the store (its
        own get verifies and removes it) and then recomputed."""
        res = process().localstore().lookup(key)
        if res is _localstore.MISS:
            return None
        if res is not _localstore.CORRUPT:
            try:
                value = _decode_found(res)
            except _codec.CodecError:
                res = _localstore.CORRUPT
            else:
                process().touch(key)
                return value, res.manifest["size"]
        self._report_corrupt(key)
        return None

    def _report_corrupt(self, key):
        try:
            # want_path=0: the store reads and verifies the content itself,
            # and removes (and counts) a corrupt entry so the put that
            # follows replaces it instead of deduplicating against it.
            _call("store", "get", key=key, want_path=0, timeout=max(
                _config.get().timeout, 30.0))
        except _DaemonDown:
            pass

    # ---- tier 3: the daemon, claims, compute ----

    def _shared(self, key, args, kwargs):
        if self.refresh:
            return self._compute_and_put(key, args, kwargs, claimed=False)
        p = process()
        for _ in range(MAX_ROUNDS):
            try:
                frames = _call("store", "claim", key=key, holder=p.holder, lease_ms=LEASE_MS)
                _, r = _decode(frames, "claim_reply")
            except (_DaemonDown, _proto.ProtoError):
                return self._compute_local(args, kwargs)
            if r["status"] == 0:
                return self._compute_and_put(key, args, kwargs, claimed=True)
            if r["status"] == 1:
                left_ms = (r["expires_us"] - int(time.time() * 1e6)) // 1000 + 500
                wait_ms = max(100, min(WAIT_MS, left_ms))
                timeout = wait_ms / 1000.0 + _config.get().timeout
                try:
                    _call("store", "wait", timeout=timeout, key=key, timeout_ms=wait_ms)
                except _DaemonDown:
                    return self._compute_local(args, kwargs)
            got = self._fetch(key)
            if got is not None:
                return got
        # The store keeps saying "done" but cannot produce a good copy:
        # recompute and overwrite.
        return self._compute_and_put(key, args, kwargs, claimed=False)

    def _fetch(self, key):
        """(value, size) already stored, via LMDB or a daemon get."""
        got = self._read_local(key)
        if got is not None:
            return got
        try:
            frames = _call("store", "get", key=key, want_path=1)
        except _DaemonDown:
            return None
        try:
            name, msg = _proto.decode(frames[0], ("hit", "miss"))
            if name == "miss":
                return None
            _, manifest = _proto.decode(frames[1], "manifest")
            if msg["path"]:
                if manifest["flags"] & FLAG_FILEREF:
                    return FileRef(msg["path"]), manifest["size"]
                m = _localstore.read_file_verified(msg["path"], manifest["blob"],
                                                   manifest["size"])
                if m is None:
                    return None
                return _codec.decode(m), manifest["size"]
            content = bytearray(frames[2])
            if _localstore.blake3(content) != manifest["blob"]:
                return None
            return _codec.decode(content), manifest["size"]
        except (_codec.CodecError, IndexError, ValueError):
            return None

    def _compute_local(self, args, kwargs):
        scratch = _Scratch()
        try:
            value, _ = self._run(args, kwargs, scratch)
        except BaseException:
            scratch.remove()
            raise
        if isinstance(value, FileRef):
            return value, 0         # keep the scratch file: it is the result
        scratch.remove()
        return value, _size_of(value)

    def _run(self, args, kwargs, scratch):
        token = _scratch.set(scratch)
        try:
            t0 = time.perf_counter()
            c0 = time.process_time()
            r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            value = self.fn(*args, **kwargs)
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            rss = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) * 1024
        finally:
            _scratch.reset(token)
        if wall < self.min_seconds:
            warn_once("short:" + self.name,
                      "irohds: %s took %.3fs (< min_seconds=%g): sharing it with peers "
                      "will not pay off; it is still cached locally"
                      % (self.name, wall, self.min_seconds))
        return value, (wall, cpu, rss)

    def _compute_and_put(self, key, args, kwargs, claimed):
        p = process()
        scratch = _Scratch()
        if claimed:
            p.renew_add(key)
        try:
            try:
                value, measured = self._run(args, kwargs, scratch)
            finally:
                p.renew_remove(key)
        except BaseException:
            scratch.remove()
            if claimed:
                self._release(key)
            raise
        try:
            return self._put(key, value, measured)
        finally:
            scratch.remove()

    def _put(self, key, value, measured):
        p = process()
        wall, cpu, rss = measured
        fields = dict(key=key, codec=_codec.CODEC, fn=self.name[:1024], ns=self.ns,
                      wall_us=int(wall * 1e6), cpu_us=int(cpu * 1e6), rss_growth=rss,
                      origin=ZERO32, holder=p.holder)
        extra = ()
        staged = None
        if isinstance(value, FileRef):
            staged = _stage_file(value.path)
            if staged is None:
                warn_once("fileref:" + self.name,
                          "irohds: %s returned %r, which is not a readable file; "
                          "not stored" % (self.name, value))
                self._release(key)
                return value, 0
            size = os.path.getsize(staged)
            fields.update(src=1, path=staged, codec="fileref", flags=FLAG_FILEREF)
        else:
            try:
                enc = _codec.encode(value)
            except Exception as e:
                warn_once("pickle:" + self.name,
                          "irohds: result of %s cannot be pickled (%s: %s); it is "
                          "cached in this process only" % (self.name, type(e).__name__, e))
                self._release(key)
                return value, _size_of_fallback(value)
            size = enc.size
            if size > _config.get().inline_max:
                staged = _stage_encoded(enc)
                fields.update(src=1, path=staged)
            else:
                extra = (enc.to_bytes(),)
        fields.update(self._cost_fields(wall, cpu, rss, size))
        try:
            frames = _call("store", "put", extra=extra, **fields)
            _, ok = _decode(frames, "put_ok")
        except (_DaemonDown, _proto.ProtoError):
            if staged is not None:
                _unlink(staged)
            self._release(key)
            return value, size
        if staged is not None:
            _unlink(staged)          # normally moved away by the store already
        if isinstance(value, FileRef):
            stored = _localstore.blob_path(_config.home(), ok["blob"])
            if os.path.exists(stored):
                return FileRef(stored), size
        return value, size

    def _release(self, key):
        try:
            _call("store", "release", key=key, holder=process().holder)
        except _DaemonDown:
            pass

    def _cost_fields(self, wall, cpu, rss, size):
        c = self.cost
        if c is None:
            try:
                from . import coren
            except ImportError as e:
                if e.name != __package__ + ".coren":
                    raise
                coren = None
            if coren is not None:
                c = coren.derive_cost(wall, cpu, rss, size)
        if c is None:
            return dict(result_bytes=size, peak_mem=rss)
        return dict(flops=int(c.flops), mem_bytes=int(c.mem_bytes),
                    peak_mem=int(c.peak_mem), result_bytes=int(c.result_bytes))

    def evict(self):
        CACHE.drop_fn(self.name)
        self.fast_clear()
        if self.mem_only:
            return 0
        return evict(self.name)


# ---------------------------------------------------------------- helpers

def _decode(frames, expect):
    if not frames:
        raise _proto.ProtoError("empty reply")
    return _proto.decode(frames[0], expect)


def _decode_found(found):
    if found.manifest["flags"] & FLAG_FILEREF:
        return FileRef(found.path)
    return _codec.decode(found.content)


def _size_of(value):
    try:
        return _codec.encode(value).size
    except Exception:
        return _size_of_fallback(value)


def _size_of_fallback(value):
    return sys.getsizeof(value)


def _staging_dir():
    h = _config.home()
    d = os.path.join(h, "run", "staging")
    if not os.path.isdir(d):
        for sub in (h, os.path.join(h, "run"), d):
            try:
                os.mkdir(sub, 0o700)
            except FileExistsError:
                pass
    return d


def _staging_name(kind):
    """A fresh path under staging: <kind>-<pid>-<seq>-<random>."""
    p = process()
    return os.path.join(_staging_dir(), "%s-%d-%d-%s" % (kind, p.pid, next(p.seq),
                                                         uuid.uuid4().hex[:8]))


def _new_scratch():
    d = _staging_name("call")
    os.mkdir(d, 0o700)
    return d


def _stage_encoded(enc):
    path = _staging_name("put")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        enc.write_fd(fd)
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)
    return path


def _stage_file(src):
    """Put a FileRef's file under staging (rename when it is already in
    our scratch, else hard link or copy); returns the staged path."""
    if not os.path.isfile(src):
        return None
    dst = _staging_name("file")
    try:
        if os.path.abspath(src).startswith(os.path.dirname(dst) + os.sep):
            os.rename(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    except OSError:
        return None
    return dst


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def evict(name):
    """Evict every stored result of function `name` ("pkg.mod.f"), here
    and in the local store; returns how many the store removed."""
    CACHE.drop_fn(name)
    for m in list(_registry):
        if m.name == name:
            m.fast_clear()
    try:
        frames = _call("store", "evict", fn=name, key=ZERO32)
        _, r = _decode(frames, "evicted")
        return r["count"]
    except _DaemonDown:
        return 0


_registry = []


FAST_MAX = 4096                 # argument tuples per function in the fast map


def make(fn, **opts):
    m = Memo(fn, **opts)
    _registry.append(m)
    call = m.call
    recent = CACHE.lru.move_to_end
    fast = m.fast = functools.lru_cache(maxsize=FAST_MAX, typed=True)(m.fast_lookup)
    fast_clear = fast.cache_clear

    if m.refresh:
        def wrapper(*args, **kwargs):
            return call(args, kwargs)
    else:
        # The hit path of the in-process tier, kept as short as possible:
        # one C-level lru_cache lookup (typed) to a live Entry.
        def wrapper(*args, **kwargs):
            if kwargs:
                return call(args, kwargs)
            try:
                e = fast(*args)
            except _FastMiss as miss:
                return call(args, kwargs, miss.key)
            # Value before liveness: eviction marks dead before dropping
            # the value, so a value read from a live entry is the right one.
            v = e.value
            if e.alive:
                try:
                    recent(e.key)
                except KeyError:        # evicted this instant; v is still right
                    pass
                return v
            fast_clear()                # drop dead entries from the map
            return call(args, kwargs)

    functools.update_wrapper(wrapper, fn)
    wrapper.key = lambda *a, **kw: m.key(a, kw).hex()
    wrapper.evict = m.evict
    wrapper.memo = m
    return wrapper


def memo(fn=None, *, ns="", version=0, cost=None, min_seconds=15, local_only=False,
         refresh=False):
    """@irohds.memo or @irohds.memo(ns=..., version=..., ...)."""
    opts = dict(ns=ns, version=version, cost=cost, min_seconds=min_seconds,
                local_only=local_only, refresh=refresh)
    if fn is None:
        return lambda f: make(f, **opts)
    return make(fn, **opts)


def mem(fn=None, *, ns="", version=0):
    """In-process only memoization (the key is the same as memo's)."""
    opts = dict(ns=ns, version=version, mem_only=True)
    if fn is None:
        return lambda f: make(f, **opts)
    return make(fn, **opts)
