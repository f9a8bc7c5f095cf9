"""Run-once claims and done marks: the one module through which
irohds.each, run_once, notify_*, each_status and @irohds.memo ask who may
run a key and say that it is done (docs/run-once.md, docs/python.md).

Two routes, one answer:
- across machines, the key's arbiter (docs/claims.md): the request
  gossip_claim (proto/gossip.def) to this node's gossip, which asks the
  live member of the namespace that ranks first for each key (this node's
  own store when that is this node);
- on one machine, the store's claims (proto/store.def each_pass /
  each_claim / each_list, claim / release) as before.
gossip answers "alone" when the namespace has no live member but this
node; its answer is then the local store's, and, when no peer is known
at all, for ALONE_FOR seconds the store is asked directly, so a node
without peers pays one gossip round trip (and one gossip_peers) per
ALONE_FOR, not one per key. A gossip that cannot be asked
(an older daemon, an error) is not asked for a while (1 s doubling to
30 s) and the store answers alone: a broken gossip costs exactly-once
across machines, never a run on this one.

Costs: one request per `step`, which carries the done marks of finished
keys and claims the next free key of a window of up to 16384 keys, so a
pass costs about one round trip per key it runs and one per 16384 keys it
skips; a remote arbiter adds one data-socket round trip to it. Requests
are counted in the client counters (irohds.status()["client"]):
"each_requests" (store), "claims_remote" (gossip_claim), and
"claims_unreachable", "lease_lost", "claims_gossip_errors" below.

Every function raises _daemon.DaemonDown when the store cannot answer
(after one warning per process); callers degrade (docs/run-once.md).
"""
import os
import socket
import struct
import threading
import time
import uuid

from . import _config
from . import _daemon
from . import _log
from . import _proto
from . import _transport

# States of each_claim_reply (store.def) and gossip_claim_reply
# (gossip.def); UNREACHABLE only from the arbiters: the key's arbiter did
# not answer in time, so the caller must neither run nor skip the key.
GRANTED, HELD, DONE, FREE, UNREACHABLE = 0, 1, 2, 3, 4
KIND_MEMO, KIND_EACH = 0, 1     # gossip_claim.kind

MAX_KEYS = 16384            # keys per each_claim (store.def)
MAX_DONE = 4096             # done marks per each_claim
MAX_PASS = 4000             # keys per each_pass (the broker takes 4096 frames)
NAME_MAX = 1024             # bytes of a display name
ALONE_FOR = 1.0             # seconds an "alone" answer is trusted for its ns
BACKOFF_MIN = 1.0           # gossip failed: not asked for 1 s, doubling ...
BACKOFF_MAX = 30.0          # ... up to 30 s
RELEASE_MS = 1              # a lease this short is a release (gossip_claim has none)
RETRY_S = 0.3               # an arbiter did not answer: ask again after this
DONE_RETRY_S = 30.0         # done marks are sent again for this long at most

def new_holder():
    """A holder id for one pass or one run_once call: "pid@host/uuid" (the
    store tells a dead local holder by its pid and host), unique per pass
    so that two passes of one process never share a claim."""
    return "%d@%s/%s" % (os.getpid(), socket.gethostname()[:64], uuid.uuid4().hex)


def display_name(key):
    """What `irohds-ctl each NS --keys` shows for a task key: a str as
    itself, bytes as their repr; at most NAME_MAX bytes of UTF-8."""
    text = key if isinstance(key, str) else repr(key)
    raw = text.encode("utf-8", "backslashreplace")
    if len(raw) > NAME_MAX:
        raw = raw[:NAME_MAX].decode("utf-8", "ignore").encode("utf-8")
    return raw


def _call(name, extra=(), **fields):
    _log.count("each_requests")
    return _daemon.call("store", name, extra=extra, **fields)


# ---------------------------------------------------------------- the arbiters

