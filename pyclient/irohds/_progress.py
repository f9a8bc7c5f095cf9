"""The watcher of one outstanding peer lookup (_lookup): a thread that
polls gossip_fetches {key} (proto/gossip.def) on its own socket (the
transport gives each thread one) and

  * draws a tqdm progress bar on stderr (python3-tqdm, imported only
    here, only once a bar is wanted; without tqdm: silent), when the
    mode is "always", or "auto" and stderr is a terminal;
  * tells the waiting call whether gossip still answers (dead), whether
    the transfer has been seen (seen_at), when it last made progress
    (moved_at) and whether gossip_fetches can be read at all (blind: then
    only the caller's own time limit applies).

It polls every POLL_EVERY seconds while a bar is shown, every
QUIET_EVERY otherwise (it is then only a liveness check). One watcher
exists per lookup that waits longer than about a second.
"""
import sys
import threading
import time

from . import _transport

POLL_EVERY = 0.25
QUIET_EVERY = 1.0
FINISH_WAIT = 0.5
# Answers that mean gossip itself is gone, not that this request is odd.
_DEAD_CODES = frozenset({"actor-down", "actor-failed", "unknown-service", "no-service"})


def wants_bar(mode, stream=None):
    """Whether a bar is drawn for progress mode ("auto", "always",
    "never") on stream (default stderr)."""
    if mode == "never":
        return False
    if mode == "always":
        return True
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):       # closed or replaced stderr
        return False


class Watch(threading.Thread):
    def __init__(self, key, label, mode, timeout):
        super().__init__(name="irohds-fetch", daemon=True)
        self.key = key
        self.label = label
        self.timeout = timeout
        self.show = wants_bar(mode)
        self.dead = False
        self.blind = False
        self.seen_at = None
        self.row = None             # the last gossip_fetches row of our key
        self.moved_at = None        # when its verified bytes last grew (or first seen)
        self.bar = None
        self.polls = 0
        # The caller's transport: the thread's socket is made and closed on
        # it even if the home changes meanwhile (a new transport then would
        # be a context nobody closes).
        self.transport = _transport.get_transport()
        self._stop_event = threading.Event()

    def finish(self):
        """Stop polling; waits briefly for the bar to be cleared (a poll in
        flight normally ends within a millisecond; a stuck one is left to
        end on its own: the thread is a daemon)."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(FINISH_WAIT)

    def run(self):
        try:
            self._loop()
        finally:
            self._close_bar()
            self.transport.close_thread_socket()

    def _loop(self):
        t = self.transport
        while not self._stop_event.is_set():
            try:
                frames = t.call("gossip", "gossip_fetches", timeout=self.timeout, start=False,
                                key=self.key)
                rows = _transport.parse_table(frames)
            except _transport.Unavailable:
                self.dead = True
                return
            except _transport.ServiceError as e:
                if e.code in _DEAD_CODES:
                    self.dead = True
                else:
                    self.blind = True
                return
            except (ValueError, IndexError):
                self.blind = True
                return
            self.polls += 1
            row = None
            for r in rows:
                if r.get("key") == self.key:
                    row = r
                    break
            if row is not None:
                now = time.monotonic()
                if self.row is None or row.get("received", 0) > self.row.get("received", 0):
                    self.moved_at = now
                self.row = row
                self.seen_at = now
                if self.show:
                    self._draw(row)
            self._stop_event.wait(POLL_EVERY if self.show else QUIET_EVERY)

    def _draw(self, row):
        if self.bar is None:
            try:
                from tqdm import tqdm
            except ImportError:
                self.show = False
                return
            self.bar = tqdm(total=row.get("size") or None, unit="B", unit_scale=True,
                            unit_divisor=1024, leave=False, file=sys.stderr,
                            desc="irohds: fetching %s" % self.label[-40:])
        bar = self.bar
        bar.set_postfix_str("%s from %s" % (row.get("state", ""),
                                            row.get("sources", "") or "-"), refresh=False)
        done = row.get("received", 0)
        if done > bar.n:
            bar.update(done - bar.n)        # draws (at most every 0.1 s)
        else:
            bar.refresh()

    def _close_bar(self):
        if self.bar is not None:
            try:
                self.bar.close()
            except Exception:       # a bar must never break the call
                pass
            self.bar = None
