"""The restricted unpickler for results that came from a peer in a
namespace without a secret (_codec.decode(buf, trusted=False)).

Such a blob proves only that its bytes match its own manifest, not who
made it, so unpickling it must not be able to run code. Three layers:

  * find_class resolves only the globals of an explicit allow-list (plain
    data types, a few standard-library value types, numpy arrays, scalars
    and dtypes by the names numpy 1.x and 2.x pickle them under, and
    irohds.FileRef); anything else raises UnsafeResult naming it.
  * Opcodes that call or mutate objects are re-checked here, because an
    allowed callable with hostile arguments is still a call: REDUCE only
    calls allowed callables, each with its own argument check; NEWOBJ only
    makes allowed classes; BUILD only sets the state of allowed types, each
    through its own check; APPEND(S)/SETITEM(S)/ADDITEMS only go into plain
    containers; INST, OBJ, NEWOBJ_EX, EXT* and persistent ids are refused
    (protocol 5 as _codec writes it never uses them).
  * numpy gets no raw object pointers: an array made from bytes
    (_frombuffer, scalar) never has an object dtype, an object array only
    comes from a list of already-checked objects, and a dtype's state is
    validated (numpy's own dtype.__setstate__ accepts overlapping object
    fields, which would turn bytes into pointers). A dtype or array may be
    given its state once, before anything uses it.

This is the pure-Python pickle._Unpickler: the C unpickler has no hook per
opcode. Out-of-band buffers stay views of the blob, so large arrays load
without a copy, as on the trusted path.
"""
import collections
import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import struct
import threading
import uuid

from ._codec import UnsafeResult
from ._scratch import FileRef

_MAX_DTYPE_DEPTH = 32        # nested fields/subarrays of one dtype
_NAME_SHOWN = 120            # of a refused global's name in the message


def _refuse(what):
    raise UnsafeResult("result from a peer refused: %s" % what)


def _kind(obj):
    """A short, safe description of obj for messages (never its repr): a
    class by its name, anything else by its type's."""
    t = obj if isinstance(obj, type) else type(obj)
    return "%s.%s" % (t.__module__, t.__qualname__)


# ---------------------------------------------------------------- checks of calls

def _ints(args, lo, hi):
    if not lo <= len(args) <= hi or any(type(a) is not int for a in args):
        _refuse("bad arguments")


def _plain_args(types, lo, hi):
    def check(self, func, args):
        if not lo <= len(args) <= hi or any(type(a) not in types for a in args):
            _refuse("bad arguments to %s" % func.__qualname__)
        return func(*args)
    return check


def _call_range(self, func, args):
    _ints(args, 1, 3)
    return func(*args)


def _call_any(self, func, args):
    # slice holds any (already checked) objects and calls nothing.
    if len(args) > 3:
        _refuse("bad arguments to slice")
    return func(*args)


# A defaultdict calls its factory on every missing key, later, in the
# user's code: only a plain type that makes an empty value is allowed.
_FACTORIES = frozenset((list, dict, set, frozenset, tuple, int, float, complex, str,
                        bytes, bytearray, bool, collections.OrderedDict,
                        collections.Counter, collections.deque))


def _call_defaultdict(self, func, args):
    if len(args) > 1 or (args and args[0] is not None and args[0] not in _FACTORIES):
        _refuse("defaultdict factory %s" % _kind(args[0]))
    return func(*args)


def _call_ordereddict(self, func, args):
    if args:
        _refuse("bad arguments to OrderedDict")
    return func()


def _call_counter(self, func, args):
    if len(args) > 1 or (args and type(args[0]) is not dict):
        _refuse("bad arguments to Counter")
    return func(*args)


def _call_deque(self, func, args):
    if (len(args) > 2 or (args and type(args[0]) not in (list, tuple))
            or (len(args) == 2 and args[1] is not None and type(args[1]) is not int)):
        _refuse("bad arguments to deque")
    return func(*args)


def _call_datetime(self, func, args):
    # The C constructors take their pickled state (bytes and a tzinfo,
    # which must be a tzinfo instance: only timezone is allowed) or numbers.
    if len(args) > 8 or any(type(a) not in (bytes, int, str, datetime.timezone,
                                            datetime.timedelta, type(None))
                            for a in args):
        _refuse("bad arguments to %s" % func.__qualname__)
    return func(*args)


