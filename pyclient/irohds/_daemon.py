"""Calls to the daemon's store service (proto/store.def) for the memo
tiers: claim / wait / get / put / release / evict, with the back-off that
keeps a dead or failed daemon from costing a timeout on every call.

Every function here either returns the decoded reply or raises DaemonDown
(after one warning per cause and process); callers then compute locally.
"""
import os
import socket
import threading
import time
import uuid

from . import _config
from . import _log
from . import _proto
from . import _transport

ZERO32 = bytes(32)
WAIT_MS = 30000

# Claim lease: short, renewed every third of it while the function runs
# (_background), so a holder that dies blocks its waiters for at most one
# lease even when the store cannot tell. IROHDS_LEASE_MS overrides.
DEFAULT_LEASE_MS = 10000

# After the daemon or its store failed (unreachable, actor-down, failed),
# stop asking for a while and compute at full speed: 1 s, doubling to 30 s.
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
# Errors that say the service, not this request, is in trouble.
_DOWN_CODES = frozenset({"actor-down", "actor-failed", "unknown-service", "overload",
                         "no-service"})


def lease_ms():
    return int(os.environ.get("IROHDS_LEASE_MS") or DEFAULT_LEASE_MS)


class DaemonDown(Exception):
    """The daemon cannot help with this call; compute locally."""


class _State:
    """Per-process state (rebuilt after fork): the holder id of our claims
    and the back-off after a failure."""

    def __init__(self):
        self.pid = os.getpid()
        self.holder = "%d@%s/%s" % (self.pid, socket.gethostname()[:64], uuid.uuid4().hex)
        self.down_until = 0.0
        self.backoff = 0.0
        self.lock = threading.Lock()

    def failed(self):
        with self.lock:
            self.backoff = min(BACKOFF_MAX, max(BACKOFF_MIN, self.backoff * 2))
            self.down_until = time.monotonic() + self.backoff
        _log.count("backoffs")
        _log.log.info("irohds: not asking the daemon for %.0fs", self.backoff)

    def ok(self):
        if self.backoff:
            with self.lock:
                self.backoff = 0.0


_state = _State()


def state():
    return _state


def _after_fork():
    global _state
    _state = _State()


os.register_at_fork(after_in_child=_after_fork)


def holder():
    return _state.holder


def is_down():
    return time.monotonic() < _state.down_until


def call(service, name, timeout=None, extra=(), after_send=None, **fields):
    """Transport call that honours a short back-off after the daemon was
    found unreachable (so a dead daemon costs one timeout, not one per
    call); raises DaemonDown after warning once. after_send: called once
    the request is on its way, before its reply is awaited."""
    st = _state
    if time.monotonic() < st.down_until:
        _log.count("daemon_skipped")
        raise DaemonDown()
    try:
        frames = _transport.get_transport().call(service, name, timeout=timeout,
                                                 extra=extra, after_send=after_send,
                                                 **fields)
    except _transport.Unavailable as e:
        st.failed()
        _log.count("daemon_down")
        _log.warn_once("daemon", "irohds: the irohds daemon is not reachable (%s); "
                                 "results are computed here and kept in this process "
                                 "only. Start it with `irohds-ctl up`" % e)
        raise DaemonDown() from None
    except _transport.ServiceError as e:
        if e.code in _DOWN_CODES:
            st.failed()
            _log.count("daemon_down")
        _log.count("store_errors")
        _log.warn_once("svc:" + e.code, "irohds: the store answered %s (%s); results "
                       "are computed here, not stored. `irohds-ctl status` shows the "
                       "store's state" % (e.code, e.text))
        raise DaemonDown() from None
    st.ok()
    return frames


def decode(frames, expect):
    if not frames:
        raise _proto.ProtoError("empty reply")
    return _proto.decode(frames[0], expect)


# ---------------------------------------------------------------- requests

def claim(key, after_send=None):
    """claim_reply fields ({"status", "holder", "expires_us"}). after_send:
    see call (the peer lookup is sent there, right behind the claim)."""
    try:
        return decode(call("store", "claim", key=key, holder=_state.holder,
                           lease_ms=lease_ms(), after_send=after_send), "claim_reply")[1]
    except _proto.ProtoError:
        raise DaemonDown() from None


def renew(key):
    """Re-claim a key we hold (lease renewal); problems are ignored: the
    put that follows reports them."""
    try:
        _transport.get_transport().call("store", "claim", key=key, holder=_state.holder,
                                        lease_ms=lease_ms())
    except Exception:
        pass


def wait(key, wait_ms):
    """wait_reply status: 0 stored, 1 timeout, 2 claim released/expired."""
    timeout = wait_ms / 1000.0 + _config.get().timeout
    frames = call("store", "wait", timeout=timeout, key=key, timeout_ms=wait_ms)
    try:
        return decode(frames, "wait_reply")[1]["status"]
    except _proto.ProtoError:
        return 1


def get(key, want_path=1, timeout=None):
    """Reply frames of a get."""
    return call("store", "get", key=key, want_path=want_path, timeout=timeout)


def put(fields, extra=()):
    """put_ok fields."""
    try:
        return decode(call("store", "put", extra=extra, holder=_state.holder, **fields),
                      "put_ok")[1]
    except _proto.ProtoError:
        raise DaemonDown() from None


def release(key):
    try:
        call("store", "release", key=key, holder=_state.holder)
    except DaemonDown:
        pass


def evict(fn=None, key=ZERO32):
    """Number of results the store removed (0 when it cannot be asked)."""
    try:
        return decode(call("store", "evict", fn=fn or "", key=key), "evicted")[1]["count"]
    except (DaemonDown, _proto.ProtoError):
        return 0
