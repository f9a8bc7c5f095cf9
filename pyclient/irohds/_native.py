"""BLAKE3 for the Python client, from libirohds (common/irh_hash.h).

The Python client hashes with the very same C code as the daemon, so a key
computed here and one checked by `irohds-ctl key` can never disagree, and
there is no pure-Python BLAKE3 to drift.

Two bindings with one interface (blake3, blake3_many, blake3_file_size,
blake3_file, Hasher):
  - the extension module irohds._b3 (pyclient/irohds/_b3module.c), used
    whenever it imports: one C call per hash, no copies for any contiguous
    buffer, the GIL released for large inputs;
  - ctypes over libirohds.so, the fallback when the extension is missing
    (or IROHDS_NATIVE=ctypes, which the tests use to check it). Buffers
    are handed to C without copying wherever the buffer protocol allows
    it; ctypes releases the GIL around every C call.
BACKEND says which is in use. For ctypes the library is looked up in this
order: $IROHDS_LIB, libirohds.so next to this file (the staged copy in a
build tree or an install), then the system loader via
ctypes.util.find_library("irohds"). If neither binding loads, importing
this module raises ImportError with the places tried; callers degrade.
"""
import ctypes
import ctypes.util
import os

__all__ = ["blake3", "blake3_many", "blake3_file", "blake3_file_size", "Hasher",
           "HASH_SIZE", "BACKEND", "library_path", "load_ctypes"]

HASH_SIZE = 32


def _load():
    tried = []
    candidates = []
    env = os.environ.get("IROHDS_LIB")
    if env:
        candidates.append(env)
    # The package carries libirohds under its SONAME (the extension module
    # links it by that name through $ORIGIN); one copy serves both.
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
            return ctypes.CDLL(path, use_errno=True), path
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    raise ImportError("irohds: cannot load the native library libirohds.so "
                      "(set IROHDS_LIB to its path); tried: "
                      + ("; ".join(tried) or "nothing found"))


_library = None


def library():
    """The loaded libirohds (ctypes CDLL), for modules that call other parts
    of it (the config parser, FnCost); ImportError when it cannot load.
    One loader for the whole package: _load's search order applies."""
    global _library
    if _library is None:
        _library = _load()[0]
    return _library


