"""Memo, the state of one memoized function, and the order of the tiers of
a call (the decorators that build it are in _decorate):

    1. in-process (_memcache): bounded by bytes, LRU;
    2. the local store read directly from LMDB (_localstore), verified,
       then a batched "touch" (_background) so the store keeps LRU order;
    3. the daemon (_daemon): claim the key (run-once between local
       processes), or wait for whoever holds it, or get what is stored;
    4. the peers (_lookup): holding the claim, ask gossip whether a peer
       holds the result and fetching it beats computing; if so gossip
       puts it in the local store and it is read from there (tier 2/3);
    5. the key's arbiter (_claims.memo_claim): about to compute what no
       peer holds, take the lease across machines; another machine holding it is waited for
       (polled), then its result fetched (tier 4) or, if its lease ran
       out, the key taken over. The lease is renewed with the local claim
       and ended (done or released) after the put (docs/python.md).

Results that came from a peer (manifest origin nonzero) are decoded by the
restricted unpickler (_codec.decode(trusted=False)): no namespace has a
secret yet, so their bytes prove nothing about who made them. A refused
one is counted (unsafe_refused), computed here and stored over.

On a miss the function runs here, is measured (wall, CPU, peak RSS growth,
result size), its result serialized (_codec) and put with its cost; the
put releases the claim. When the daemon cannot be reached, the value is
computed locally with one IrohdsWarning per process: a broken daemon never
breaks the program. The function's own exceptions propagate unchanged and
are never cached. Files (FileRef, scratch, staging) are _scratch's.
"""
import collections
import errno
import functools
import logging
import os
import resource
import sys
import threading
import time
from typing import NamedTuple

from . import _background
from . import _claims
from . import _codec
from . import _config
from . import _daemon
from . import _localstore
from . import _log
from . import _lookup
from . import _proto
from . import _scratch
from ._daemon import DaemonDown
from ._log import log, warn_once
from ._memcache import CACHE
from ._scratch import FileRef

MAX_ROUNDS = 8
FLAG_FILEREF = _localstore.FLAG_FILEREF   # manifest flag: the result is a file
FLAG_LOCAL_ONLY = 2         # manifest flag: never in a digest, never served to peers
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

class CacheInfo(NamedTuple):
    """f.cache_info(): where this function's calls were answered."""
    hits_memory: int        # in-process tier
    hits_local: int         # local store, read directly from LMDB
    hits_daemon: int        # from the daemon: a result another process stored
    misses: int             # calls that found nothing stored
    computed: int           # calls that ran the function
    not_stored: int         # values returned but not stored (disk full, ...)
    currsize: int           # this function's entries in the in-process tier
    hits_peer: int = 0      # fetched from a peer by gossip (then read locally)
    unsafe_refused: int = 0  # results from a peer the restricted unpickler refused


# What _acquire tells the caller to do (or a (value, size) tuple: stored).
_CLAIMED = "claimed"        # we hold the claim: compute, put (releases it)
_LOCAL = "local"            # the daemon cannot help: compute, keep in process
_OVERWRITE = "overwrite"    # compute and put without a claim (refresh, bad copies)
_UNSAFE = "unsafe"          # a stored result from a peer was refused: compute, put over it
_EXISTS = "exists"          # a peer holds the result, not fetched (the verdict computes,
                            # the fetch failed): compute here, no lease needed
_NOT_FOUND = "not_found"    # the peers gossip asked had nothing usable

LONG_WAIT = 3.0             # a wait longer than this is logged at INFO, once
POLL_FIRST = 0.2            # waiting on another machine's lease: first poll (s),
POLL_GROW = 1.5             # growing by this factor
POLL_MAX = 1.0              # up to this (and at least 3 polls per lease)


