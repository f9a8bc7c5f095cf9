"""BLAKE3 and libirohds for the Python client (common/irh_hash.h).

The client hashes with the very same C code as the daemon, so a key
computed here and one checked by `irohds-ctl key` can never disagree, and
there is no pure-Python BLAKE3 to drift.

There is ONE binding for hashing: the extension module irohds._b3
(pyclient/irohds/_b3module.c): one C call per hash, no copies for any
contiguous buffer, the GIL released for large inputs. Its interface is
re-exported here (blake3, blake3_many, blake3_file_size, blake3_file,
Hasher). Without it the client cannot derive keys, so importing this
module then raises ImportError and callers degrade.

library() loads libirohds itself through ctypes for the other parts of it
the client calls (the config parser, FnCost): $IROHDS_LIB, then
libirohds.so.0 next to this file (the copy the extension links through
$ORIGIN), then the system loader.
"""
import ctypes
import ctypes.util
import os

__all__ = ["blake3", "blake3_many", "blake3_file", "blake3_file_size", "Hasher",
           "HASH_SIZE", "BACKEND", "library_path", "library"]

HASH_SIZE = 32

try:
    from . import _b3
except ImportError as exc:      # pragma: no cover - built with the package
    raise ImportError("irohds: the BLAKE3 extension irohds._b3 is missing (%s); "
                      "build the package with CMake or pip" % exc) from None

BACKEND = "extension"
blake3 = _b3.blake3
blake3_many = _b3.blake3_many
blake3_file_size = _b3.blake3_file_size
Hasher = _b3.Hasher
library_path = _b3.__file__


def blake3_file(path) -> bytes:
    """BLAKE3-256 of a file's contents (read by the C library). Raises OSError."""
    return blake3_file_size(path)[0]


def _load():
    tried = []
    candidates = []
    env = os.environ.get("IROHDS_LIB")
    if env:
        candidates.append(env)
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "libirohds.so.0"))
    found = ctypes.util.find_library("irohds")
    if found:
        candidates.append(found)
    for path in candidates:
        # A relative name from find_library goes to the loader as is; an
        # absolute path that does not exist is skipped without a dlopen.
        if os.path.isabs(path) and not os.path.exists(path):
            tried.append(f"{path} (missing)")
            continue
        try:
            return ctypes.CDLL(path, use_errno=True)
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    raise ImportError("irohds: cannot load the native library libirohds.so "
                      "(set IROHDS_LIB to its path); tried: "
                      + ("; ".join(tried) or "nothing found"))


_library = None


def library():
    """The loaded libirohds (ctypes CDLL), for modules that call other parts
    of it (the config parser, FnCost); ImportError when it cannot load."""
    global _library
    if _library is None:
        _library = _load()
    return _library
