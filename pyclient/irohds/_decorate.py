"""The decorators: @irohds.memo and @irohds.mem check their options, build
a Memo (_memo: the order of the tiers) and wrap the function: a sync
wrapper with the in-process fast map in front, or an async one; both get
key / refresh / cached / cache_info / evict.
"""
import functools
import inspect
from typing import Any, Callable, Iterable, Optional

from . import _log
from ._config import MAX_FETCH_TIMEOUT, PROGRESS_MODES
from ._memo import Memo, _FastMiss, _registry

FAST_MAX = 4096                 # argument tuples per function in the fast map


def _check_options(fn, ns, version, min_seconds, ignore, ttl):
    if not callable(fn):
        raise TypeError("irohds.memo: %r is not callable" % (fn,))
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError("irohds.memo: %s is a generator function; a generator is "
                        "consumed once and cannot be cached. Memoize a function that "
                        "returns a list instead (e.g. return list(...))"
                        % getattr(fn, "__qualname__", fn))
    if not isinstance(ns, str) or len(ns.encode("utf-8", "surrogatepass")) > 255:
        raise TypeError("irohds.memo: ns must be a str of at most 255 bytes")
    if isinstance(ignore, str):
        ignore = (ignore,)
    ignore = tuple(ignore or ())
    if any(not isinstance(n, str) for n in ignore):
        raise TypeError("irohds.memo: ignore must be a list of parameter names")
    if ignore:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = None
        unknown = [n for n in ignore if params is not None and n not in params]
        if unknown:
            raise ValueError("irohds.memo: ignore names %s, which %s does not have"
                             % (", ".join(unknown), getattr(fn, "__qualname__", fn)))
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not (
                0 < ttl < 1e12):
            raise ValueError("irohds.memo: ttl must be a positive number of seconds")
    if not isinstance(min_seconds, (int, float)) or min_seconds != min_seconds:
        raise TypeError("irohds.memo: min_seconds must be a number of seconds")
    return frozenset(ignore)


def _check_peer_options(fetch_timeout, progress):
    if fetch_timeout is not None and (
            isinstance(fetch_timeout, bool) or not isinstance(fetch_timeout, (int, float))
            or not 0 <= fetch_timeout <= MAX_FETCH_TIMEOUT):
        raise ValueError("irohds.memo: fetch_timeout must be None (peers.fetch_timeout) or "
                         "seconds from 0 (no limit) to 7 days")
    if progress is not None and progress not in PROGRESS_MODES:
        raise ValueError("irohds.memo: progress must be None (client.progress), "
                         "'auto', 'always' or 'never'")


def make(fn, **opts):
    opts["ignore"] = _check_options(fn, opts.get("ns", ""), opts.get("version", 0),
                                    opts.get("min_seconds", 15), opts.get("ignore", ()),
                                    opts.get("ttl"))
    _check_peer_options(opts.get("fetch_timeout"), opts.get("progress"))
    _log.set_verbose(opts.get("verbose", 0))
    m = Memo(fn, **opts)
    _registry.append(m)
    if inspect.iscoroutinefunction(fn):
        return _async_wrapper(m)
    call = m.call
    fast = m.fast = functools.lru_cache(maxsize=FAST_MAX, typed=True)(m.fast_lookup)
    fast_clear = m.fast_clear

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
            except TypeError:
                # Unhashable arguments (dict, list, set, numpy arrays): the
                # fast map cannot hold them; the key encoder can.
                return call(args, kwargs)
            # Value before liveness: eviction marks dead before dropping
            # the value, so a value read from a live entry is the right one.
            v = e.value
            if e.alive:
                e.hot = True            # recency for eviction (_memcache: CLOCK)
                return v
            fast_clear()                # drop dead entries from the map
            return call(args, kwargs)

    functools.update_wrapper(wrapper, fn)
    _attach(wrapper, m, lambda a, kw: call(a, kw, force=True))
    return wrapper


def _async_wrapper(m):
    m.fast = functools.lru_cache(maxsize=1)(lambda: None)   # no fast map: cache_info

    async def awrapper(*args, **kwargs):
        return await m.acall(args, kwargs)

    async def refresh(*args, **kwargs):
        return await m.acall(args, kwargs, force=True)

    functools.update_wrapper(awrapper, m.fn)
    _attach(awrapper, m, None)
    awrapper.refresh = refresh
    return awrapper