class _Route:
    """Per process (rebuilt after fork): which namespaces answered "alone"
    lately, and the back-off after gossip failed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.alone = {}             # ns -> monotonic time until which it is alone
        self.known = {}             # ns -> until when "alone, but peers are known"
        self.down_until = 0.0
        self.backoff = 0.0

    def local(self, ns):
        """True when the store alone answers for ns now (no gossip asked)."""
        now = time.monotonic()
        return now < self.down_until or self.alone.get(ns, 0.0) > now or _daemon.is_down()

    def alone_now(self, ns):
        """gossip said ns has no live member but this node. With no peer
        known at all, the store alone decides for ALONE_FOR seconds. A
        node whose peers are all dead (cut off: a partition, a laptop
        offline) keeps asking gossip: it is the arbiter of every key now,
        and the done marks it decides are what it tells the others when
        they come back, so that runs on both sides are counted."""
        now = time.monotonic()
        if self.known.get(ns, 0.0) > now:
            return
        try:
            rows = _transport.parse_table(_transport.get_transport().call(
                "gossip", "gossip_peers", start=False))
        except Exception:           # cannot tell: as without peers
            rows = ()
        if rows:
            self.known[ns] = now + ALONE_FOR
        else:
            self.alone[ns] = now + ALONE_FOR

    def failed(self, why):
        with self.lock:
            self.backoff = min(BACKOFF_MAX, max(BACKOFF_MIN, self.backoff * 2))
            self.down_until = time.monotonic() + self.backoff
        _log.count("claims_gossip_errors")
        _log.log.info("irohds: claims: not asking gossip for %.0fs (%s); this machine's "
                      "store alone decides who runs a key", self.backoff, why)


_route = _Route()


class Answer:
    """The arbiters' answer: a state per key looked at, the ms left of each
    granted or held lease, the holder's (or finisher's) node, and whether
    this node was alone in the namespace."""
    __slots__ = ("states", "left_ms", "nodes", "alone")

    def __init__(self, states, left_ms, nodes, alone):
        self.states, self.left_ms, self.nodes, self.alone = states, left_ms, nodes, alone


def ask(ns, kind, holder, lease_ms, want, done=(), keys=(), timeout_ms=0, keep=False):
    """gossip_claim: an Answer from the keys' arbiters, or None when the
    local store must answer instead (ns alone lately, gossip cannot be
    asked). keep: want counts per arbiter and every grant answered is the
    caller's (proto/gossip.def flags bit 0). Never raises."""
    assert len(done) <= MAX_DONE and len(keys) <= MAX_KEYS
    r = _route
    if r.local(ns):
        return None
    _log.count("claims_remote")
    wait = (timeout_ms or 5000) / 1000.0 + _config.get().timeout
    try:
        frames = _transport.get_transport().call(
            "gossip", "gossip_claim", timeout=wait, start=False, ns=ns, kind=kind,
            holder=holder, lease_ms=lease_ms, want=want, timeout_ms=timeout_ms,
            flags=1 if keep else 0, done=b"".join(done), keys=b"".join(keys))
    except _transport.Unavailable:
        return None                 # no daemon: the store's own call says so
    except _transport.ServiceError as e:
        r.failed("gossip answered %s: %s" % (e.code, e.text))
        return None
    except _proto.ProtoError as e:  # our own fields: a bug, never outside input
        raise ValueError("irohds: gossip_claim: %s" % e) from None
    try:
        reply = _daemon.decode(frames, "gossip_claim_reply")[1]
        st, raw, nodes = bytes(reply["states"]), reply["expires"], bytes(reply["nodes"])
        n = len(st)
        if n > len(keys) or len(raw) != 8 * n or len(nodes) != 32 * n or \
                any(x > UNREACHABLE for x in st):
            raise _proto.ProtoError("inconsistent sizes or states")
    except _proto.ProtoError as e:
        r.failed("unreadable gossip_claim_reply: %s" % e)
        return None
    if r.backoff:
        with r.lock:
            r.backoff = 0.0
    if reply["alone"]:
        r.alone_now(ns)
    elif ns in r.alone:
        r.alone.pop(ns, None)
    if UNREACHABLE in st:
        _log.count("claims_unreachable", st.count(UNREACHABLE))
    return Answer(st, struct.unpack(">%dQ" % n, raw),
                  [nodes[i * 32:i * 32 + 32] for i in range(n)], bool(reply["alone"]))


# ---------------------------------------------------------------- run once (kind 1)

def record(ns, skeys, names):
    """Record a pass's keys (store keys and display names) in ns, in this
    machine's store (`irohds-ctl each NS` counts and names them)."""
    for i in range(0, len(skeys), MAX_PASS):
        part = skeys[i:i + MAX_PASS]
        _call("each_pass", extra=names[i:i + MAX_PASS], ns=ns, keys=b"".join(part))


