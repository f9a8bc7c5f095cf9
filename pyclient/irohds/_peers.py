"""irohds.peers() and irohds.join(): the other nodes this node's daemon
knows (its gossip service, request gossip_peers) and adding some at run
time (gossip_join), from Python.

peers() returns exactly what `irohds-ctl peers --json` prints: FIELDS
below is the one Python definition of how a row of the gossip_peers table
becomes such an object (same keys in the same order, same units, same
null rules as ctl/cmd_peers.c). peers() never starts a daemon: a listing
should not leave a long-running process behind, so no daemon is an error
(DaemonUnavailable). join() does start one, like a memoized call.
"""
import collections.abc
import math
import re
import time
from typing import Iterable, List, Optional, Tuple, Union

from . import _log
from . import _transport

# ------------------------------------------------------------------ errors


class DaemonUnavailable(ConnectionError):
    """irohds.peers() could not ask the daemon: none answers for this home,
    or its gossip service cannot answer (failed, or an unreadable reply)."""


# -------------------------------------------------- table row -> peer dict
#
# gossip_peers columns (proto/gossip.def): id name address state rtt_us
# cpu_idle_ppm ram_free load1_milli gpu gpu_mem_free status results
# version incarnation last_seen_ms. A column the daemon did not send reads
# as 0 or "", as irohds-ctl reads it.

