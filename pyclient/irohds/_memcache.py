"""The in-process tier: results of this process, bounded by bytes, LRU.

Entries are keyed by the full 32-byte call key, so nothing the key tells
apart is ever conflated. A decorated function also keeps a
small map from atomic positional arguments (exact types included) to
entries, so a repeated call skips the key derivation (see _decorate.make);
an evicted entry is marked dead and its value dropped at once. Hits
through that map mark the entry "hot" rather than reordering the list
(CLOCK: a hot entry gets a second chance at eviction).
"""
import os
import threading
from collections import OrderedDict

from . import _config


class Entry:
    __slots__ = ("key", "value", "size", "fn", "alive", "hot")

    def __init__(self, key, value, size, fn):
        self.key = key
        self.value = value
        self.size = size
        self.fn = fn
        # False once evicted: a decorated function's fast map may still
        # hold this Entry, and must then take the slow path.
        self.alive = True
        # Set by a fast-map hit instead of moving the entry to the end of
        # the LRU list (an attribute store is cheaper than a dict
        # operation on the hottest path); eviction gives a hot entry a
        # second chance (CLOCK, an approximation of LRU).
        self.hot = False


class MemCache:
    def __init__(self, budget=None):
        # budget None: IROHDS_MEM_BYTES, else config client.mem_bytes, read
        # on the first insert (not at import: keep `import irohds` cheap).
        self.configured = budget is not None
        self.budget = budget if budget is not None else _config.DEFAULT_MEM_BYTES
        self.lru = OrderedDict()
        self.total = 0
        self.lock = threading.Lock()

    def get(self, key):
        e = self.lru.get(key)
        if e is not None:
            try:
                self.lru.move_to_end(key)
            except KeyError:        # evicted by another thread just now
                return None
        return e

    def put(self, key, value, size, fn):
        """Insert (or replace); returns the Entry, or None when the value
        alone exceeds the budget."""
        if not self.configured:
            self._configure()
        if size > self.budget:
            self.drop(key)
            return None
        e = Entry(key, value, size, fn)
        with self.lock:
            old = self.lru.pop(key, None)
            if old is not None:
                self._forget(old)
            self.lru[key] = e
            self.total += size
            self._shrink()
        return e

    def _shrink(self):
        # Under self.lock: drop least recently used entries to the budget;
        # an entry hit through a fast map since it was last looked at goes
        # to the most recent end once instead (each at most once per pass).
        lru = self.lru
        while self.total > self.budget and lru:
            key, victim = lru.popitem(last=False)
            if victim.hot:
                victim.hot = False
                lru[key] = victim
                continue
            self._forget(victim)

    def _forget(self, e):
        self.total -= e.size
        e.alive = False
        e.value = None

    def drop(self, key):
        with self.lock:
            e = self.lru.pop(key, None)
            if e is not None:
                self._forget(e)
            return e is not None

    def drop_fn(self, name):
        with self.lock:
            victims = [k for k, e in self.lru.items() if e.fn == name]
            for k in victims:
                self._forget(self.lru.pop(k))
            return len(victims)

    def _configure(self):
        env = os.environ.get("IROHDS_MEM_BYTES")
        try:
            budget = int(env) if env else _config.get().mem_bytes
        except ValueError:
            budget = _config.get().mem_bytes
        self.set_budget(budget)

    def set_budget(self, nbytes):
        self.configured = True
        with self.lock:
            self.budget = int(nbytes)
            self._shrink()

    def clear(self):
        with self.lock:
            for e in self.lru.values():
                self._forget(e)
            self.lru.clear()
            self.total = 0


CACHE = MemCache()


def _after_fork():
    # A thread of the parent may have held the lock at fork time.
    CACHE.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
