"""The in-process tier: results of this process, bounded by bytes, LRU.

Entries are keyed by the full 32-byte call key, so nothing the key tells
apart is ever conflated. A decorated function may also keep "fast keys"
pointing at an entry: the positional arguments plus their exact types,
admitted only for atomic values whose equality implies an identical key
encoding (see _memo.fast_key). They let a repeated call skip the key
derivation; they are dropped with the entry.
"""
import os
import threading
from collections import OrderedDict

from . import _config


class Entry:
    __slots__ = ("key", "value", "size", "fn", "fast", "fks")

    def __init__(self, key, value, size, fn):
        self.key = key
        self.value = value
        self.size = size
        self.fn = fn
        self.fast = None        # the owning function's fast-key dict
        self.fks = []


class MemCache:
    def __init__(self, budget):
        self.budget = budget
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

    def touch(self, key):
        """Mark recently used (for fast-key hits); False if gone."""
        try:
            self.lru.move_to_end(key)
            return True
        except KeyError:
            return False

    def put(self, key, value, size, fn):
        """Insert (or replace); returns the Entry, or None when the value
        alone exceeds the budget."""
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
            while self.total > self.budget and self.lru:
                _, victim = self.lru.popitem(last=False)
                self._forget(victim)
        return e

    def add_fast(self, e, fast, types, args):
        """fast[types][args] -> e (two levels, so the hit path needs no
        tuple concatenation and no type check beyond the first lookup)."""
        with self.lock:
            if self.lru.get(e.key) is not e:
                return
            if e.fast is not None and e.fast is not fast:
                return
            e.fast = fast
            e.fks.append((types, args))
            sub = fast.get(types)
            if sub is None:
                sub = fast[types] = {}
            sub[args] = e

    def _forget(self, e):
        self.total -= e.size
        if e.fast is not None:
            for types, args in e.fks:
                sub = e.fast.get(types)
                if sub is not None and sub.get(args) is e:
                    del sub[args]
            e.fks = []

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

    def set_budget(self, nbytes):
        with self.lock:
            self.budget = int(nbytes)
            while self.total > self.budget and self.lru:
                _, victim = self.lru.popitem(last=False)
                self._forget(victim)

    def clear(self):
        with self.lock:
            for e in self.lru.values():
                self._forget(e)
            self.lru.clear()
            self.total = 0


CACHE = MemCache(int(os.environ.get("IROHDS_MEM_BYTES") or _config.DEFAULT_MEM_BYTES))


def _after_fork():
    # A thread of the parent may have held the lock at fork time.
    CACHE.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