def _num(row, column):
    value = row.get(column, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(column):
    def get(row):
        value = row.get(column, "")
        return value if isinstance(value, str) else ""
    return get


def _count(column):
    return lambda row: _num(row, column)


def _scaled(column, divisor, zero_is_null=False):
    """column / divisor as a float; None for 0 when 0 means "not yet"
    (no probe answered, never heard from directly)."""
    def get(row):
        value = _num(row, column)
        if zero_is_null and value == 0:
            return None
        # float() first, as C's (double) u64 / 1000.0: bit-identical values.
        return float(value) / divisor
    return get


def _gpu(row):
    model = _text("gpu")(row)
    if not model:
        return None
    return {"model": model, "mem_free": _num(row, "gpu_mem_free")}


FIELDS = (
    ("id", _text("id")),                        # 64 lowercase hex
    ("name", _text("name")),
    ("address", _text("address")),              # tcp://IP:PORT
    ("state", _text("state")),                  # alive, suspect, dead
    ("rtt_ms", _scaled("rtt_us", 1000.0, zero_is_null=True)),
    ("cpu_idle", _scaled("cpu_idle_ppm", 10000.0)),   # percent
    ("ram_free", _count("ram_free")),           # bytes
    ("gpu", _gpu),                              # None or {model, mem_free}
    ("status", _text("status")),                # busy, idle
    ("results", _count("results")),
    ("load", _scaled("load1_milli", 1000.0)),   # 1-minute load average
    ("version", _text("version")),
    ("last_seen_s", _scaled("last_seen_ms", 1000.0, zero_is_null=True)),
)


def peer_from_row(row: dict) -> dict:
    """One gossip_peers row (as _transport.parse_table gives it) as the
    object `irohds-ctl peers --json` prints for it."""
    return {key: get(row) for key, get in FIELDS}


def _peer_list(frames) -> list:
    try:
        rows = _transport.parse_table(frames)
    except (ValueError, UnicodeDecodeError) as e:
        raise DaemonUnavailable("irohds.peers: the gossip service's reply cannot be read "
                                "(%s)" % e) from None
    return [peer_from_row(row) for row in rows]


# ----------------------------------------------------------------- peers()

def peers() -> List[dict]:
    """The other nodes this node's daemon knows (never this one): a list
    of dicts with the keys of `irohds-ctl peers --json`. Raises
    DaemonUnavailable when no daemon answers for this home (it is not
    started here) or its gossip service cannot answer."""
    t = _transport.get_transport()
    try:
        frames = t.call("gossip", "gossip_peers", start=False)
    except _transport.Unavailable as e:
        raise DaemonUnavailable(
            "irohds.peers: no irohds daemon answers for %s (%s); start one with "
            "`irohds-ctl up` or irohds.join()" % (t.home, e)) from None
    except _transport.ServiceError as e:
        raise DaemonUnavailable("irohds.peers: the daemon's gossip service answered %s (%s)"
                                % (e.code, e.text)) from None
    return _peer_list(frames)


# ------------------------------------------------------ address validation
#
# The rules of gossip_address_valid (the daemon and irohds-ctl check with
# it): tcp://HOST:PORT, HOST of ASCII letters, digits, '.' and '-', PORT
# 1..65535 in at most 5 digits, the address at most 64 bytes; then the
# node id, which a first contact needs (it is the key the link is
# encrypted to): 64 lowercase hex characters.

_ADDRESS = re.compile(r"tcp://[A-Za-z0-9.-]+:([0-9]{1,5})")
_NODE_ID = re.compile(r"[0-9a-f]{64}")
ADDRESS_MAX = 64
_FORM = "tcp://HOST:PORT[#NODEID]"


def parse_bootstrap_entry(entry: str) -> Tuple[str, str]:
    """(address, node_id) of "tcp://HOST:PORT[#NODEID]"; node_id is ""
    without "#NODEID" (the daemon then trusts the key the peer announces on
    first use and pins it, docs/peers.md). ValueError saying what is wrong
    otherwise."""
    if not isinstance(entry, str):
        raise ValueError("irohds.join: bootstrap entry %r is not a str (%s)" % (entry, _FORM))
    address, hash_, node_id = entry.partition("#")
    match = _ADDRESS.fullmatch(address)
    if (not match or len(address.encode()) > ADDRESS_MAX
            or not 1 <= int(match.group(1)) <= 65535):
        raise ValueError("irohds.join: %r is not %s (HOST: letters, digits, '.' and '-'; "
                         "PORT: 1-65535; at most %d bytes before '#')"
                         % (entry, _FORM, ADDRESS_MAX))
    if not hash_:
        return address, ""
    if not _NODE_ID.fullmatch(node_id):
        raise ValueError("irohds.join: %r: the node id must be 64 lowercase hex characters "
                         "(%s)" % (entry, _FORM))
    return address, node_id


def parse_bootstrap(bootstrap) -> List[Tuple[str, str]]:
    """bootstrap= of join(): None, one str or an iterable of str, each
    "tcp://HOST:PORT#NODEID"; all are checked before any is used.
    Duplicates are dropped (first kept)."""
    if bootstrap is None:
        return []
    if isinstance(bootstrap, str):
        bootstrap = [bootstrap]
    elif (isinstance(bootstrap, (bytes, bytearray, collections.abc.Mapping))
          or not isinstance(bootstrap, collections.abc.Iterable)):
        raise ValueError("irohds.join: bootstrap must be a str or a list of str (%s), not %s"
                         % (_FORM, type(bootstrap).__name__))
    out = []
    for entry in bootstrap:
        parsed = parse_bootstrap_entry(entry)
        if parsed not in out:
            out.append(parsed)
    return out


def _check_timeout(timeout) -> float:
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout) or timeout < 0):
        raise ValueError("irohds.join: timeout must be a finite number of seconds >= 0, "
                         "not %r" % (timeout,))
    return float(timeout)


