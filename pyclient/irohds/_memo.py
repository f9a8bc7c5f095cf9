"""@irohds.memo and @irohds.mem: the order of the tiers of a memoized call.

    1. in-process (_memcache): bounded by bytes, LRU;
    2. the local store read directly from LMDB (_localstore), verified,
       then a batched "touch" (_background) so the store keeps LRU order;
    3. the daemon (_daemon): claim the key (run-once between local
       processes), or wait for whoever holds it, or get what is stored.

On a miss the function runs here, is measured (wall, CPU, peak RSS growth,
result size), its result serialized (_codec) and put with its cost; the
put releases the claim. When the daemon cannot be reached, the value is
computed locally with one IrohdsWarning per process: a broken daemon never
breaks the program. The function's own exceptions propagate unchanged and
are never cached. Files (FileRef, scratch, staging) are _scratch's.
"""
import functools
import os
import resource
import sys
import threading
import time

from . import _background
from . import _codec
from . import _config
from . import _daemon
from . import _localstore
from . import _proto
from . import _scratch
from ._daemon import DaemonDown
from ._log import IrohdsWarning, warn_once  # noqa: F401 (re-exported)
from ._memcache import CACHE
from ._scratch import FileRef, resolve  # noqa: F401 (re-exported)

MAX_ROUNDS = 8
FLAG_FILEREF = _localstore.FLAG_FILEREF   # manifest flag: the result is a file
ZERO32 = bytes(32)


