"""Namespaces with a secret as the client stores them (docs/namespaces.md,
proto/keys.md "Blinded keys").

A call in a namespace with a secret is stored under the namespace id (64
hex, never the name) and under its key blinded:
BLAKE2b-256(key, key=blinding key). So the store, the digests, the
manifests, the transfers and the claims carry only the id and blinded
keys: a node without the secret cannot tell the name, the function or the
arguments, nor test whether a key it knows exists.

The id and the blinding key come from the user's own secret files
(<home>/ns, 0600), read through libirohds (irh_ns_lookup): the token
format, the file checks and the key schedule have one implementation, in
C. Looked up once per name per process; irohds.ns_create / ns_join forget
what was looked up. A secret file that cannot be read is an error
(ValueError with irohds-ctl's reason), never a fallback to sharing the
namespace as public.

Trust: a result stored under the id of a namespace whose secret this
client holds is loaded with plain unpickling. It got there either from a
process of this user or through gossip, which takes such a result only
from a peer that proved the secret on its CURVE link and only with the
namespace's manifest MAC right (docs/security.md).
"""
import ctypes
import hashlib
import os
import threading

from . import _config
from . import _native

_lock = threading.Lock()
_cache = {}                 # (home, name) -> (id_hex, blind key) or None
_trusted = set()            # ids of namespaces looked up with a secret

_ERROR_MAX = 512


def _lookup_native(home, name):
    lib = _native.library()
    fn = lib.irh_ns_lookup
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                   ctypes.c_char_p, ctypes.c_size_t]
    ident = ctypes.create_string_buffer(32)
    blind = ctypes.create_string_buffer(32)
    error = ctypes.create_string_buffer(_ERROR_MAX)
    rc = fn(os.path.join(home, "ns").encode(), name.encode(), ident, blind, error, _ERROR_MAX)
    if rc < 0:
        raise ValueError("irohds: namespace %r: the secret files cannot be read (%s); "
                         "refusing to use it as a public namespace"
                         % (name, error.value.decode(errors="replace")))
    if rc == 0:
        return None
    return ident.raw.hex(), bytes(blind.raw)


def lookup(name):
    """(namespace id hex, blinding key) of name when it has a secret here,
    else None. ValueError when the secret files cannot be read."""
    if not name:
        return None             # the default namespace never has a secret
    home = _config.home()
    with _lock:
        if (home, name) in _cache:
            return _cache[(home, name)]
    found = _lookup_native(home, name)
    with _lock:
        _cache[(home, name)] = found
        if found:
            _trusted.add(found[0])
    return found


def forget():
    """Look names up again (a namespace was created or joined)."""
    with _lock:
        _cache.clear()


def store_ns(name):
    """The namespace a call in name is stored and shared under."""
    found = lookup(name)
    return found[0] if found else name


def blind(blind_key, key):
    """The blinded form of a 32-byte key (same as irh_ns_blind)."""
    return hashlib.blake2b(bytes(key), digest_size=32, key=blind_key).digest()


def trusted(ns):
    """True if a result stored under ns may be plainly unpickled: ns is
    the id of a namespace whose secret this process looked up."""
    return ns in _trusted
