"""What irohds tells the user: the "irohds" logger and IrohdsWarning.

Hits and misses are logged at DEBUG, waits, daemon start and fallbacks at
INFO/WARNING (logging.getLogger("irohds")). A degraded mode (no daemon, a
result that cannot be stored, a config problem) is also one IrohdsWarning
per process and cause. Callers warn only AFTER the result is stored and
ready to return, and a warning turned into an exception by a filter is
swallowed here (it was logged): a notice must never change what a call
returns or whether it is kept.
"""
import collections
import logging
import os
import sys
import threading
import warnings

log = logging.getLogger("irohds")
# A library logs, the application decides where it goes: without this,
# logging's last-resort handler would print every WARNING a second time
# next to its IrohdsWarning.
log.addHandler(logging.NullHandler())


class IrohdsWarning(UserWarning):
    """irohds degraded (no daemon, unstorable result, short function):
    the program keeps running on local computation."""


# Client-side counters (irohds.status()["client"], f.cache_info()):
# disk_full, stage_errors, put_failed, daemon_down, backoffs, ...;
# unsafe_refused: results from a peer the restricted unpickler refused.
counters = collections.Counter()


def count(name, n=1):
    counters[name] += n


_warned = set()
_lock = threading.Lock()
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def first_time(tag):
    """True the first time tag is seen in this process."""
    with _lock:
        if tag in _warned:
            return False
        _warned.add(tag)
        return True


def warn_once(tag, message):
    """One IrohdsWarning per tag and process (also logged at WARNING).
    Under -W error (pytest's filterwarnings = error) warnings.warn raises:
    the notice is then only logged, because a notice must never turn a
    call that has its value into one that raises."""
    if not first_time(tag):
        return
    log.warning("%s", message)
    # Attribute the warning to the caller's code, outside this package.
    level, f = 2, sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        level += 1
        f = f.f_back
    try:
        warnings.warn(message, IrohdsWarning, stacklevel=level)
    except IrohdsWarning:
        pass


def reset():
    """Forget which warnings were given (tests)."""
    with _lock:
        _warned.clear()


_handler = None


def set_verbose(level):
    """verbose= of @irohds.memo: 1 shows INFO (waits, daemon start,
    fallbacks), 2 also DEBUG (every hit and miss), on stderr through one
    handler on the "irohds" logger; 0 leaves logging as configured."""
    global _handler
    if not level:
        return
    want = logging.DEBUG if level >= 2 else logging.INFO
    if log.level == logging.NOTSET or log.level > want:
        log.setLevel(want)
    if _handler is None and not [h for h in log.handlers
                                 if not isinstance(h, logging.NullHandler)]:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        log.addHandler(_handler)
