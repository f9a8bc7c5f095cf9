"""irohds: memoize expensive Python functions and share results peer-to-peer.

    import irohds

    @irohds.memo
    def features(path, scale=1.0): ...

Tiers: in-process (bounded by bytes, LRU) -> the local store (read
directly from its LMDB) -> the daemon (run-once claims between local
processes, and later peers). If the daemon is unavailable the function
is computed locally with one IrohdsWarning. See docs/python.md.
"""
from ._log import IrohdsWarning
from ._decorate import mem, memo
from ._memo import CacheInfo, evict
from ._scratch import FileRef, resolve
from ._memcache import CACHE as _CACHE

__all__ = ["memo", "mem", "evict", "FileRef", "File", "resolve", "status", "join",
           "IrohdsWarning", "set_memory_limit", "CacheInfo"]

__version__ = "0.1.0"

_joined = set()


def __getattr__(name):
    # File lives in _keys (key derivation); imported lazily so that
    # `import irohds` stays cheap.
    if name == "File":
        from ._keys import File
        return File
    raise AttributeError("module 'irohds' has no attribute %r" % name)


def set_memory_limit(nbytes: int) -> None:
    """Bound the in-process tier to nbytes (default 256 MiB; also
    IROHDS_MEM_BYTES or config client.mem_bytes)."""
    _CACHE.set_budget(nbytes)


def join(ns: str) -> None:
    """Record interest in namespace ns (used for discovery when peers
    exist; accepted and remembered now)."""
    if not isinstance(ns, str) or not ns or len(ns.encode()) > 255:
        raise ValueError("irohds.join: namespace must be a non-empty str of at "
                         "most 255 bytes")
    _joined.add(ns)


def joined() -> list:
    return sorted(_joined)


def status() -> dict:
    """{"home", "daemon": bool, "actors": [rows of sup status],
    "store": {stat: value}, "memory": {...}, "client": {counter: n}}
    without raising. "client" counts what this process could not do
    (disk_full, stage_errors, put_failed, daemon_down, backoffs, ...)."""
    from . import _config, _log, _transport
    out = {"home": _config.home(), "daemon": False, "actors": [], "store": {},
           "memory": {"entries": len(_CACHE.lru), "bytes": _CACHE.total,
                      "budget": _CACHE.budget},
           "client": dict(_log.counters),
           "namespaces": joined()}
    t = _transport.get_transport()
    try:
        out["actors"] = _transport.parse_table(t.call("sup", "status"))
        out["daemon"] = True
    except (_transport.Unavailable, _transport.ServiceError, ValueError) as e:
        out["error"] = str(e)
        return out
    try:
        rows = _transport.parse_table(t.call("store", "stats"))
        out["store"] = {r["name"]: r["value"] for r in rows}
    except (_transport.Unavailable, _transport.ServiceError, ValueError) as e:
        out["store_error"] = str(e)
    return out
