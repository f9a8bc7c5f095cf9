"""Asking the peers on a local miss (service "gossip", proto/gossip.def
gossip_lookup), for the memo tiers (_memo): one request asks gossip
whether a peer holds the result and whether fetching it beats computing.
It is sent (start) right behind the claim on the key, so the two round
trips overlap, and its answer is used (finish) only when that claim was
granted at once; otherwise it is dropped (abandon) and asked again once
the claim is ours.

gossip answers at once when no peer's digest may hold the key (no network
round trip: the digests are local); otherwise it asks the candidates, asks
"cap" for the verdict and, when fetching wins, answers only once the
result is in the local store. That may take as long as a big transfer,
so there is no short fixed timeout: the caller's fetch_timeout (0: none)
goes to gossip, and while the reply is outstanding a watcher (_progress)
polls gossip_fetches on a second socket (its own thread) to draw a
progress bar and to notice a gossip that died or lost the request.

Nothing here ever raises into the user's call: every problem (gossip
missing, an error answer, an unreadable reply, a lost request) returns
None and the caller computes. After gossip failed, it is not asked for a
while (1 s doubling to 30 s), so a daemon without a working gossip costs
one request, not one per call.
"""
import os
import threading
import time

from . import _config
from . import _log
from . import _proto
from . import _transport

# gossip_lookup_reply status values (proto/gossip.def).
FETCHED, NO_CANDIDATE, NOT_FOUND, COMPUTE, FAILED = range(5)
STATUS_NAMES = ("fetched", "no_candidate", "not_found", "compute", "failed")

FLAG_DECIDE_ONLY = 1        # gossip_lookup.flags bit 0

SLICE = 0.25                # seconds between checks while the reply is outstanding
WATCH_AFTER = 1.0           # start the watcher (and maybe a bar) after this wait
# A lookup that never shows up in gossip_fetches (it is still asking the
# candidates, or the request was lost in a gossip restart) is given up
# after LOOKUP_GRACE; one that was listed and vanished without a reply
# after GONE_GRACE (the reply follows the ingest at once). Giving up only
# costs a computation the fetch might have saved, never a wrong value.
LOOKUP_GRACE = 30.0
GONE_GRACE = 10.0
# A transfer whose verified bytes have not grown for this long is stalled:
# gossip itself gives up after 60 s without a live holder, so this only
# ends waits gossip failed to end (a call must never hang on a peer).
STALL_GRACE = 120.0
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0


class _State:
    """Per-process (rebuilt after fork): back-off after gossip failed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.backoff = 0.0

    def failed(self, why):
        with self.lock:
            self.backoff = min(BACKOFF_MAX, max(BACKOFF_MIN, self.backoff * 2))
            self.down_until = time.monotonic() + self.backoff
        _log.count("lookup_errors")
        _log.log.info("irohds: not asking peers for %.0fs: %s", self.backoff, why)

    def ok(self):
        if self.backoff:
            with self.lock:
                self.backoff = 0.0


_state = _State()


def _after_fork():
    global _state
    _state = _State()


os.register_at_fork(after_in_child=_after_fork)


def f64(bits):
    """A t_compute / t_fetch field (IEEE-754 binary64 bits) as a float."""
    import struct
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


class Pending:
    """A gossip_lookup sent and not yet answered (start, then finish or
    abandon)."""
    __slots__ = ("t", "rid", "cfg", "sent")

    def __init__(self, t, rid, cfg):
        self.t, self.rid, self.cfg, self.sent = t, rid, cfg, time.monotonic()


def start(key, ns, fn, cost, wall_us, timeout):
    """Send the gossip_lookup for key: a Pending, or None when gossip
    cannot be asked (the caller computes). It may be sent before the claim
    is granted, so that the two round trips overlap (the reply waits on
    this thread's socket, kept from other requests' recv).
    cost: (flops, mem_bytes, peak_mem, result_bytes), zeros for "use the
    holder's"; timeout: seconds gossip may spend fetching (0: no limit)."""
    st = _state
    if time.monotonic() < st.down_until:
        _log.count("lookup_skipped")
        return None
    t = _transport.get_transport()
    cfg = _config.get()
    timeout_ms = min(int(timeout * 1000), 0xFFFFFFFF) if timeout > 0 else 0
    try:
        rid = t.send("gossip", "gossip_lookup", timeout=cfg.timeout, key=key, ns=ns,
                     fn=fn[:1024], flops=cost[0], mem_bytes=cost[1], peak_mem=cost[2],
                     result_bytes=cost[3], wall_us=wall_us, timeout_ms=timeout_ms)
    except (_transport.Unavailable, _proto.ProtoError) as e:
        st.failed(str(e))
        return None
    t.keep(rid)
    return Pending(t, rid, cfg)