class Memo:
    """State of one decorated function."""

    def __init__(self, fn, ns="", version=0, cost=None, min_seconds=15.0,
                 local_only=False, refresh=False, mem_only=False, ignore=(), ttl=None,
                 verbose=0, fetch_timeout=None, progress=None):
        self.fn = fn
        self.ns = ns or ""
        self.version = version
        self.cost = cost
        self.min_seconds = min_seconds
        self.local_only = local_only
        self.refresh = refresh
        self.mem_only = mem_only
        self.ignore = ignore
        self.ttl = ttl
        self.verbose = verbose
        self.fetch_timeout = fetch_timeout      # None: peers.fetch_timeout
        self.progress = progress                # None: client.progress
        self.last_wall = 0.0                    # our last measured run, for the verdict
        self.fast = None            # set by make()
        self._identity = None
        self._name = None
        self._keyer = None
        self.stats = collections.Counter()
        self.fast_hits = 0          # hits of the fast map before its last clear
        self.pending = {}           # (loop, key) -> Future: one await per key

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
            k = self._keyer = keys().call_keyer(self.identity(), self.ns, self.version,
                                                self.ignore)
        return k(args, kwargs)

    # ---- the slow path (everything but a fast-map hit) ----

    def call(self, args, kwargs, key=None, force=False):
        if key is None:
            key = self.key(args, kwargs)      # TypeError on unsupported args
            fresh = False
        else:
            fresh = True                    # the fast map just missed it in memory
        force = force or self.refresh
        unsafe = False
        if not force:
            found = self._lookup(key, fresh)
            if found is _UNSAFE:
                unsafe = True
            elif found is not None:
                return found[0]
        if self.mem_only:
            self._miss(key)
            value = self.fn(*args, **kwargs)
            self.stats["computed"] += 1
            return self._remember(key, value, _size_of(value))
        locks = _locks
        lk = locks.acquire_for(key)
        try:
            with lk:
                if not force and not unsafe:
                    e = CACHE.get(key)      # another thread finished it
                    if e is not None:
                        self._hit("memory", key)
                        return e.value
                    # The peers are asked right after the claim is sent
                    # (the two round trips overlap); the answer counts only
                    # if the claim is granted at once (_acquire drops it
                    # else). Sent after the claim, the lookup's ingest always
                    # reaches the store after it: a result fetched this way
                    # is never mistaken for one another process stored.
                    early = [None]
                    try:
                        plan = self._acquire(key, None if self.local_only else early)
                    except BaseException:
                        _lookup.abandon(early[0])
                        raise
                    if isinstance(plan, tuple):
                        _lookup.abandon(early[0])
                        self._hit("daemon", key)
                        return self._remember(key, *plan)
                else:
                    CACHE.drop(key)
                    plan = _OVERWRITE
                    early = [None]
                claimed = plan is _CLAIMED
                remote = False
                if claimed and not self.local_only:
                    got = self._ask_peers(key, early[0])
                    if got is None or got is _NOT_FOUND:    # nobody has it: the lease
                        got = remote = self._cross(key, got is None)
                    if isinstance(got, tuple):
                        self._hit("peer", key)
                        return self._remember(key, *got)
                else:
                    _lookup.abandon(early[0])
                scratch = _scratch.Scratch()
                bg = _background.get()
                if claimed:
                    bg.renew_add(key, self.ns if remote else None)
                try:
                    try:
                        value, measured = self._run(args, kwargs, scratch)
                    finally:
                        bg.renew_remove(key)
                except BaseException:
                    scratch.remove()
                    if claimed:
                        _daemon.release(key)
                    self._end_remote(key, remote, False)
                    raise
                value, size = self._finish(key, value, measured, plan, scratch)
                self._end_remote(key, remote, None)
                # Inside the lock: a thread queued on it finds the value.
                self._remember(key, value, size)
        finally:
            locks.forget(key, lk)
        self._notice_short(measured[0])
        return value

    def _lookup(self, key, fresh=False):
        """(value, size) from the in-process tier (unless the caller just
        looked there) or the local store."""
        if not fresh:
            e = CACHE.get(key)
            if e is not None:
                self._hit("memory", key)
                return e.value, e.size
        if self.mem_only:
            return None
        found = self._read_local(key)
        if found is not None and found is not _UNSAFE:
            self._hit("local", key)
            self._remember(key, found[0], found[1])
        return found

    def _hit(self, tier, key):
        self.stats[tier] += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("irohds: %s hit (%s) for %s", self.name, tier, key.hex()[:16])

    def _miss(self, key):
        self.stats["misses"] += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("irohds: %s miss for %s", self.name, key.hex()[:16])

    def _remember(self, key, value, size):
        CACHE.put(key, value, size, self.name)
        return value

    def cached(self, args, kwargs):
        """Is a result of this call here (in process or in the local
        store)? Never computes and never asks the daemon."""
        key = self.key(args, kwargs)
        if CACHE.get(key) is not None:
            return True
        if self.mem_only:
            return False
        res = _localstore.get().lookup(key)
        return isinstance(res, _localstore.Found)

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
        self.fast_hits += self.fast.cache_info().hits
        self.fast.cache_clear()

    def cache_info(self):
        s = self.stats
        name = self.name
        return CacheInfo(s["memory"] + self.fast_hits + self.fast.cache_info().hits,
                         s["local"], s["daemon"], s["misses"], s["computed"],
                         s["not_stored"], sum(1 for e in list(CACHE.lru.values())
                                              if e.fn == name),
                         s["peer"], s["unsafe_refused"])

    # ---- tier 2: LMDB, read-only ----

    def _read_local(self, key):
        """(value, size) from the local store, None, or _UNSAFE (a result
        from a peer the restricted unpickler refused). A stored result
        that fails verification or decoding is reported to the store (its
        own get verifies and removes it) and then recomputed."""
        res = _localstore.get().lookup(key)
        if res is _localstore.MISS:
            return None
        if res is not _localstore.CORRUPT:
            try:
                value = _decode_found(res)
            except _codec.UnsafeResult as e:
                return self._refused(key, e)
            except _codec.CodecError:
                res = _localstore.CORRUPT
            else:
                _background.get().touch(key)
                return value, res.manifest["size"]
        self._report_corrupt(key)
        return None

    def _refused(self, key, exc):
        self.stats["unsafe_refused"] += 1
        warn_once("unsafe:" + self.name,
                  "irohds: %s: a result fetched from a peer was refused by the restricted "
                  "unpickler (%s); it is computed here and stored over (docs/security.md)"
                  % (self.name, exc))
        return _UNSAFE

    def _report_corrupt(self, key):
        try:
            # want_path=0: the store reads and verifies the content itself,
            # and removes (and counts) a corrupt entry so the put that
            # follows replaces it instead of deduplicating against it.
            _daemon.get(key, want_path=0, timeout=max(_config.get().timeout, 30.0))
        except DaemonDown:
            pass

    # ---- tier 3: the daemon, claims ----

    def _acquire(self, key, early=None):
        """Claim the key, or wait for its holder and fetch what it stored.
        Returns (value, size) when a stored result was fetched, else
        _CLAIMED, _LOCAL or _OVERWRITE (see above). A holder that dies
        stops renewing its short lease; the store answers the wait at
        once when the claim is released or expires, and we claim at once."""
        bad = 0
        started = None
        told = False
        while bad < MAX_ROUNDS:
            ask = None
            if early is not None and started is None and bad == 0 and early[0] is None:
                def ask():
                    early[0] = self._start_peers(key)
            try:
                r = _daemon.claim(key) if ask is None else _daemon.claim(key, after_send=ask)
            except DaemonDown:
                self._miss(key)
                return _LOCAL
            status = r["status"]
            if status == 0:
                self._miss(key)
                return _CLAIMED
            if early is not None and early[0] is not None:
                # Not granted at once: an answer to a lookup sent before
                # would be stale by the time we hold the claim.
                _lookup.abandon(early[0])
                early[0] = None
            if status == 1:
                now = time.monotonic()
                if started is None:
                    started = now
                    log.debug("irohds: %s: waiting for %s (holder %s)", self.name,
                              key.hex()[:16], r["holder"])
                left_ms = (r["expires_us"] - int(time.time() * 1e6)) // 1000 + 500
                wait_ms = max(100, min(_daemon.WAIT_MS, left_ms))
                if not told:
                    wait_ms = min(wait_ms, max(100, int((started + LONG_WAIT - now) * 1000)))
                try:
                    got = _daemon.wait(key, wait_ms)
                except DaemonDown:
                    self._miss(key)
                    return _LOCAL
                if got != 0:
                    if not told and time.monotonic() - started >= LONG_WAIT:
                        told = True
                        log.info("irohds: %s: waiting for %s, computed by %s (lease "
                                 "until %s)", self.name, key.hex()[:16], r["holder"],
                                 time.strftime("%H:%M:%S", time.localtime(
                                     r["expires_us"] / 1e6)))
                    continue        # released, expired or still held: claim again
            got = self._fetch(key)
            if got is _UNSAFE:
                return _OVERWRITE
            if got is not None:
                return got
            bad += 1
        # The store keeps saying "done" but cannot produce a good copy:
        # recompute and overwrite.
        return _OVERWRITE

    def _fetch(self, key):
        """(value, size) already stored, via LMDB or a daemon get; None or
        _UNSAFE (see _read_local)."""
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
            trusted = manifest["origin"] == ZERO32
            if msg["path"]:
                if manifest["flags"] & FLAG_FILEREF:
                    return FileRef(msg["path"]), manifest["size"]
                m = _localstore.read_file_verified(msg["path"], manifest["blob"],
                                                   manifest["size"])
                if m is None:
                    return None
                return _codec.decode(m, trusted=trusted), manifest["size"]
            if manifest["flags"] & FLAG_FILEREF:
                return None         # a FileRef result is a file; the store gave bytes
            content = bytearray(frames[2])
            if _localstore.blake3(content) != manifest["blob"]:
                return None
            return _codec.decode(content, trusted=trusted), manifest["size"]
        except _codec.UnsafeResult as e:
            return self._refused(key, e)
        except (_codec.CodecError, _proto.ProtoError, IndexError, ValueError):
            return None

    # ---- tier 4: the peers ----

    def _start_peers(self, key):
        """Send the gossip_lookup for key (a _lookup.Pending, or None)."""
        c = self.cost
        cost = (int(c.flops), int(c.mem_bytes), int(c.peak_mem),
                int(c.result_bytes)) if c is not None else (0, 0, 0, 0)
        return _lookup.start(key, self.ns, self.name, cost, int(self.last_wall * 1e6),
                             self._fetch_timeout())

    def _fetch_timeout(self):
        return _config.get().fetch_timeout if self.fetch_timeout is None else self.fetch_timeout

    def _ask_peers(self, key, pending=None):
        """Holding the claim on key: (value, size) when gossip fetched the
        result from a peer (it is then in the local store and read from
        there), else the caller computes (with the claim still held): None
        when no peer's digest shows it (or gossip cannot tell), _NOT_FOUND
        when the peers asked had nothing usable, _EXISTS when one holds it
        but it was not fetched, _UNSAFE when it was refused.
        pending: the lookup already sent (else it is sent now). The claim
        is renewed while gossip works."""
        cfg = _config.get()
        progress = cfg.progress if self.progress is None else self.progress
        bg = _background.get()
        bg.renew_add(key)
        try:
            if pending is None:
                pending = self._start_peers(key)
            reply = _lookup.finish(pending, key, self._fetch_timeout(), progress, self.name)
        except BaseException:
            bg.renew_remove(key)
            _daemon.release(key)
            raise
        bg.renew_remove(key)
        if reply is None:
            return None
        status = reply["status"]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("irohds: %s: peers for %s: %s (%s; %d bytes in %.3fs; compute %.3gs, "
                      "fetch %.3gs)", self.name, key.hex()[:16], _lookup.STATUS_NAMES[status],
                      reply["reason"], reply["received"], reply["elapsed_us"] / 1e6,
                      _lookup.f64(reply["t_compute"]), _lookup.f64(reply["t_fetch"]))
        if status != _lookup.FETCHED:
            return {_lookup.NO_CANDIDATE: None, _lookup.NOT_FOUND: _NOT_FOUND}.get(status,
                                                                                _EXISTS)
        got = self._fetch(key)
        if got is None:
            _log.count("peer_unreadable")
            log.info("irohds: %s: gossip fetched %s but the local store cannot give it; "
                     "computing", self.name, key.hex()[:16])
            return _EXISTS
        # No release: the store's ingest ended our claim in the transaction
        # that stored the result (and woke its waiters), so a release here
        # would be a round trip that does nothing.
        return got

    # ---- tier 5: the key's arbiter ----

    def _cross(self, key, look_again=True):
        """Holding this machine's claim on key, no peer holding its result,
        about to compute: take the key's lease at its arbiter. True: held (compute;
        renewed with the local claim, ended by _end_remote); False: this
        machine alone decides, or the result is done elsewhere but not
        fetched (compute); (value, size): another machine computed it
        while this one waited, and it was fetched. Waiting keeps the local
        claim (this machine's other callers wait on this one).
        look_again False: the peers were just asked and had nothing usable
        (asking again when the arbiter says done at once would repeat
        that), so such a key is computed."""
        holder = _daemon.holder()
        lease = _daemon.lease_ms()
        bg = _background.get()
        waited = None
        delay = POLL_FIRST
        bg.renew_add(key)
        try:
            while True:
                got = _claims.memo_claim(self.ns, key, holder, lease)
                if got is None:
                    return False
                st = got.states[0]
                if st == _claims.GRANTED:
                    if waited is None:
                        return True
                    # Taken over after a wait: the holder may have stored
                    # the result and died before its done mark arrived.
                    _log.count("memo_takeovers")
                    found = self._ask_peers(key)
                    if isinstance(found, tuple):
                        bg.later(_claims.memo_end, self.ns, key, holder, True)
                        return found
                    return True
                if st == _claims.DONE:
                    # Done on another node: gossip knows which and asks it.
                    _log.count("memo_done_elsewhere")
                    if waited is None and not look_again:
                        return False
                    found = self._ask_peers(key)
                    return found if isinstance(found, tuple) else False
                if waited is None:
                    waited = time.monotonic()
                    _log.count("memo_waits")
                    if st == _claims.HELD:
                        log.info("irohds: %s: %s is being computed on node %s (lease "
                                 "%.1fs left); waiting for it", self.name, key.hex()[:16],
                                 got.nodes[0].hex()[:16], got.left_ms[0] / 1000.0)
                time.sleep(min(delay, lease / 3000.0))
                delay = min(POLL_MAX, delay * POLL_GROW)
                bg.renew_add(key)       # _ask_peers above may have ended it
        except BaseException:
            _daemon.release(key)
            raise
        finally:
            bg.renew_remove(key)

    def _end_remote(self, key, remote, stored):
        """After a computation under the arbiter's lease: tell the arbiter
        done (the result is in this machine's store) or release it, from
        the background thread. stored None: look in the local store."""
        if not remote:
            return
        if stored is None:
            stored = isinstance(_localstore.get().lookup(key), _localstore.Found)
        _background.get().later(_claims.memo_end, self.ns, key, _daemon.holder(), stored)

    # ---- computing and storing ----

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
        self.stats["computed"] += 1
        self.last_wall = wall
        return value, (wall, cpu, rss)

    def _notice_short(self, wall):
        # After the result is stored (see _log): a notice never changes it.
        if wall < self.min_seconds:
            warn_once("short:" + self.name,
                      "irohds: %s ran in %.3fs, under min_seconds=%g. Its results are "
                      "cached, but a function this fast gains little from a shared "
                      "store; pass min_seconds=0 to @irohds.memo to silence this, or "
                      "use @irohds.mem to cache in this process only"
                      % (self.name, wall, self.min_seconds))

    def _finish(self, key, value, measured, plan, scratch):
        """Store a computed value (unless the daemon is down); returns the
        (value, size) the caller gets. Never raises for storage problems:
        the value is returned, the claim released, the cause counted."""
        if plan is _LOCAL:
            self.stats["not_stored"] += 1
            if isinstance(value, FileRef):
                return value, 0         # keep the scratch file: it is the result
            scratch.remove()
            return value, _size_of(value)
        keep_scratch = False
        try:
            result, keep_scratch = self._put(key, value, measured, plan, scratch)
            return result
        finally:
            if not keep_scratch:
                scratch.remove()

    def _not_stored(self, key, plan, tag, message):
        self.stats["not_stored"] += 1
        _log.count(tag)
        if plan is _CLAIMED:
            _daemon.release(key)
        warn_once(tag + ":" + self.name, message)

    def _put(self, key, value, measured, plan, scratch):
        """((value, size), keep_scratch)."""
        wall, cpu, rss = measured
        fields = dict(key=key, codec=_codec.CODEC, fn=self.name[:1024], ns=self.ns,
                      wall_us=int(wall * 1e6), cpu_us=int(cpu * 1e6), rss_growth=rss,
                      origin=ZERO32, flags=FLAG_LOCAL_ONLY if self.local_only else 0)
        if self.ttl:
            fields.update(_ttl_fields(self.ttl))
        extra = ()
        staged = moved = None
        is_file = isinstance(value, FileRef)
        try:
            if is_file:
                got = _scratch.stage_file(value.path, scratch)
                if got is None:
                    self._not_stored(key, plan, "fileref",
                                     "irohds: %s returned %r, which is not a readable "
                                     "regular file; not stored" % (self.name, value))
                    return (value, 0), True
                staged, moved = got
                size = os.path.getsize(staged)
                fields.update(src=1, path=staged, codec="fileref",
                              flags=fields["flags"] | FLAG_FILEREF)
            else:
                try:
                    enc = _codec.encode(value)
                except Exception as e:
                    self._not_stored(key, plan, "unpicklable",
                                     "irohds: the result of %s cannot be pickled (%s: %s); "
                                     "it is cached in this process only"
                                     % (self.name, type(e).__name__, e))
                    return (value, _size_of_fallback(value)), False
                size = enc.size
                if size > _config.get().inline_max:
                    staged = _scratch.stage_encoded(enc)
                    fields.update(src=1, path=staged)
                else:
                    extra = (enc.to_bytes(),)
        except OSError as e:
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            self._not_stored(key, plan, "disk_full" if full else "stage_errors",
                             "irohds: cannot write the result of %s for the store (%s); "
                             "it is returned but not stored%s"
                             % (self.name, e, ": the disk of %s is full; free space or "
                                "set store.max_bytes" % _config.home() if full else ""))
            return (value, _size_of(value) if not is_file else 0), is_file
        fields.update(self._cost_fields(wall, cpu, rss, size))
        try:
            ok = _daemon.put(fields, extra)
        except DaemonDown:
            self.stats["not_stored"] += 1
            _log.count("put_failed")
            if plan is _CLAIMED:
                _daemon.release(key)
            if staged is not None and moved:
                # Give the user the file back where the function wrote it.
                try:
                    os.rename(staged, value.path)
                except OSError:
                    found = self._read_local(key)   # the store may have taken it
                    if found is not None:
                        return found, False
                return (value, size), True
            if staged is not None:
                _scratch.unlink(staged)
            return (value, size), is_file
        if staged is not None:
            _scratch.unlink(staged)     # normally moved away by the store already
        if is_file:
            stored = _localstore.blob_path(_config.home(), ok["blob"])
            if os.path.exists(stored):
                return (FileRef(stored), size), False
            return (value, size), not moved
        return (value, size), False

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

    # ---- async def ----

    async def acall(self, args, kwargs, force=False):
        """The tiers for a coroutine function: the awaited value is what
        is memoized; store and daemon I/O run in the loop's default
        executor so the event loop never blocks on them; concurrent
        awaits of one key in one loop share one computation."""
        key = self.key(args, kwargs)
        force = force or self.refresh
        if not force:
            e = CACHE.get(key)
            if e is not None:
                self._hit("memory", key)
                return e.value
        import asyncio              # only for async def functions: not at import
        loop = asyncio.get_running_loop()
        slot = (loop, key)
        fut = self.pending.get(slot)
        if fut is not None and not force:
            return await asyncio.shield(fut)
        fut = self.pending[slot] = loop.create_future()
        try:
            value = await self._acompute(loop, key, args, kwargs, force)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()         # retrieved: no "never retrieved" log
            raise
        else:
            fut.set_result(value)
            return value
        finally:
            if self.pending.get(slot) is fut:
                del self.pending[slot]

    async def _acompute(self, loop, key, args, kwargs, force):
        def run(fn, *a):
            return loop.run_in_executor(None, functools.partial(fn, *a))
        remote = False
        if force:
            CACHE.drop(key)
            plan = _OVERWRITE
        else:
            found = None if self.mem_only else await run(self._read_local, key)
            if found is _UNSAFE:
                plan = _OVERWRITE
            elif found is not None:
                self._hit("local", key)
                return self._remember(key, *found)
            elif self.mem_only:
                self._miss(key)
                plan = _LOCAL
            else:
                plan = await run(self._acquire, key)
                if isinstance(plan, tuple):
                    self._hit("daemon", key)
                    return self._remember(key, *plan)
                if plan is _CLAIMED and not self.local_only:
                    got = await run(self._ask_peers, key)
                    if got is None or got is _NOT_FOUND:
                        got = remote = await run(self._cross, key, got is None)
                    if isinstance(got, tuple):
                        self._hit("peer", key)
                        return self._remember(key, *got)
        scratch = _scratch.Scratch()
        claimed = plan is _CLAIMED
        bg = _background.get()
        if claimed:
            bg.renew_add(key, self.ns if remote else None)
        token = _scratch.enter(scratch)
        try:
            t0 = time.perf_counter()
            value = await self.fn(*args, **kwargs)
            wall = time.perf_counter() - t0
            self.last_wall = wall
        except BaseException:
            scratch.remove()
            if claimed:
                await run(_daemon.release, key)
            self._end_remote(key, remote, False)
            raise
        finally:
            _scratch.leave(token)
            bg.renew_remove(key)
        self.stats["computed"] += 1
        if self.mem_only:
            size = _size_of(value)
        else:
            value, size = await run(self._finish, key, value, (wall, wall, 0), plan,
                                    scratch)
            await run(self._end_remote, key, remote, None)
        self._remember(key, value, size)
        self._notice_short(wall)
        return value