def step(ns, holder, lease_ms, want, done=(), keys=(), keep=False):
    """Mark `done` (store keys) done, then look at `keys` in order and
    claim free ones until `want` are granted (keep: `want` per arbiter,
    so several may be granted, all the caller's to run). Returns (states, expires,
    pending): a state per key looked at (GRANTED, HELD, DONE, FREE,
    UNREACHABLE; shorter than keys when the want-th grant came first, or
    when the request had no room for all), the lease end (us since the
    epoch) of each granted or held one, and the keys of `done` whose
    arbiter did not answer (send them again). Asked of the keys'
    arbiters, or of the store when ns is alone here."""
    if _route.local(ns):
        return _store_step(ns, holder, lease_ms, want, done, keys) + ([],)
    # Keys with a done mark in this machine's store are done (a mark is
    # never taken back) and are not asked: the key's arbiter may not know
    # it, when the mark was made under another arbiter (before a partition
    # healed, or a member joined) and copied here as the worker's node,
    # arbiter or successor. One read-only LMDB lookup per key (~µs).
    mine = _done_here(keys) if keys else ()
    rest = [k for i, k in enumerate(keys) if i not in mine] if mine else list(keys)
    # The done keys are looked at too, first: DONE says their arbiter has
    # the mark, UNREACHABLE that it did not answer (the mark would be
    # lost there, and the key handed out again by the next arbiter).
    nd = len(done)
    rest = rest[:MAX_KEYS - nd]
    got = Answer(b"", (), [], False)
    if rest or done:
        got = ask(ns, KIND_EACH, holder, lease_ms, want, done, list(done) + rest, keep=keep)
        if got is None:
            return _store_step(ns, holder, lease_ms, want, done, keys) + ([],)
    head = got.states[:nd]
    pending = [d for d, st in zip(done, head) if st == UNREACHABLE] + list(done[len(head):])
    tail, left = got.states[nd:], got.left_ms[nd:]
    now_us = int(time.time() * 1e6)
    if not mine:
        return tail, tuple(now_us + ms * 1000 if ms else 0 for ms in left), pending
    states, expires = bytearray(), []
    j = granted = 0
    for i in range(len(keys)):
        if want and granted == want and not keep:
            break
        if i in mine:
            states.append(DONE)
            expires.append(0)
            continue
        if j >= len(tail):
            break
        st, ms = tail[j], left[j]
        j += 1
        states.append(st)
        expires.append(now_us + ms * 1000 if ms else 0)
        granted += st == GRANTED
    return bytes(states), tuple(expires), pending


def _done_here(skeys):
    """Indexes of skeys whose done mark this machine's store holds."""
    try:
        from . import _localstore
        store = _localstore.get()
        return {i for i, k in enumerate(skeys)
                if isinstance(store.lookup(k), _localstore.Found)}
    except Exception:           # no readable store: the arbiters answer
        return set()


def _store_step(ns, holder, lease_ms, want, done=(), keys=()):
    assert len(done) <= MAX_DONE and len(keys) <= MAX_KEYS
    frames = _call("each_claim", ns=ns, holder=holder, lease_ms=lease_ms, want=want,
                   done=b"".join(done), keys=b"".join(keys))
    try:
        reply = _daemon.decode(frames, "each_claim_reply")[1]
    except _proto.ProtoError:
        raise _daemon.DaemonDown() from None
    states = reply["states"]
    raw = reply["expires"]
    if len(raw) != 8 * len(states) or len(states) > len(keys):
        raise _daemon.DaemonDown()
    return states, struct.unpack(">%dQ" % len(states), raw)


def states(ns, skeys):
    """State per store key (HELD, DONE or FREE), without claiming: the
    arbiters' view; a key whose arbiter did not answer gets this
    machine's store's."""
    out = bytearray()
    for i in range(0, len(skeys), MAX_KEYS):
        part = skeys[i:i + MAX_KEYS]
        got, _, _ = step(ns, "", 0, 0, keys=part)
        if UNREACHABLE in got:
            mine, _ = _store_step(ns, "", 0, 0, keys=part)
            got = bytes(m if g == UNREACHABLE else g for g, m in zip(got, mine))
        out += got
    return bytes(out)


def mark_done(ns, holder, skeys):
    """Mark skeys done, and wait (up to DONE_RETRY_S) until every key's
    arbiter has the mark: sent again while an arbiter does not answer (a
    partition: the other side is declared dead within seconds, and the
    key's next arbiter takes the mark). Given up after that: counted
    "done_unconfirmed" and logged; the mark stays in this machine's store,
    but another machine may run the key again."""
    pending = list(skeys)
    deadline = time.monotonic() + DONE_RETRY_S
    while pending:
        left = []
        for i in range(0, len(pending), MAX_DONE):
            left += step(ns, holder, 0, 0, done=pending[i:i + MAX_DONE])[2]
        pending = left
        if pending and time.monotonic() >= deadline:
            _log.count("done_unconfirmed", len(pending))
            _log.log.warning("irohds: %d done marks of ns %r did not reach their arbiter "
                             "within %gs; they are kept on this machine, but another may "
                             "run these keys again", len(pending), ns, DONE_RETRY_S)
            return
        if pending:
            time.sleep(RETRY_S)