def abandon(pending):
    """Not waiting for this lookup any more (its late reply is dropped;
    a fetch it started goes on in gossip and lands in the store)."""
    if pending is not None:
        pending.t.forget(pending.rid)


def finish(pending, key, timeout, progress, label):
    """The gossip_lookup_reply fields (a dict) of a started lookup, or None
    when gossip gave no usable answer (the caller computes).
    progress: "auto", "always" or "never"; label: the function's name for
    the bar."""
    if pending is None:
        return None
    st = _state
    t = pending.t
    try:
        frames = _wait(t, pending.rid, key, timeout, progress, label, pending.cfg)
    except _transport.ServiceError as e:
        st.failed("gossip answered %s (%s)" % (e.code, e.text))
        return None
    finally:
        t.forget(pending.rid)
    if frames is None:
        return None
    try:
        reply = _proto.decode(frames[0], "gossip_lookup_reply")[1]
    except (_proto.ProtoError, IndexError) as e:
        st.failed("unreadable gossip_lookup_reply: %s" % e)
        return None
    if reply["status"] >= len(STATUS_NAMES):
        st.failed("gossip_lookup_reply status %d" % reply["status"])
        return None
    st.ok()
    _log.count("lookup_" + STATUS_NAMES[reply["status"]])
    return reply


def lookup(key, ns, fn, cost, wall_us, timeout, progress, label):
    """start then finish: the reply fields, or None (the caller computes)."""
    return finish(start(key, ns, fn, cost, wall_us, timeout), key, timeout, progress, label)


def _wait(t, rid, key, timeout, progress, label, cfg):
    """Reply frames of the lookup, or None after giving up on it."""
    start = time.monotonic()
    # gossip enforces timeout itself; this is the backstop should it not.
    limit = timeout + cfg.timeout + 5.0 if timeout > 0 else None
    watch = None
    try:
        try:
            return t.recv(rid, WATCH_AFTER)
        except _transport.Unavailable:
            pass
        from . import _progress
        watch = _progress.Watch(key, label, progress, cfg.timeout)
        watch.start()
        while True:
            try:
                return t.recv(rid, SLICE)
            except _transport.Unavailable:
                pass
            now = time.monotonic()
            why = None
            if watch.dead:
                why = "gossip stopped answering"
            elif not watch.blind and watch.seen_at is None and now - start > LOOKUP_GRACE:
                why = "no transfer started within %.0fs" % LOOKUP_GRACE
            elif not watch.blind and watch.seen_at is not None and \
                    now - watch.seen_at > GONE_GRACE:
                why = "the transfer ended without an answer"
            elif watch.moved_at is not None and now - watch.moved_at > STALL_GRACE:
                why = "the transfer made no progress for %.0fs" % STALL_GRACE
            elif limit is not None and now - start > limit:
                why = "no answer within fetch_timeout (%gs)" % timeout
            if why:
                _log.count("lookup_abandoned")
                _log.log.info("irohds: %s: gave up waiting for peers after %.1fs (%s); "
                              "computing", label, now - start, why)
                return None
    finally:
        if watch is not None:
            watch.finish()