_PLAIN_GLOBALS = {
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "tuple"): tuple,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "bytes"): bytes, ("builtins", "bytearray"): bytearray,
    ("builtins", "str"): str, ("builtins", "int"): int, ("builtins", "float"): float,
    ("builtins", "complex"): complex, ("builtins", "bool"): bool,
    ("builtins", "slice"): slice, ("builtins", "range"): range,
    ("builtins", "Ellipsis"): Ellipsis,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("collections", "deque"): collections.deque,
    ("collections", "Counter"): collections.Counter,
    ("datetime", "datetime"): datetime.datetime, ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time, ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
    ("fractions", "Fraction"): fractions.Fraction,
    ("uuid", "UUID"): uuid.UUID,
    ("pathlib", "PurePath"): pathlib.PurePath,
    ("pathlib", "PurePosixPath"): pathlib.PurePosixPath,
    ("pathlib", "PureWindowsPath"): pathlib.PureWindowsPath,
    # Making a PosixPath does no I/O; it is what Path() is on this system.
    ("pathlib", "PosixPath"): pathlib.PosixPath,
    ("irohds._scratch", "FileRef"): FileRef,
}

# Callable by REDUCE: object -> check(unpickler, object, args) -> value.
_CALLS = {
    complex: _plain_args((int, float), 0, 2),
    slice: _call_any,
    range: _call_range,
    collections.OrderedDict: _call_ordereddict,
    collections.defaultdict: _call_defaultdict,
    collections.deque: _call_deque,
    collections.Counter: _call_counter,
    datetime.datetime: _call_datetime, datetime.date: _call_datetime,
    datetime.time: _call_datetime, datetime.timedelta: _call_datetime,
    datetime.timezone: _call_datetime,
    decimal.Decimal: _plain_args((str, tuple, int), 1, 1),
    # Numerator and denominator: a string could ask for 10**(10**9).
    fractions.Fraction: _plain_args((int,), 1, 2),
    pathlib.PurePath: _plain_args((str,), 0, 4096),
    pathlib.PurePosixPath: _plain_args((str,), 0, 4096),
    pathlib.PureWindowsPath: _plain_args((str,), 0, 4096),
    pathlib.PosixPath: _plain_args((str,), 0, 4096),
}

_CALL_IDS = {}               # id(callable) -> (callable, check), filled by _allow_call


def _allow_call(obj, check):
    _CALLS[obj] = check
    _CALL_IDS[id(obj)] = (obj, check)


for _obj, _check in list(_CALLS.items()):
    _allow_call(_obj, _check)
del _obj, _check

# Containers the item-adding opcodes may add to (their own C methods).
_LISTS = (list, collections.deque)
_DICTS = (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)


# ---------------------------------------------------------------- state (BUILD)

def _build_uuid(self, inst, state):
    if (type(state) is not dict or not set(state) <= {"int", "is_safe"}
            or type(state.get("int")) is not int or not 0 <= state["int"] < 1 << 128
            or state.get("is_safe") not in (0, -1, None)):
        _refuse("bad state for uuid.UUID")
    inst.__setstate__(state)


def _build_fileref(self, inst, state):
    if (type(state) is not tuple or len(state) != 2 or state[0] is not None
            or type(state[1]) is not dict or set(state[1]) != {"path"}
            or type(state[1]["path"]) is not str):
        _refuse("bad state for irohds.FileRef")
    inst.path = state[1]["path"]


# ---------------------------------------------------------------- numpy

_np_lock = threading.Lock()
_np = None                   # the numpy module once its entries are added


