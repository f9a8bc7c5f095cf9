"""Background work of the client: batched touches and lease renewal.

Touches ("this key was just read from LMDB", proto/store.def `touch`) go
to the store from one thread: a zmq send costs tens of microseconds, too
much for the local-store hit path, and LRU order does not need them at
once. What is still pending when the process exits is flushed by an atexit
hook, so a short script's hits reach the store's LRU and hit counter.

Lease renewal: while this process computes a key it claimed, one thread
re-claims it (same holder) every third of the lease, so a live holder
keeps its claim and a dead one loses it within one short lease; a key
whose cross-machine lease this process holds too (_claims.memo_claim) is
renewed at its arbiter as well. The same thread sends the end of such a
lease (_claims.memo_end: done, or released) off the caller's path, in
order after the renewals; the exit hook waits (bounded) for what is still
queued, so a short script's done mark reaches the arbiter and waiters on
other machines need not wait out the lease.
"""
import atexit
import collections
import os
import threading
import time

from . import _claims
from . import _daemon
from . import _proto
from . import _transport

FLUSH_TIMEOUT = 1.0         # seconds the exit flush may take at most
END_TIMEOUT = 3.0           # seconds the exit hook waits for queued lease ends


class Background:
    """Per-process state (rebuilt after fork)."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.touches = set()
        self.touch_thread = None
        self.touch_event = None
        self.renew = {}             # key -> [last renewal (monotonic), ns or None]
        self.renew_thread = None
        self.wake = threading.Event()
        self.later_jobs = collections.deque()   # (fn, args) run by the renew thread
        self.busy = 0               # jobs taken and not finished
        self.idle = threading.Condition(self.lock)

    # ---- touches ----

    def touch(self, key):
        with self.lock:
            first = not self.touches
            self.touches.add(key)
            if self.touch_thread is None:
                self.touch_event = threading.Event()
                t = threading.Thread(target=self._touch_loop, name="irohds-touch",
                                     daemon=True)
                self.touch_thread = t
                t.start()
        if first:                       # wake the sender once per batch
            self.touch_event.set()

    def _take(self):
        with self.lock:
            keys, self.touches = self.touches, set()
        return keys

    def _send(self, keys):
        if keys and not _daemon.is_down():
            _transport.get_transport().post_many(
                "store", [_proto.encode_touch(key=key) for key in keys])

    def _touch_loop(self):
        while True:
            self.touch_event.wait()
            time.sleep(0.05)            # coalesce a burst of hits
            with self.lock:
                self.touch_event.clear()
            self._send(self._take())

    def flush(self):
        """Send pending touches and wait (bounded) until the store has
        them: a ping to the store is answered after the touches queued
        before it on the same connection."""
        if os.getpid() != self.pid:
            return
        keys = self._take()
        if not keys or _daemon.is_down():
            return
        try:
            self._send(keys)
            t = _transport.get_transport()      # send/recv: never start a daemon here
            t.recv(t.send("store", "ping", timeout=FLUSH_TIMEOUT), FLUSH_TIMEOUT)
        except Exception:           # exiting: never raise from here
            pass

    # ---- lease renewal ----

    def _start_renewer(self):
        # Under self.lock.
        if self.renew_thread is None:
            t = threading.Thread(target=self._renew_loop, name="irohds-renew", daemon=True)
            self.renew_thread = t
            t.start()

    def renew_add(self, key, ns=None):
        """Renew key's claim while it is computed here; ns (not None): its
        cross-machine lease in ns too. A key renewed already keeps its
        last renewal time (a caller adding it again in a loop must not
        postpone the renewal for ever)."""
        with self.lock:
            old = self.renew.get(key)
            self.renew[key] = [old[0] if old else time.monotonic(), ns]
            self._start_renewer()

    def renew_remove(self, key):
        with self.lock:
            self.renew.pop(key, None)

    def later(self, fn, *args):
        """Run fn(*args) on the renew thread soon (after renewals already
        due), never raising into anyone."""
        with self.lock:
            self.later_jobs.append((fn, args))
            self._start_renewer()
        self.wake.set()

    def _run_later(self):
        while True:
            with self.lock:
                if not self.later_jobs:
                    self.idle.notify_all()
                    return
                fn, args = self.later_jobs.popleft()
                self.busy += 1
            try:
                fn(*args)
            except Exception:       # a background job never breaks the program
                pass
            finally:
                with self.lock:
                    self.busy -= 1

    def _renew_loop(self):
        every = _daemon.lease_ms() / 3000.0
        holder = _daemon.holder()
        while True:
            self.wake.wait(min(1.0, every / 2))
            self.wake.clear()
            if os.getpid() != self.pid:
                return
            now = time.monotonic()
            with self.lock:
                due = [(k, v[1]) for k, v in self.renew.items() if now - v[0] >= every]
            for key, ns in due:
                _daemon.renew(key)
                got = None
                if ns is not None:
                    got = _claims.memo_claim(ns, key, holder, _daemon.lease_ms())
                lost = got is not None and got.states[0] == _claims.HELD
                if lost:
                    _claims.lease_lost("irohds.memo", ns, key, holder)
                with self.lock:
                    if key in self.renew:
                        self.renew[key] = [now, None if lost else ns]
            self._run_later()

    def drain(self, timeout=END_TIMEOUT):
        """Wait (bounded) until the queued jobs ran (the exit hook)."""
        if os.getpid() != self.pid:
            return
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.later_jobs or self.busy:
                left = deadline - time.monotonic()
                if left <= 0 or self.renew_thread is None:
                    return
                self.wake.set()
                self.idle.wait(min(left, 0.1))


_bg = Background()


def get():
    return _bg


def _after_fork():
    global _bg
    _bg = Background()


os.register_at_fork(after_in_child=_after_fork)


def _at_exit():
    _bg.drain()
    _bg.flush()


# Registered after _transport's own hook (imported above), so it runs
# first: atexit hooks run last-in first-out.
atexit.register(_at_exit)
