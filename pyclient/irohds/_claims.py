"""Run-once claims and done marks: the one module through which
irohds.each, run_once, notify_* and each_status ask who may run a task
and say that it is done (docs/run-once.md).

Today the answer comes from this machine's store (proto/store.def
each_pass / each_claim / each_list); the per-key arbiter of a namespace
(DESIGN §7 Claims) will be asked here too, so callers never talk to the
store about claims themselves.

Costs: one request per `step`, which carries the done marks of finished
keys and claims the next free key of a window of up to 16384 keys, so a
pass costs about one round trip per key it runs and one per 16384 keys it
skips. Each request is counted in the client counter "each_requests"
(irohds.status()["client"]).

Every function raises _daemon.DaemonDown when the store cannot answer
(after one warning per process); callers degrade (docs/run-once.md).
"""
import os
import socket
import struct
import threading
import time
import uuid

from . import _daemon
from . import _log
from . import _proto
from . import _transport

# States of each_claim_reply (store.def).
GRANTED, HELD, DONE, FREE = 0, 1, 2, 3

MAX_KEYS = 16384            # keys per each_claim (store.def)
MAX_DONE = 4096             # done marks per each_claim
MAX_PASS = 4000             # keys per each_pass (the broker takes 4096 frames)
NAME_MAX = 1024             # bytes of a display name


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


def record(ns, skeys, names):
    """Record a pass's keys (store keys and display names) in ns."""
    for i in range(0, len(skeys), MAX_PASS):
        part = skeys[i:i + MAX_PASS]
        _call("each_pass", extra=names[i:i + MAX_PASS], ns=ns, keys=b"".join(part))


def step(ns, holder, lease_ms, want, done=(), keys=()):
    """Store the done marks of `done` (store keys), then look at `keys` in
    order and claim free ones until `want` are granted. Returns
    (states, expires): a state per key looked at (GRANTED, HELD, DONE,
    FREE; shorter than keys when the want-th grant came first) and the
    lease end (us since the epoch) of each granted or held one."""
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
    """State per store key (HELD, DONE or FREE), without claiming."""
    out = bytearray()
    for i in range(0, len(skeys), MAX_KEYS):
        got, _ = step(ns, "", 0, 0, keys=skeys[i:i + MAX_KEYS])
        out += got
    return bytes(out)


def mark_done(ns, holder, skeys):
    for i in range(0, len(skeys), MAX_DONE):
        step(ns, holder, 0, 0, done=skeys[i:i + MAX_DONE])


def release(skey, holder):
    """Give a claim back now (the body failed); quiet when the store is
    down: the lease then runs out by itself."""
    try:
        _call("release", key=skey, holder=holder)
    except _daemon.DaemonDown:
        pass


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
            for (holder, skey), ns, lease_ms in due:
                with self.send_lock:
                    with self.lock:
                        if (holder, skey) not in self.keys:
                            continue
                    try:
                        step(ns, holder, lease_ms, 1, keys=[skey])
                    except Exception:   # the next step reports a down store
                        pass
                with self.lock:
                    if (holder, skey) in self.keys:
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
