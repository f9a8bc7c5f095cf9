"""Run once: irohds.each, run_once, notify_success / notify_failure,
each_status, Status and State (docs/run-once.md, docs/python.md).

A task is named by a str or bytes key; its store key is
_keys.task_key(ns, key, version) (proto/keys.md §6). Who runs it, and
that it is done, is asked of and told to _claims only.

each() is a generator: the key it yields is claimed for this pass (a
lease of `timeout` seconds, renewed while the process lives); when the
loop asks for the next key the previous one is done, and its done mark
travels with the request that claims the next key (one round trip per
key run). A body that raises or a `break` closes the generator at the
yield (GeneratorExit): the key is released at once.
"""
import collections
import enum
import functools
import threading
import time

from . import _claims
from . import _daemon
from . import _keys
from . import _log
from . import _nssecret

FIRST_WINDOW = 1024         # keys looked at by the first step of a pass
MIN_WINDOW = 8
RETRY_US = int(_claims.RETRY_S * 1e6)   # a key whose arbiter did not answer: asked again
WAIT_MAX_MS = 1000          # wait=True: ask again at least this often (a key held
                            # through another machine's arbiter ends unseen here)


class Status(enum.Enum):
    """What a run_once call did (as the run-once seed's Status)."""
    SKIP_OK = "skip_ok"                     # done before: not run
    COMPUTE_OK = "compute_ok"               # run here, returned: now done
    SKIP_IN_PROGRESS = "skip_in_progress"   # another live holder runs it: not run
    COMPUTE_ERROR = "compute_error"         # run here, raised: released, not done


class State(str, enum.Enum):
    """A task's state in the store (each_status, `irohds-ctl each`)."""
    DONE = "done"
    RUNNING = "running"
    PENDING = "pending"


_STATE_OF = {_claims.DONE: State.DONE, _claims.HELD: State.RUNNING,
             _claims.FREE: State.PENDING, _claims.GRANTED: State.PENDING,
             _claims.UNREACHABLE: State.PENDING}


# ---------------------------------------------------------------- held keys

class _Hold:
    """One key this process runs now (in an each() pass or a run_once
    call): notify_* find it by its task key."""
    __slots__ = ("key", "ns", "skey", "holder", "finished")

    def __init__(self, key, ns, skey, holder):
        self.key, self.ns, self.skey, self.holder = key, ns, skey, holder
        self.finished = False       # done or released already (notify_*)


_holds = {}                 # task key -> [_Hold, ...] (innermost last)
_holds_lock = threading.Lock()


def _hold(h):
    with _holds_lock:
        _holds.setdefault(h.key, []).append(h)


def _unhold(h):
    with _holds_lock:
        lst = _holds.get(h.key)
        if lst and h in lst:
            lst.remove(h)
            if not lst:
                del _holds[h.key]


def _find(key, ns):
    if ns is not None:
        ns = _nssecret.store_ns(ns)     # holds keep the namespace they are stored under
    with _holds_lock:
        for h in reversed(_holds.get(key, ())):
            if ns is None or h.ns == ns:
                return h
    return None


def _task_keys(ns, keys, version):
    """(namespace, store keys) of keys in ns: task keys (proto/keys.md
    §6) under ns itself, or, in a namespace with a secret here, blinded
    and under its id like memo's results (_nssecret), so that claims and
    done marks tell a peer without the secret nothing. ValueError when the
    secret files cannot be read."""
    skeys = [_keys.task_key(ns, k, version) for k in keys]
    found = _nssecret.lookup(ns)
    if found is None:
        return ns, skeys
    return found[0], [_nssecret.blind(found[1], k) for k in skeys]