def _check_dtype(self, d, depth=0):
    """Refuse a dtype that could put a pointer where bytes are, or index
    outside an item, or whose state disagrees with what numpy would make
    of its own description (its flags decide what numpy treats as
    objects); it and every dtype inside it can no longer be given a state
    (they are in use from here on)."""
    np = _np
    if not isinstance(d, np.dtype):
        _refuse("%s where a numpy dtype belongs" % _kind(d))
    if depth > _MAX_DTYPE_DEPTH:
        _refuse("numpy dtype nested too deeply")
    self._fresh.pop(id(d), None)
    if d.hasobject or d.kind == "O":
        if d.names is not None or d.subdtype is not None or d.kind != "O" \
                or d.itemsize != _OBJECT_SIZE:
            _refuse("numpy dtype with object fields")
    elif d.subdtype is not None:
        base, shape = d.subdtype
        _check_dtype(self, base, depth + 1)
        n = 1
        for dim in shape:
            if type(dim) is not int or dim < 0:
                _refuse("numpy dtype with a bad subarray shape")
            n *= dim
        if n * base.itemsize != d.itemsize:
            _refuse("numpy subarray dtype of the wrong size")
    elif d.names is not None:
        fields = d.fields
        for name in d.names:
            field = fields[name]
            sub, offset = field[0], field[1]
            _check_dtype(self, sub, depth + 1)
            if type(offset) is not int or offset < 0 or offset + sub.itemsize > d.itemsize:
                _refuse("numpy dtype field outside its item")
    try:
        canon = _canonical(d)
        same = (canon == d and canon.itemsize == d.itemsize and canon.kind == d.kind
                and (canon.flags & ~_ALIGNED_STRUCT) == (d.flags & ~_ALIGNED_STRUCT))
    except Exception:
        same = False
    if not same:
        _refuse("numpy dtype whose state numpy would not make")
    return d


_ALIGNED_STRUCT = 0x80       # NPY_ALIGNED_STRUCT: the only flag align= changes


def _canonical(d):
    """The dtype numpy makes from d's description (checked parts only)."""
    np = _np
    if d.subdtype is not None:
        return np.dtype(d.subdtype)
    if d.names is not None:
        fields = d.fields
        return np.dtype({"names": list(d.names), "formats": [fields[n][0] for n in d.names],
                         "offsets": [fields[n][1] for n in d.names], "itemsize": d.itemsize})
    return np.dtype(d.str)


def _check_shape(shape):
    if type(shape) is not tuple or any(type(n) is not int or n < 0 for n in shape):
        _refuse("bad numpy shape")
    total = 1
    for n in shape:
        total *= n
    return total


def _call_dtype(self, func, args):
    # numpy pickles dtype(spec, align, copy); copy=False would hand out a
    # shared built-in dtype whose state BUILD could then change for the
    # whole process.
    if len(args) != 3 or type(args[0]) is not str or type(args[1]) is not bool \
            or args[2] is not True:
        _refuse("bad arguments to numpy.dtype")
    d = func(*args)
    self._fresh[id(d)] = d
    return d


def _check_dtype_state(state):
    """Only the shapes of state numpy itself writes (version 3, or 4 with
    metadata): numpy's dtype.__setstate__ crashes on some others, e.g. a
    tuple where its names belong."""
    np = _np
    if type(state) is not tuple or len(state) not in (8, 9):
        return False
    version, endian, sub, names, fields, elsize, align, flags = state[:8]
    if version != (3 if len(state) == 8 else 4) or type(version) is not int:
        return False
    if endian not in ("<", ">", "|", "=") or type(endian) is not str:
        return False
    if any(type(n) is not int for n in (elsize, align, flags)) or elsize < -1 \
            or align not in (-1, 1, 2, 4, 8, 16, 32, 64):
        return False
    if len(state) == 9:
        meta = state[8]
        if type(meta) is tuple:           # datetime: (metadata, (unit, num, den, events))
            if (len(meta) != 2 or type(meta[0]) is not dict or type(meta[1]) is not tuple
                    or len(meta[1]) != 4 or type(meta[1][0]) is not bytes
                    or any(type(n) is not int for n in meta[1][1:])):
                return False
            meta = meta[0]
        if type(meta) is not dict:
            return False
    if sub is not None:
        if (names is not None or type(sub) is not tuple or len(sub) != 2
                or not isinstance(sub[0], np.dtype) or type(sub[1]) is not tuple):
            return False
    if (names is None) != (fields is None):
        return False
    if names is not None:
        if (type(names) is not tuple or type(fields) is not dict
                or any(type(n) is not str for n in names)
                or len(set(names)) != len(names) or set(fields) != set(names)):
            return False
        for value in fields.values():
            if (type(value) is not tuple or len(value) != 2
                    or not isinstance(value[0], np.dtype) or type(value[1]) is not int):
                return False
    return True