def _attach(wrapper, m, refresh):
    wrapper.key = lambda *a, **kw: m.key(a, kw).hex()
    wrapper.evict = m.evict
    wrapper.cached = lambda *a, **kw: m.cached(a, kw)
    wrapper.cache_info = m.cache_info
    if refresh is not None:
        wrapper.refresh = lambda *a, **kw: refresh(a, kw)
    wrapper.memo = m


def memo(fn: Optional[Callable] = None, *, ns: str = "", version: Any = 0,
         cost: Any = None, min_seconds: float = 15, local_only: bool = False,
         refresh: bool = False, ignore: Iterable[str] = (), ttl: Optional[float] = None,
         verbose: int = 0, fetch_timeout: Optional[float] = None,
         progress: Optional[str] = None) -> Any:
    """Memoize a function's results in this process, in the local store
    (shared by every process of this user on this machine) and, through
    the daemon, run each distinct call once.

    Use as ``@irohds.memo`` or ``@irohds.memo(ns="lab", version=2, ...)``.

    A call's key covers the function's code (and the user code it uses),
    its arguments (bound to the signature, so ``f(1)``, ``f(x=1)`` and an
    omitted default give one key; dicts, lists, sets, numpy arrays,
    dataclasses, ``irohds.File`` ... are all keyed by value), ``ns`` and
    ``version``. Arguments without a canonical encoding raise TypeError
    naming the argument. The function's own exceptions propagate and are
    never cached. If the daemon cannot be reached the function is
    computed here and one IrohdsWarning says so: irohds never breaks the
    program. ``async def`` functions are supported (the awaited value is
    cached; store I/O runs in the loop's executor); generator functions
    are refused with TypeError.

    Options:
      ns: namespace (str, at most 255 bytes); results are shared within it.
      version: any encodable value; change it to invalidate by hand.
      cost: an irohds.coren.FnCost for the function, else measured.
      min_seconds: a call faster than this gets one notice per process
        that caching it gains little (0 silences it).
      local_only: keep results on this machine: peers are never asked
        for them, and they are never announced or served to peers.
      refresh: always recompute and overwrite (for every call).
      ignore: parameter names left out of the key (e.g. ["verbose",
        "n_jobs"]); the list is part of the function's identity.
      ttl: seconds a result lives after its last access (None: the
        store's default, store.default_ttl).
      verbose: 1 logs waits, daemon start and fallbacks (INFO), 2 also
        every hit and miss (DEBUG), on the "irohds" logger (a stderr
        handler is added when it has none).
      fetch_timeout: seconds a fetch from a peer may take before the
        function is computed here instead (0: no limit; None: the
        config's peers.fetch_timeout, default no limit).
      progress: "auto" (a progress bar on stderr when it is a terminal
        and a fetch from a peer takes over a second), "always", "never";
        None: the config's client.progress (default "auto").

    The decorated function gains:
      f.key(*a, **kw) -> hex key of that call;
      f.refresh(*a, **kw) -> recompute that call and overwrite its result;
      f.cached(*a, **kw) -> bool, whether a result is here (no compute,
        no daemon needed);
      f.cache_info() -> CacheInfo(hits_memory, hits_local, hits_daemon,
        misses, computed, not_stored, currsize, hits_peer, unsafe_refused);
      f.evict() -> number of this function's results the store removed.
    """
    opts = dict(ns=ns, version=version, cost=cost, min_seconds=min_seconds,
                local_only=local_only, refresh=refresh, ignore=ignore, ttl=ttl,
                verbose=verbose, fetch_timeout=fetch_timeout, progress=progress)
    if fn is None:
        return lambda f: make(f, **opts)
    return make(fn, **opts)


def mem(fn: Optional[Callable] = None, *, ns: str = "", version: Any = 0,
        ignore: Iterable[str] = ()) -> Any:
    """In-process only memoization (the key is the same as memo's); the
    same attributes as @irohds.memo, no store, no daemon."""
    opts = dict(ns=ns, version=version, mem_only=True, ignore=ignore)
    if fn is None:
        return lambda f: make(f, **opts)
    return make(fn, **opts)