class _Locks:
    """One computation per key in this process (rebuilt after fork)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inflight = {}          # key -> Lock

    def acquire_for(self, key):
        with self.lock:
            lk = self.inflight.get(key)
            if lk is None:
                lk = self.inflight[key] = threading.Lock()
            return lk

    def forget(self, key, lk):
        # Forget the lock once free, so the map does not grow with every
        # key ever computed; a thread still queued on it re-checks the
        # in-process tier and the store after acquiring it.
        with self.lock:
            if self.inflight.get(key) is lk and not lk.locked():
                del self.inflight[key]


_locks = _Locks()


def _after_fork():
    global _locks
    _locks = _Locks()


os.register_at_fork(after_in_child=_after_fork)


class _FastMiss(Exception):
    def __init__(self, key):
        self.key = key


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
        locks = _locks
        lk = locks.acquire_for(key)
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
            locks.forget(key, lk)

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
        res = _localstore.get().lookup(key)
        if res is _localstore.MISS:
            return None
        if res is not _localstore.CORRUPT:
            try:
                value = _decode_found(res)
            except _codec.CodecError:
                res = _localstore.CORRUPT
            else:
                _background.get().touch(key)
                return value, res.manifest["size"]
        self._report_corrupt(key)
        return None

    def _report_corrupt(self, key):
        try:
            # want_path=0: the store reads and verifies the content itself,
            # and removes (and counts) a corrupt entry so the put that
            # follows replaces it instead of deduplicating against it.
            _daemon.get(key, want_path=0, timeout=max(_config.get().timeout, 30.0))
        except DaemonDown:
            pass

    # ---- tier 3: the daemon, claims, compute ----

    def _shared(self, key, args, kwargs):
        if self.refresh:
            return self._compute_and_put(key, args, kwargs, claimed=False)
        for _ in range(MAX_ROUNDS):
            try:
                r = _daemon.claim(key)
            except DaemonDown:
                return self._compute_local(args, kwargs)
            if r["status"] == 0:
                return self._compute_and_put(key, args, kwargs, claimed=True)
            if r["status"] == 1:
                left_ms = (r["expires_us"] - int(time.time() * 1e6)) // 1000 + 500
                wait_ms = max(100, min(_daemon.WAIT_MS, left_ms))
                try:
                    _daemon.wait(key, wait_ms)
                except DaemonDown:
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
            frames = _daemon.get(key, want_path=1)
        except DaemonDown:
            return None
        try:
            name, msg = _proto.decode(frames[0], ("hit", "miss"))
            if name == "miss":
                return None
            manifest = _proto.decode_manifest(frames[1])
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
        except (_codec.CodecError, _proto.ProtoError, IndexError, ValueError):
            return None

    def _compute_local(self, args, kwargs):
        scratch = _scratch.Scratch()
        try:
            value, measured = self._run(args, kwargs, scratch)
        except BaseException:
            scratch.remove()
            raise
        if isinstance(value, FileRef):
            result = value, 0         # keep the scratch file: it is the result
        else:
            scratch.remove()
            result = value, _size_of(value)
        self._notice_short(measured[0])
        return result

    def _run(self, args, kwargs, scratch):
        token = _scratch.enter(scratch)
        try:
            t0 = time.perf_counter()
            c0 = time.process_time()
            r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            value = self.fn(*args, **kwargs)
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            rss = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) * 1024
        finally:
            _scratch.leave(token)
        return value, (wall, cpu, rss)

    def _notice_short(self, wall):
        # After the result is stored (see _log): a notice never changes it.
        if wall < self.min_seconds:
            warn_once("short:" + self.name,
                      "irohds: %s took %.3fs (< min_seconds=%g): sharing it with peers "
                      "will not pay off; it is still cached locally"
                      % (self.name, wall, self.min_seconds))

    def _compute_and_put(self, key, args, kwargs, claimed):
        bg = _background.get()
        scratch = _scratch.Scratch()
        if claimed:
            bg.renew_add(key)
        try:
            try:
                value, measured = self._run(args, kwargs, scratch)
            finally:
                bg.renew_remove(key)
        except BaseException:
            scratch.remove()
            if claimed:
                _daemon.release(key)
            raise
        try:
            result = self._put(key, value, measured)
        finally:
            scratch.remove()
        self._notice_short(measured[0])
        return result

    def _put(self, key, value, measured):
        wall, cpu, rss = measured
        fields = dict(key=key, codec=_codec.CODEC, fn=self.name[:1024], ns=self.ns,
                      wall_us=int(wall * 1e6), cpu_us=int(cpu * 1e6), rss_growth=rss,
                      origin=ZERO32)
        extra = ()
        staged = None
        if isinstance(value, FileRef):
            staged = _scratch.stage_file(value.path)
            if staged is None:
                _daemon.release(key)
                warn_once("fileref:" + self.name,
                          "irohds: %s returned %r, which is not a readable file; "
                          "not stored" % (self.name, value))
                return value, 0
            size = os.path.getsize(staged)
            fields.update(src=1, path=staged, codec="fileref", flags=FLAG_FILEREF)
        else:
            try:
                enc = _codec.encode(value)
            except Exception as e:
                _daemon.release(key)
                warn_once("pickle:" + self.name,
                          "irohds: result of %s cannot be pickled (%s: %s); it is "
                          "cached in this process only" % (self.name, type(e).__name__, e))
                return value, _size_of_fallback(value)
            size = enc.size
            if size > _config.get().inline_max:
                staged = _scratch.stage_encoded(enc)
                fields.update(src=1, path=staged)
            else:
                extra = (enc.to_bytes(),)
        fields.update(self._cost_fields(wall, cpu, rss, size))
        try:
            ok = _daemon.put(fields, extra)
        except DaemonDown:
            if staged is not None:
                _scratch.unlink(staged)
            _daemon.release(key)
            return value, size
        if staged is not None:
            _scratch.unlink(staged)     # normally moved away by the store already
        if isinstance(value, FileRef):
            stored = _localstore.blob_path(_config.home(), ok["blob"])
            if os.path.exists(stored):
                return FileRef(stored), size
        return value, size

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


def evict(name):
    """Evict every stored result of function `name` ("pkg.mod.f"), here
    and in the local store; returns how many the store removed."""
    CACHE.drop_fn(name)
    for m in list(_registry):
        if m.name == name:
            m.fast_clear()
    return _daemon.evict(fn=name)


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