def _build_dtype(self, inst, state):
    if self._fresh.pop(id(inst), None) is not inst:
        _refuse("state for a numpy dtype already in use")
    if not _check_dtype_state(state):
        _refuse("bad state for numpy.dtype")
    inst.__setstate__(state)
    return _check_dtype(self, inst)


def _call_reconstruct(self, func, args):
    # The only call numpy pickles: an empty array that BUILD then fills.
    if len(args) != 3 or args[0] is not _np.ndarray or args[1] != (0,) \
            or type(args[1]) is not tuple or args[2] != b"b" or type(args[2]) is not bytes:
        _refuse("bad arguments to numpy _reconstruct")
    a = func(*args)
    self._fresh[id(a)] = a
    return a


def _build_array(self, inst, state):
    if type(inst) is not _np.ndarray or self._fresh.pop(id(inst), None) is not inst:
        _refuse("state for a numpy array already in use")
    # (version 1, shape, dtype, is_fortran, data): what numpy writes.
    if type(state) is not tuple or len(state) != 5 or state[0] != 1 \
            or type(state[0]) is not int or type(state[3]) is not bool:
        _refuse("bad state for numpy.ndarray")
    _version, shape, dtype, _fortran, data = state
    n = _check_shape(shape)
    _check_dtype(self, dtype)
    if dtype.hasobject:
        # numpy fills an object array from a list of (checked) objects.
        if type(data) is not list or len(data) != n:
            _refuse("bad data for a numpy object array")
    elif type(data) not in (bytes, bytearray) or len(data) != n * dtype.itemsize:
        _refuse("bad data for a numpy array")
    inst.__setstate__(state)


def _call_frombuffer(self, func, args):
    if len(args) != 4:
        _refuse("bad arguments to numpy _frombuffer")
    buf, dtype, shape, order = args
    # Only bytes the pickle carried: never another array, whose memory a
    # later state change could free under this view.
    if type(buf) not in (memoryview, bytes, bytearray, pickle.PickleBuffer):
        _refuse("numpy _frombuffer of %s" % _kind(buf))
    _check_dtype(self, dtype)
    if dtype.hasobject:
        _refuse("numpy object array from raw bytes")
    n = _check_shape(shape)
    if order not in ("C", "F") or type(order) is not str:
        _refuse("bad numpy order")
    if n * dtype.itemsize != memoryview(buf).nbytes:
        _refuse("numpy buffer of the wrong size")
    return func(buf, dtype, shape, order)


def _call_scalar(self, func, args):
    if len(args) != 2:
        _refuse("bad arguments to numpy scalar")
    dtype, data = args
    _check_dtype(self, dtype)
    if dtype.hasobject:
        return data          # numpy returns the (checked) object itself
    if type(data) is not bytes or len(data) != dtype.itemsize:
        _refuse("bad data for a numpy scalar")
    return func(dtype, data)


_OBJECT_SIZE = None


def _add_numpy():
    """Allow numpy's names once numpy is wanted (importing it costs ~0.1 s,
    so it is not done for blobs without arrays)."""
    global _np, _OBJECT_SIZE
    with _np_lock:
        if _np is not None:
            return True
        try:
            import numpy as np
            from numpy.core import multiarray, numeric
        except ImportError:
            return False
        _OBJECT_SIZE = np.dtype(object).itemsize
        _PLAIN_GLOBALS[("numpy", "ndarray")] = np.ndarray
        _PLAIN_GLOBALS[("numpy", "dtype")] = np.dtype
        _allow_call(np.dtype, _call_dtype)
        # numpy 2 pickles the same functions under numpy._core.
        for pkg in ("numpy.core", "numpy._core"):
            _PLAIN_GLOBALS[(pkg + ".multiarray", "_reconstruct")] = multiarray._reconstruct
            _PLAIN_GLOBALS[(pkg + ".multiarray", "scalar")] = multiarray.scalar
            _PLAIN_GLOBALS[(pkg + ".numeric", "_frombuffer")] = numeric._frombuffer
        _allow_call(multiarray._reconstruct, _call_reconstruct)
        _allow_call(multiarray.scalar, _call_scalar)
        _allow_call(numeric._frombuffer, _call_frombuffer)
        _np = np
        return True


# ---------------------------------------------------------------- the unpickler

_U = pickle._Unpickler


def _op(code):
    return code[0]