def _check_ns(ns):
    if not isinstance(ns, str):
        raise TypeError("irohds: ns must be a str, not %s" % type(ns).__name__)
    if len(ns.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError("irohds: ns is longer than 255 bytes")


def _lease_ms(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError("irohds: timeout must be a number of seconds > 0, not %r" % (timeout,))
    return max(1, int(timeout * 1000))


def _degraded(what):
    _log.count("each_degraded")
    _log.warn_once("each-degraded",
                   "irohds: %s: the store cannot be asked; every key not marked done in "
                   "the local store is run here, with no claim (other processes may run "
                   "it too) and no done mark. Start the daemon with `irohds-ctl up`" % what)


def _locally_done(skey):
    """Done mark visible in the local store's LMDB (read-only; no daemon)."""
    try:
        from . import _localstore
        found = _localstore.get().lookup(skey)
        return getattr(found, "manifest", None) is not None
    except Exception:
        return False


# ---------------------------------------------------------------- each

def each(keys, ns="", timeout=60, version=0, wait=False):
    """One pass over keys yielding each key this process wins (first come,
    first served). Keys done, or held by another live holder, are
    skipped. timeout: seconds of the per-key lease, renewed while this
    process lives. A key whose loop body finishes (the loop asks for the
    next key) is done for good; a body that raises, or a break, releases
    it at once. A key whose holder vanished is handed out again once its
    lease ran out (at once when the holder was a dead process of this
    machine), to this pass if it still runs, else to the next one.
    wait=True: the pass ends only when every key is done (it waits for
    keys other holders run, and takes them over if they fail).

    keys: str or bytes each (anything else is a TypeError, raised before
    the first key); version: any encodable value, part of every key.
    Without a store the pass warns once and yields every key not marked
    done in the local store (docs/run-once.md)."""
    keys = list(keys)
    for k in keys:
        if type(k) is not str and type(k) is not bytes:
            raise TypeError("irohds.each: keys must be str or bytes, not %s (%r)"
                            % (type(k).__name__, k))
    _check_ns(ns)
    lease_ms = _lease_ms(timeout)
    sns, skeys = _task_keys(ns, keys, version)
    return _Pass(keys, skeys, sns, lease_ms, wait).run()


class _Pass:
    def __init__(self, keys, skeys, ns, lease_ms, wait):
        self.keys, self.skeys, self.ns = keys, skeys, ns
        self.lease_ms, self.wait = lease_ms, wait
        self.holder = _claims.new_holder()
        self.cursor = 0                 # next index not looked at
        self.window = FIRST_WINDOW
        self.held = {}                  # index -> lease end (us) of another holder
        self.done = []                  # store keys finished, marks not yet sent
        self.unknown = set()            # indexes whose arbiter did not answer
        # Granted, not run yet: one step asks every arbiter of its window
        # for one key (proto/gossip.def keep), so it may win several; they
        # are run in order, their leases renewed from the grant on.
        self.queue = collections.deque()

    def _step(self, idx):
        """Claim keys at indexes idx (in order; up to one per arbiter);
        mark what is finished first. The first granted index, or None;
        the other grants go to the queue."""
        sent = self.done
        states, expires, self.done = _claims.step(self.ns, self.holder, self.lease_ms, 1,
                                                  done=sent,
                                                  keys=[self.skeys[i] for i in idx],
                                                  keep=True)
        self._confirmed(sent)
        got = None
        for i, st, exp in zip(idx, states, expires):
            if st == _claims.HELD:
                self.held[i] = exp
            elif st == _claims.UNREACHABLE:
                # Its arbiter did not answer: neither run nor skip it;
                # asked again after a short while, like a lapsed lease.
                self.held[i] = int(time.time() * 1e6) + RETRY_US
                self.unknown.add(i)
                continue
            else:
                self.held.pop(i, None)
            self.unknown.discard(i)
            if st == _claims.GRANTED:
                _claims.renew_add(self.ns, self.holder, self.skeys[i], self.lease_ms)
                self.queue.append(i)
        if self.queue:
            got = self.queue.popleft()
        return got, len(states)

    def _next(self):
        """Index of the next key this pass runs, or None at its end."""
        while True:
            if self.queue:
                return self.queue.popleft()
            now_us = int(time.time() * 1e6)
            lapsed = sorted(i for i, exp in self.held.items() if exp <= now_us)
            if lapsed:
                got, _ = self._step(lapsed[:_claims.MAX_KEYS])
                if got is not None:
                    return got
            if self.cursor < len(self.skeys):
                idx = range(self.cursor, min(len(self.skeys), self.cursor + self.window))
                got, looked = self._step(idx)
                self.cursor += looked
                self.window = min(_claims.MAX_KEYS, max(MIN_WINDOW, 4 * looked))
                if got is not None:
                    return got
                continue
            if not self.held:
                return None
            # End of the sweep: keys others hold. Ask once more (a dead
            # local holder's claim is free now); then end, or wait.
            got, _ = self._step(sorted(self.held)[:_claims.MAX_KEYS])
            if got is not None:
                return got
            if not self.held or not (self.wait or self.unknown):
                return None
            # wait=True, or keys whose arbiter did not answer (never
            # skipped: the pass waits for them to be answered).
            pool = self.held if self.wait else {i: self.held[i] for i in self.unknown}
            first = min(pool, key=pool.get)
            left_ms = max(50, (pool[first] - int(time.time() * 1e6)) // 1000 + 50)
            if first in self.unknown:
                time.sleep(min(left_ms, WAIT_MAX_MS) / 1000.0)
            else:
                _daemon.wait(self.skeys[first], int(min(left_ms, WAIT_MAX_MS)))

    def _confirmed(self, sent):
        """Done marks of sent that their arbiter has: their leases need
        no renewal any more (until then they are renewed, so that a key
        finished just before a partition is not handed out again by the
        arbiter that takes over before its done mark gets there)."""
        if sent:
            pending = set(self.done)
            for skey in sent:
                if skey not in pending:
                    _claims.renew_remove(self.holder, skey)

    def _flush(self):
        if self.done:
            sent, self.done = self.done, []
            try:
                _claims.mark_done(self.ns, self.holder, sent)
            finally:
                for skey in sent:
                    _claims.renew_remove(self.holder, skey)

    def run(self):
        try:
            yield from self._run()
        finally:
            self._abandon()

    def _abandon(self):
        """The pass ends (its end, a break, an error): done marks whose
        arbiter has not confirmed them are sent once more, and their
        leases are no longer renewed; granted keys not run are given back."""
        for i in self._unqueue():
            _claims.release(self.ns, self.skeys[i], self.holder)
        if self.done:
            sent, self.done = self.done, []
            try:
                _claims.step(self.ns, self.holder, 0, 0, done=sent)
            except Exception:       # the marks stay on this machine
                pass
            for skey in sent:
                _claims.renew_remove(self.holder, skey)

    def _run(self):
        try:
            _claims.record(self.ns, self.skeys,
                           [_claims.display_name(k) for k in self.keys])
        except _daemon.DaemonDown:
            yield from self._run_degraded(0)
            return
        while True:
            try:
                i = self._next()
                if i is None:
                    self._flush()
            except _daemon.DaemonDown:
                yield from self._run_degraded(self.cursor, self._unqueue())
                return
            if i is None:
                return
            yield from self._run_one(i)

    def _run_one(self, i):
        h = _Hold(self.keys[i], self.ns, self.skeys[i], self.holder)
        _hold(h)
        _claims.renew_add(self.ns, self.holder, h.skey, self.lease_ms)
        finished = False
        try:
            yield h.key
            finished = True
        finally:
            _unhold(h)
            if not h.finished and finished:
                # Sent with the next step; renewed until its arbiter has it.
                self.done.append(h.skey)
            else:
                _claims.renew_remove(self.holder, h.skey)
                if not h.finished:
                    _claims.release(self.ns, h.skey, self.holder)

    def _unqueue(self):
        """Granted keys not run yet, taken off the queue and no longer
        renewed (the caller releases or runs them)."""
        queued, self.queue = list(self.queue), collections.deque()
        for i in queued:
            _claims.renew_remove(self.holder, self.skeys[i])
        return queued

    def _run_degraded(self, start, queued=()):
        _degraded("irohds.each")
        for i in list(queued) + list(range(start, len(self.keys))):
            if not _locally_done(self.skeys[i]):
                yield self.keys[i]


# ---------------------------------------------------------------- notify, status

def notify_success(key, ns=None, version=0):
    """Mark key done now (inside its each() body or run_once function: the
    key this process runs; a later exception no longer releases it).
    Outside, with ns given: mark key of ns (and version) done directly."""
    h = _find(key, ns)
    if h is not None:
        if not h.finished:
            _claims.mark_done(h.ns, h.holder, [h.skey])
            h.finished = True
        return
    if ns is None:
        raise ValueError("irohds.notify_success: %r is not a key this process runs; pass "
                         "ns= to mark it done anyway" % (key,))
    _check_ns(ns)
    sns, skeys = _task_keys(ns, [key], version)
    _claims.mark_done(sns, _claims.new_holder(), skeys)


def notify_failure(key, ns=None):
    """Release key now (it is not done): another process may take it at
    once. Only for a key this process runs; else a ValueError."""
    h = _find(key, ns)
    if h is None:
        raise ValueError("irohds.notify_failure: %r is not a key this process runs"
                         % (key,))
    if not h.finished:
        _claims.renew_remove(h.holder, h.skey)
        _claims.release(h.ns, h.skey, h.holder)
        h.finished = True


def each_status(keys, ns="", version=0):
    """{key: State} for keys in ns (DONE, RUNNING, PENDING), without
    claiming anything. Without a store: DONE where the local store has the
    done mark, else PENDING."""
    keys = list(keys)
    _check_ns(ns)
    sns, skeys = _task_keys(ns, keys, version)
    try:
        states = _claims.states(sns, skeys)
    except _daemon.DaemonDown:
        _degraded("irohds.each_status")
        return {k: State.DONE if _locally_done(s) else State.PENDING
                for k, s in zip(keys, skeys)}
    return {k: _STATE_OF[st] for k, st in zip(keys, states)}


# ---------------------------------------------------------------- run_once

def run_once(key, *, ns="", timeout=60, version=0):
    """Decorator: the function runs only if key is neither done nor held
    by another live holder, and then returns (Status, value):
    (SKIP_OK, None) done before; (SKIP_IN_PROGRESS, None) another holder
    runs it; (COMPUTE_OK, value) it ran and returned (key now done);
    (COMPUTE_ERROR, exception) it ran and raised (key released, the
    exception logged). timeout: the lease in seconds, renewed while the
    function runs. Without a store it runs unless the local store has the
    done mark (one warning)."""
    _keys.task_key(ns, key, version)            # TypeError for a bad key, now
    _check_ns(ns)
    lease_ms = _lease_ms(timeout)
    sns, (skey,) = _task_keys(ns, [key], version)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return _run_once_call(fn, key, skey, sns, lease_ms, args, kwargs)
        return wrapper
    return decorate


def _call_body(fn, args, kwargs):
    try:
        return Status.COMPUTE_OK, fn(*args, **kwargs)
    except Exception as exc:
        _log.log.warning("irohds.run_once: %s raised %s: %s", getattr(fn, "__name__", fn),
                         type(exc).__name__, exc, exc_info=True)
        return Status.COMPUTE_ERROR, exc


def _run_once_call(fn, key, skey, ns, lease_ms, args, kwargs):
    holder = _claims.new_holder()
    try:
        _claims.record(ns, [skey], [_claims.display_name(key)])
        states = _claims.step(ns, holder, lease_ms, 1, keys=[skey])[0]
        # The key's arbiter did not answer: ask again for up to one lease
        # (never run it unasked), then report it as in progress.
        tries = 0
        while states[:1] == bytes([_claims.UNREACHABLE]) and \
                tries * RETRY_US < lease_ms * 1000:
            time.sleep(RETRY_US / 1e6)
            tries += 1
            states = _claims.step(ns, holder, lease_ms, 1, keys=[skey])[0]
    except _daemon.DaemonDown:
        _degraded("irohds.run_once")
        if _locally_done(skey):
            return Status.SKIP_OK, None
        return _call_body(fn, args, kwargs)
    if states[:1] == bytes([_claims.DONE]):
        return Status.SKIP_OK, None
    if states[:1] != bytes([_claims.GRANTED]):
        return Status.SKIP_IN_PROGRESS, None
    h = _Hold(key, ns, skey, holder)
    _hold(h)
    _claims.renew_add(ns, holder, skey, lease_ms)
    try:
        status, value = _call_body(fn, args, kwargs)
    finally:
        _claims.renew_remove(holder, skey)
        _unhold(h)
    if not h.finished:
        try:
            if status is Status.COMPUTE_OK:
                _claims.mark_done(ns, holder, [skey])
            else:
                _claims.release(ns, skey, holder)
        except _daemon.DaemonDown:
            pass
    return status, value