def release(ns, skey, holder):
    """Give a claim back now (the body failed); quiet when the store is
    down: the lease then runs out by itself. At the arbiters the claim is
    renewed with a 1 ms lease (the request has no release); when that
    arbiter was this node (alone), the store's release makes it free now."""
    got = ask(ns, KIND_EACH, holder, RELEASE_MS, 1, keys=[skey])
    if got is not None and not got.alone:
        return
    try:
        _call("release", key=skey, holder=holder)
    except _daemon.DaemonDown:
        pass


# ---------------------------------------------------------------- memo (kind 0)

def memo_claim(ns, key, holder, lease_ms):
    """The cross-machine lease on a result key, for a caller that holds
    this machine's claim on it: an Answer with one state, or None when
    this machine alone decides (alone, gossip cannot be asked)."""
    got = ask(ns, KIND_MEMO, holder, lease_ms, 1, keys=[key])
    if got is None or not got.states:
        return None
    return got


def memo_end(ns, key, holder, stored):
    """The computation of key ended: stored, tell its arbiter it is done
    (waiters elsewhere then fetch it from here); else release the lease.
    Sent from the background thread (_background.later) so the caller
    does not wait for a remote arbiter."""
    if stored:
        ask(ns, KIND_MEMO, holder, 0, 0, done=[key])
    else:
        ask(ns, KIND_MEMO, holder, RELEASE_MS, 1, keys=[key])


def lease_lost(what, ns, key, holder):
    """A renewal found another holder on the key: counted and logged; the
    run goes on (it cannot be stopped) and its done mark, if it gets
    there, is counted as a duplicate by the arbiter."""
    _log.count("lease_lost")
    _log.log.warning("irohds: %s: the lease on %s (ns %r) was lost: another holder has "
                     "it now (this process did not renew in time, or a partition); the "
                     "key may run twice", what, key.hex()[:16], ns)


def listing(ns, counts=False, state="", limit=0):
    """Rows of each_list (store.def): counts, or one row per recorded key."""
    return _transport.parse_table(_call("each_list", ns=ns, counts=1 if counts else 0,
                                        state=state, limit=limit))


# ---------------------------------------------------------------- renewal

class _Renewer:
    """Keeps the leases of the keys this process is running: every third
    of its lease each one is claimed again by its holder (a renewal), so a
    live holder keeps its key and a dead one loses it within one lease."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        # Held while a renewal is on the wire: remove() takes it, so once
        # it returns no renewal can re-grant a key just released.
        self.send_lock = threading.Lock()
        self.keys = {}          # (holder, skey) -> [ns, lease_ms, last renewal]
        self.thread = None

    def add(self, ns, holder, skey, lease_ms):
        with self.lock:
            self.keys[(holder, skey)] = [ns, lease_ms, time.monotonic()]
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="irohds-each-renew",
                                               daemon=True)
                self.thread.start()

    def remove(self, holder, skey):
        with self.send_lock, self.lock:
            self.keys.pop((holder, skey), None)

    def _loop(self):
        while os.getpid() == self.pid:
            with self.lock:
                leases = [v[1] for v in self.keys.values()]
            time.sleep(min([1.0] + [ms / 6000.0 for ms in leases]))
            now = time.monotonic()
            with self.lock:
                due = [(k, v[0], v[1]) for k, v in self.keys.items()
                       if now - v[2] >= v[1] / 3000.0]
            # One request per holder and lease (a pass renews its running
            # key and its finished keys whose done mark is not confirmed
            # yet): an arbiter that does not answer delays them once, not
            # once per key.
            batches = {}
            for (holder, skey), ns, lease_ms in due:
                batches.setdefault((ns, holder, lease_ms), []).append(skey)
            for (ns, holder, lease_ms), skeys in batches.items():
                self._renew(ns, holder, lease_ms, skeys[:MAX_KEYS], now)

    def _renew(self, ns, holder, lease_ms, skeys, now):
        with self.send_lock:
            with self.lock:
                skeys = [k for k in skeys if (holder, k) in self.keys]
            if not skeys:
                return
            try:
                got = step(ns, holder, lease_ms, len(skeys), keys=skeys)[0]
            except Exception:           # the next step reports a down store
                got = b""
        for skey, st in zip(skeys, got):
            if st == HELD:
                lease_lost("irohds.each", ns, skey, holder)
        with self.lock:
            for i, skey in enumerate(skeys):
                if i < len(got) and got[i] == HELD:
                    self.keys.pop((holder, skey), None)
                elif (holder, skey) in self.keys:
                    self.keys[(holder, skey)][2] = now


_renewer = _Renewer()


def renew_add(ns, holder, skey, lease_ms):
    _renewer.add(ns, holder, skey, lease_ms)


def renew_remove(holder, skey):
    _renewer.remove(holder, skey)


def _after_fork():
    global _renewer
    _renewer = _Renewer()


os.register_at_fork(after_in_child=_after_fork)