def check_namespace(ns) -> str:
    if not isinstance(ns, str) or not ns or len(ns.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError("irohds.join: namespace must be a non-empty str of at "
                         "most 255 bytes")
    return ns


# ------------------------------------------------------------------ join()

_joined = set()
POLL_S = 0.1
# Answers that say "not now" (the gossip actor is starting or being
# restarted by the supervisor): join keeps asking until its timeout.
_TRANSIENT = frozenset({"actor-down", "overload", "busy"})
_HINT_BOOTSTRAP = ("Check the address, the node id and that the peer's port is reachable "
                   "(`irohds-ctl peers --stats` counts failed handshakes)")
_HINT_ALONE = ("No bootstrap was given: peers come from LAN beacons (discovery.lan), the "
               "config's peers.bootstrap, or nodes that join this one")


def joined() -> List[str]:
    return sorted(_joined)


def note_joined(ns: str) -> None:
    """Record ns as joined by this process (irohds.ns_create, ns_join)."""
    _joined.add(ns)


def _alive(listed) -> bool:
    return any(p["state"] == "alive" for p in listed)


def join(ns: Optional[str] = None, *, bootstrap: Union[None, str, Iterable[str]] = None,
         timeout: float = 10.0) -> List[dict]:
    """See irohds.join."""
    if ns is not None:
        check_namespace(ns)
    entries = parse_bootstrap(bootstrap)
    timeout = _check_timeout(timeout)
    if ns is not None:
        _joined.add(ns)
    start = time.monotonic()
    deadline = start + timeout
    t = _transport.get_transport()
    # The timeout is the time given to discovery: when this call has to
    # start the daemon (seconds on a loaded machine), it counts from when
    # the daemon answers.
    had_daemon = t.started_daemon
    pending = list(entries)
    listed = []
    alone = None            # no LAN discovery and no bootstrap: nobody to wait for
    while True:
        try:
            while pending:
                address, node_id = pending[0]
                try:
                    t.call("gossip", "gossip_join", address=address, node_id=node_id)
                except _transport.ServiceError as e:
                    if e.code == "bad-request":
                        raise ValueError("irohds.join: the daemon refused %s#%s: %s"
                                         % (address, node_id, e.text)) from None
                    raise
                pending.pop(0)
                _log.log.info("irohds.join: asked the daemon to contact %s%s", address,
                              "#%.12s..." % node_id if node_id else " (key trusted on first use)")
            listed = _peer_list(t.call("gossip", "gossip_peers"))
            # Asked once: discovery's settings do not change during a join.
            if alone is None and not entries and not listed:
                alone = _no_source_of_peers(t)
            if alone:
                _log.log.info("irohds.join: no peer to find (LAN discovery off, no bootstrap "
                              "given or configured): returning at once. %s", _HINT_ALONE)
                return listed
            if t.started_daemon and not had_daemon:
                had_daemon = True
                start = time.monotonic()
                deadline = start + timeout
            if _alive(listed):
                _log.log.info("irohds.join: %d peer(s) alive after %.2f s",
                              sum(p["state"] == "alive" for p in listed),
                              time.monotonic() - start)
                return listed
        except _transport.Unavailable as e:
            _log.count("daemon_down")
            return _degraded(listed, "daemon", "the irohds daemon is not reachable (%s)" % e)
        except _transport.ServiceError as e:
            if e.code not in _TRANSIENT:
                return _degraded(listed, "gossip:" + e.code,
                                 "the daemon's gossip service answered %s (%s)"
                                 % (e.code, e.text))
        except DaemonUnavailable as e:
            return _degraded(listed, "gossip:reply", str(e))
        left = deadline - time.monotonic()
        if left <= 0:
            _log.log.info("irohds.join: no peer alive after %.1f s (%d known%s); returning "
                          "what the daemon has. %s", timeout, len(listed),
                          "; %d join(s) not delivered" % len(pending) if pending else "",
                          _HINT_BOOTSTRAP if entries else _HINT_ALONE)
            return listed
        time.sleep(min(POLL_S, left))


def _no_source_of_peers(t) -> bool:
    """True when this daemon has no way to find a peer by itself: LAN
    discovery off and no peers.bootstrap entry. Then waiting for the
    timeout could only catch a node that joins us, which a caller that
    expects that passes bootstrap= from the other side anyway."""
    try:
        rows = _transport.parse_table(t.call("discovery", "discovery_stats"))
    except (_transport.Unavailable, _transport.ServiceError, ValueError):
        return False
    stats = {r.get("name"): r.get("value") for r in rows}
    return str(stats.get("lan")) == "0" and str(stats.get("bootstrap_peers")) == "0"


def _degraded(listed, tag, why):
    """The daemon cannot help: one IrohdsWarning per process and cause (a
    missing daemon shares its tag with the memoized calls' warning) and
    what we had, never an exception."""
    _log.warn_once(tag, "irohds: %s; irohds.join returns the peers known so far (%d). "
                        "`irohds-ctl status` shows the daemon's state" % (why, len(listed)))
    return listed