# ---------------------------------------------------------------- helpers

def _decode_found(found):
    """The value of a verified local-store result. A result whose
    manifest names another node as its origin came from a peer: decoded
    by the restricted unpickler (UnsafeResult when refused)."""
    m = found.manifest
    if m["flags"] & FLAG_FILEREF:
        if found.path is None:
            # A FileRef result is a read-only file under the home; inline
            # bytes cannot be one: treated as damaged, recomputed.
            raise _codec.CodecError("FileRef result stored inline")
        return FileRef(found.path)
    return _codec.decode(found.content, trusted=m["origin"] == ZERO32)


def _size_of(value):
    try:
        return _codec.encode(value).size
    except Exception:
        return _size_of_fallback(value)


def _size_of_fallback(value):
    return sys.getsizeof(value)


def evict(name: str) -> int:
    """Evict every stored result of function `name` ("pkg.mod.f"), here
    and in the local store; returns how many the store removed."""
    CACHE.drop_fn(name)
    for m in list(_registry):
        if m.name == name:
            m.fast_clear()
    return _daemon.evict(fn=name)


def _ttl_fields(ttl):
    """The put field for a per-function expiry: ttl_ms (u64, milliseconds)
    when the generated codec has it, else the older ttl_s (seconds,
    rounded up); nothing when neither exists."""
    put = {f[0] for f in _proto.FIELDS["put"]}
    if "ttl_ms" in put:
        return {"ttl_ms": max(1, int(round(ttl * 1000)))}
    if "ttl_s" in put:
        return {"ttl_s": max(1, int(-(-ttl // 1)))}
    return {}


_registry = []