class SafeUnpickler(pickle._Unpickler):
    """Unpickles only allow-listed globals, calls and states (module doc)."""

    dispatch = dict(_U.dispatch)

    def __init__(self, file, buffers):
        super().__init__(file, buffers=buffers)
        # id -> dtype or array that may still be given its state once.
        self._fresh = {}

    def find_class(self, module, name):
        if type(module) is str and type(name) is str:
            if module.split(".", 1)[0] == "numpy":
                _add_numpy()
            obj = _PLAIN_GLOBALS.get((module, name))
            if obj is not None:
                return obj
        else:
            module = name = "?"
        _refuse("global %.*s.%.*s is not on the allow-list"
                % (_NAME_SHOWN, module, _NAME_SHOWN, name))

    def persistent_load(self, pid):
        _refuse("persistent id")

    def _checked(self, func):
        # By identity: an object on the stack that merely compares equal
        # to an allowed callable must not pass.
        entry = _CALL_IDS.get(id(func))
        if entry is None or entry[0] is not func:
            _refuse("call of %s" % _kind(func))
        return entry[1]

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        check = self._checked(func)
        if type(args) is not tuple:
            _refuse("call with arguments of %s" % _kind(args))
        stack[-1] = check(self, func, args)
    dispatch[_op(pickle.REDUCE)] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if (cls is not uuid.UUID and cls is not FileRef) or args != ():
            _refuse("making an instance of %s" % (cls.__qualname__ if isinstance(cls, type)
                                                   else _kind(cls)))
        self.append(cls.__new__(cls))
    dispatch[_op(pickle.NEWOBJ)] = load_newobj

    def load_build(self):
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        t = type(inst)
        if t is uuid.UUID:
            _build_uuid(self, inst, state)
        elif t is FileRef:
            _build_fileref(self, inst, state)
        elif _np is not None and isinstance(inst, _np.dtype):
            _build_dtype(self, inst, state)
        elif _np is not None and t is _np.ndarray:
            _build_array(self, inst, state)
        else:
            _refuse("state for %s" % _kind(inst))
    dispatch[_op(pickle.BUILD)] = load_build

    def load_append(self):
        if type(self.stack[-2]) not in _LISTS:
            _refuse("append to %s" % _kind(self.stack[-2]))
        _U.load_append(self)
    dispatch[_op(pickle.APPEND)] = load_append

    def load_appends(self):
        if type(self.metastack[-1][-1]) not in _LISTS:
            _refuse("append to %s" % _kind(self.metastack[-1][-1]))
        _U.load_appends(self)
    dispatch[_op(pickle.APPENDS)] = load_appends

    def load_setitem(self):
        if type(self.stack[-3]) not in _DICTS:
            _refuse("item set in %s" % _kind(self.stack[-3]))
        _U.load_setitem(self)
    dispatch[_op(pickle.SETITEM)] = load_setitem

    def load_setitems(self):
        if type(self.metastack[-1][-1]) not in _DICTS:
            _refuse("item set in %s" % _kind(self.metastack[-1][-1]))
        _U.load_setitems(self)
    dispatch[_op(pickle.SETITEMS)] = load_setitems

    def load_additems(self):
        if type(self.metastack[-1][-1]) is not set:
            _refuse("item added to %s" % _kind(self.metastack[-1][-1]))
        _U.load_additems(self)
    dispatch[_op(pickle.ADDITEMS)] = load_additems

    def load_bytearray8(self):
        # pickle's own loader allocates the claimed length (up to 2**63)
        # before reading: read first, so a lie costs nothing.
        n, = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("BYTEARRAY8 overruns the stream")
        self.append(bytearray(data))
    dispatch[_op(pickle.BYTEARRAY8)] = load_bytearray8

    def _refused_opcode(self):
        _refuse("pickle opcode not used by irohds blobs")
    for _code in (pickle.INST, pickle.OBJ, pickle.NEWOBJ_EX, pickle.EXT1, pickle.EXT2,
                  pickle.EXT4, pickle.PERSID, pickle.BINPERSID):
        dispatch[_op(_code)] = _refused_opcode
    del _code


def loads(stream, buffers):
    """The value in pickle stream (a buffer) with its out-of-band buffers.
    Raises UnsafeResult for anything off the allow-list, other exceptions
    for a malformed stream."""
    return SafeUnpickler(io.BytesIO(stream), buffers).load()
