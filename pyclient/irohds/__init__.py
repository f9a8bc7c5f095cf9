"""irohds: memoize expensive Python functions and share results peer-to-peer.

    import irohds

    @irohds.memo
    def features(path, scale=1.0): ...

Tiers: in-process (bounded by bytes, LRU) -> the local store (read
directly from its LMDB) -> the daemon (run-once claims between local
processes, and later peers). If the daemon is unavailable the function
is computed locally with one IrohdsWarning. See docs/python.md.

Run once (docs/run-once.md): `for key in irohds.each(keys, ns=...)`
yields the keys this process wins; done keys are skipped on every rerun.
"""
from typing import Iterable, List, Optional, Union

from ._log import IrohdsWarning
from ._decorate import mem, memo
from ._memo import CacheInfo, evict
from ._scratch import FileRef, resolve
from ._memcache import CACHE as _CACHE
from . import _peers
from ._peers import DaemonUnavailable
from ._each import (State, Status, each, each_status, notify_failure, notify_success,
                    run_once)

__all__ = ["memo", "mem", "evict", "FileRef", "File", "resolve", "status", "join",
           "peers", "DaemonUnavailable", "IrohdsWarning", "set_memory_limit", "CacheInfo",
           "ns_create", "ns_join", "ns_list",
           "each", "each_status", "run_once", "notify_success", "notify_failure",
           "Status", "State"]

__version__ = "0.1.0"


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


def join(ns: Optional[str] = None, *, bootstrap: Union[None, str, Iterable[str]] = None,
         timeout: float = 10.0) -> List[dict]:
    """Pre-warm discovery: record namespace ns (if given), start the
    daemon if none runs, ask it to contact each bootstrap peer
    ("tcp://HOST:PORT[#NODEID]", a str or a list of them; without the
    node id its key is trusted on first use and pinned; the config's
    peers.bootstrap is contacted by the daemon anyway), then return
    irohds.peers() as soon as one peer is alive, or after timeout seconds
    (counted from when the daemon answers, if join started it) with
    whatever is known then (logged at INFO; no exception). With no way to
    find a peer (LAN off, no bootstrap anywhere) it returns [] at once.

    A malformed argument, or a bootstrap the daemon refuses (such as this
    node itself), is a ValueError. A daemon that cannot be reached gives
    one IrohdsWarning and returns the peers known so far (none)."""
    return _peers.join(ns, bootstrap=bootstrap, timeout=timeout)


def peers() -> List[dict]:
    """The other nodes the daemon knows, as `irohds-ctl peers --json`:
    dicts with id, name, address, state (alive, suspect, dead), rtt_ms
    (None before the first probe), cpu_idle (percent), ram_free (bytes),
    gpu (None or {"model", "mem_free"}), status (busy, idle), results,
    load, version, last_seen_s (None if never heard from directly).
    Raises irohds.DaemonUnavailable (a ConnectionError) when no daemon
    answers; it does not start one."""
    return _peers.peers()


def joined() -> list:
    return _peers.joined()


def ns_create(name: str) -> str:
    """Make namespace name with a fresh 256-bit secret (`irohds-ctl ns
    create`) and return its join token, one shell-safe word "irohds1:...":
    give it only to the nodes you trust. The namespace counts as joined.
    ValueError if the name exists already or is not 1..255 bytes of
    printable UTF-8 (docs/namespaces.md)."""
    from . import _ns
    return _ns.ns_create(name)


def ns_join(token: str) -> str:
    """Join the namespace of a token (`irohds-ctl ns join`): its secret is
    kept under the home (0600) and the node it names is contacted now if
    the daemon runs, and at every daemon start. Returns the namespace's
    name. ValueError for a damaged token, saying why."""
    from . import _ns
    return _ns.ns_join(token)


def ns_list() -> List[dict]:
    """The namespaces with a secret of this home, as `irohds-ctl ns ls
    --json`: dicts with name, id and bootstrap (never the secret).
    ValueError if a secret file is refused (mode, symlink, damaged)."""
    from . import _ns
    return _ns.ns_list()


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