def load_ctypes():
    """The ctypes binding, as a namespace with the module's interface;
    ImportError when libirohds cannot be loaded."""
    import types
    _lib, library_path = _load()

    try:
        _lib.irh_blake3.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        _lib.irh_blake3.restype = None
        _lib.irh_blake3_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_uint64)]
        _lib.irh_blake3_file.restype = ctypes.c_int
        _lib.irh_hasher_new.argtypes = []
        _lib.irh_hasher_new.restype = ctypes.c_void_p
        _lib.irh_hasher_update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        _lib.irh_hasher_update.restype = None
        _lib.irh_hasher_final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        _lib.irh_hasher_final.restype = None
        _lib.irh_hasher_reset.argtypes = [ctypes.c_void_p]
        _lib.irh_hasher_reset.restype = None
        _lib.irh_hasher_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        _lib.irh_hasher_destroy.restype = None
    except AttributeError as exc:  # an old or foreign libirohds
        raise ImportError(f"irohds: {library_path} lacks the BLAKE3 API: {exc}") from None


    # --- zero-copy access to any contiguous buffer --------------------------------
    #
    # ctypes' from_buffer() only accepts writable buffers, so read-only ones
    # (a memoryview of bytes, a read-only numpy array) would need a copy. The
    # C-API buffer protocol gives the pointer of any buffer; Py_buffer's layout
    # is part of the stable documented API and has not changed since 3.3.

    class _PyBuffer(ctypes.Structure):
        _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                    ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                    ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                    ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                    ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                    ("internal", ctypes.c_void_p)]


    _PyBUF_SIMPLE = 0
    try:
        _get_buffer = ctypes.pythonapi.PyObject_GetBuffer
        _get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
        _get_buffer.restype = ctypes.c_int
        _release_buffer = ctypes.pythonapi.PyBuffer_Release
        _release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
        _release_buffer.restype = None
    except (AttributeError, OSError):  # not CPython: fall back to copies
        _get_buffer = None


    def _with_buffer(data, call):
        """Call call(pointer, size) on data's bytes, without a copy when the
        object exports a contiguous buffer; non-contiguous buffers are copied
        into C order first (the bytes hashed are always the C-order bytes)."""
        if isinstance(data, bytes):
            # ctypes passes a bytes object's internal pointer, no copy.
            return call(data, len(data))
        if _get_buffer is not None:
            view = _PyBuffer()
            try:
                rc = _get_buffer(data, ctypes.byref(view), _PyBUF_SIMPLE)
            except (BufferError, ValueError):  # not contiguous
                rc = -1
            except TypeError:
                raise TypeError(f"irohds: cannot hash an object of type "
                                f"{type(data).__name__}: it has no buffer") from None
            if rc == 0:
                try:
                    return call(view.buf, view.len)
                finally:
                    _release_buffer(ctypes.byref(view))
        # Non-contiguous (or no C API): one copy in C order.
        try:
            copy = memoryview(data).tobytes()
        except TypeError:
            raise TypeError(f"irohds: cannot hash an object of type "
                            f"{type(data).__name__}: it has no buffer") from None
        return call(copy, len(copy))


    def blake3(data) -> bytes:
        """BLAKE3-256 of a bytes-like object (bytes, bytearray, memoryview,
        numpy array, any buffer); 32 bytes."""
        out = ctypes.create_string_buffer(HASH_SIZE)
        _with_buffer(data, lambda ptr, n: _lib.irh_blake3(ptr, n, out))
        return out.raw


    def blake3_file_size(path):
        """(BLAKE3-256 of the file's bytes, size in bytes). Raises OSError."""
        out = ctypes.create_string_buffer(HASH_SIZE)
        size = ctypes.c_uint64(0)
        raw = os.fsencode(path)
        if b"\0" in raw:
            raise ValueError("irohds: file path contains a NUL byte")
        if _lib.irh_blake3_file(raw, out, ctypes.byref(size)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fsdecode(raw))
        return out.raw, size.value


    class Hasher:
        """Streaming BLAKE3: h = Hasher(); h.update(b"..."); h.digest().
        digest() does not end the stream; more updates may follow."""

        __slots__ = ("_ptr",)

        def __init__(self, data=None):
            self._ptr = ctypes.c_void_p(_lib.irh_hasher_new())
            if not self._ptr.value:
                raise MemoryError("irohds: irh_hasher_new failed")
            if data is not None:
                self.update(data)

        def update(self, data):
            ptr = self._ptr
            if not ptr.value:
                raise ValueError("irohds: Hasher used after close()")
            _with_buffer(data, lambda p, n: _lib.irh_hasher_update(ptr, p, n))
            return self

        def digest(self) -> bytes:
            if not self._ptr.value:
                raise ValueError("irohds: Hasher used after close()")
            out = ctypes.create_string_buffer(HASH_SIZE)
            _lib.irh_hasher_final(self._ptr, out)
            return out.raw

        def hexdigest(self) -> str:
            return self.digest().hex()

        def reset(self):
            if self._ptr.value:
                _lib.irh_hasher_reset(self._ptr)

        def close(self):
            if self._ptr is not None and self._ptr.value:
                _lib.irh_hasher_destroy(ctypes.byref(self._ptr))

        def __del__(self):
            try:
                self.close()
            except Exception:  # interpreter shutdown: ctypes may be gone
                pass

    def blake3_many(pieces) -> bytes:
        """BLAKE3-256 of the concatenation of a sequence of buffers."""
        return blake3(b"".join(pieces))

    return types.SimpleNamespace(blake3=blake3, blake3_many=blake3_many,
                                 blake3_file_size=blake3_file_size, Hasher=Hasher,
                                 library_path=library_path)


def _load_extension():
    if os.environ.get("IROHDS_NATIVE", "") == "ctypes":
        return None
    try:
        from . import _b3
    except ImportError:
        return None
    return _b3


_ext = _load_extension()
if _ext is not None:
    BACKEND = "extension"
    blake3 = _ext.blake3
    blake3_many = _ext.blake3_many
    blake3_file_size = _ext.blake3_file_size
    Hasher = _ext.Hasher
    library_path = _ext.__file__
else:
    BACKEND = "ctypes"
    _ct = load_ctypes()
    blake3 = _ct.blake3
    blake3_many = _ct.blake3_many
    blake3_file_size = _ct.blake3_file_size
    Hasher = _ct.Hasher
    library_path = _ct.library_path


def blake3_file(path) -> bytes:
    """BLAKE3-256 of a file's contents (read by the C library). Raises OSError."""
    return blake3_file_size(path)[0]
