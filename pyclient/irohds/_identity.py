"""Function identity (DESIGN §4, proto/keys.md §4): a 32-byte digest of a
function's code and of everything it depends on in the user's own code.

identity(f) = BLAKE3 over f's qualified name, f's own "local record", and
the sorted (name, local record digest) pairs of every user-code function
and class reachable from f. Reachability is a graph walk, so mutual
recursion is fine and the result does not depend on walk order. A local
record covers the object's normalized source (or bytecode when there is
none), defaults, closure values, and every global it names: user code by
name (and walked), library code by name + package version, other values
by their canonical encoding (or, when they have none, type + repr with
addresses removed). Public entry points are re-exported by _keys.

Dependencies go one way: this module uses the value encoder (_encoding)
and gives it encode_ref for functions and classes met inside values;
_keys (call keys) imports both, and nothing here imports _keys.
"""
import ast
import inspect
import linecache
import os
import re
import sys
import sysconfig
import textwrap
import tokenize
import types
import weakref

from . import _native
from . import _encoding as _enc   # the value encoder (one-way: _keys imports us)

IDENTITY_VERSION = 1
_STDLIB_NAMES = (frozenset(getattr(sys, "stdlib_module_names", ()))
                 | frozenset(sys.builtin_module_names) | {"builtins", "__future__"})
_STDLIB_DIRS = tuple(sorted({os.path.realpath(p) + os.sep for p in (
    sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib")) if p}))
_LIBRARY_TOPS = {"irohds"}          # our own package is a library, not user code
_USER_MODULES = {}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def _module_file(name):
    f = getattr(sys.modules.get(name), "__file__", None)
    return os.path.realpath(f) if f else None


def _is_user_module(name):
    """User code: __main__, or a module with a file outside the standard
    library and outside site-/dist-packages (editable installs count)."""
    hit = _USER_MODULES.get(name)
    if hit is not None:
        return hit
    top = (name or "").partition(".")[0]
    if name == "__main__":
        user = True
    elif not name or top in _STDLIB_NAMES or top in _LIBRARY_TOPS:
        user = False
    else:
        real = _module_file(name)
        if real is None:
            user = False
        else:
            parts = real.split(os.sep)
            user = not ("site-packages" in parts or "dist-packages" in parts
                        or real.startswith(_STDLIB_DIRS))
    _USER_MODULES[name] = user
    return user


def _lib_version(module):
    top = (module or "").partition(".")[0]
    if not top or top in _STDLIB_NAMES:
        return ""
    real = _module_file(top)
    if real is not None and real.startswith(_STDLIB_DIRS):
        return ""
    version = getattr(sys.modules.get(top), "__version__", "")
    return version if isinstance(version, str) else ""


def _raw_name(obj):
    if _enc._is_ufunc(obj, sys.modules.get("numpy")):
        return "numpy." + obj.__name__      # ufuncs carry no __module__
    module = getattr(obj, "__module__", None) or getattr(
        getattr(obj, "__objclass__", None), "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) \
        or _enc._type_name(type(obj))
    return f"{module}.{qual}" if module else qual


_unwrap = _enc._unwrap


def qualified_name(fn) -> str:
    """'pkg.mod.f' / 'pkg.mod.Class.method' (wrappers and bound methods are
    named by the function they wrap)."""
    if inspect.ismethod(fn):
        fn = fn.__func__
    return _raw_name(_unwrap(fn))


def _external_identity(obj):
    name = _raw_name(obj)
    module = getattr(obj, "__module__", None) or name.partition(".")[0]
    return _native.blake3(b"IRHX" + _enc._enc_str(name) + _enc._enc_str(_lib_version(module)))


def _is_user_code(obj):
    return (isinstance(obj, (types.FunctionType, type))
            and _is_user_module(getattr(obj, "__module__", None)))


# -- source normalization

def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]


def _ast_bytes(node, out):
    """Our own canonical AST dump: node names and non-empty fields, constants
    via _encoding.encode_value. Unlike ast.dump it is the same on Python 3.9-3.13
    (fields added later, e.g. type_params, are empty and so omitted)."""
    if isinstance(node, ast.AST):
        out.append(b"(" + type(node).__name__.encode())
        for field in node._fields:
            if field in ("type_comment", "kind"):
                continue
            value = getattr(node, field, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            out.append(b" " + field.encode() + b"=")
            _ast_bytes(value, out)
        out.append(b")")
    elif isinstance(node, list):
        out.append(b"[")
        for item in node:
            _ast_bytes(item, out)
            out.append(b",")
        out.append(b"]")
    elif node is Ellipsis:
        out.append(b"...")
    else:
        out.append(_encode_value(node))


def _normalized_source(src, kind):
    """Digest of the normalized def/class in src, or None if it will not
    parse as one (then the caller falls back to bytecode)."""
    try:
        tree = ast.parse(textwrap.dedent(src))
    except (SyntaxError, ValueError):
        return None
    if not tree.body or not isinstance(tree.body[0], kind):
        return None
    node = tree.body[0]
    if not isinstance(node, ast.ClassDef):
        # A function's own decorators do not change its code; the object we
        # hash is what they produced (wrappers are covered as themselves).
        node.decorator_list = []
    _strip_docstrings(node)
    out = []
    _ast_bytes(node, out)
    return _native.blake3(b"".join(out))


def _code_fingerprint(code):
    consts = tuple(_code_fingerprint(c) if isinstance(c, types.CodeType) else (type(c), c)
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_argcount, code.co_kwonlyargcount, consts)


def _find_code(code, name, want):
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            if c.co_name == name and _code_fingerprint(c) == want:
                return c
            found = _find_code(c, name, want)
            if found is not None:
                return found
    return None


_COMPILED = {}      # BLAKE3 of a file's text -> its module code object


def _current_source(code, module_globals):
    """The source text of `code` as the file holds it now, or None. The
    file may have been edited since import; its text then describes other
    code, and hashing it would key old results under new code. So the
    current file is compiled whole (compiling one def alone differs, e.g.
    names bound by import compile to other opcodes) and the text is taken
    at the line of the code object that matches the running one exactly."""
    filename = code.co_filename
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, module_globals)
    if not lines:
        return None
    text = "".join(lines)
    digest = _native.blake3(text.encode("utf-8", "surrogatepass"))
    module = _COMPILED.get(digest)
    if module is None:
        try:
            module = compile(text, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return None
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        _COMPILED[digest] = module
    match = _find_code(module, code.co_name, _code_fingerprint(code))
    if match is None:
        return None
    try:
        return "".join(inspect.getblock(lines[match.co_firstlineno - 1:]))
    except (IndexError, SyntaxError, tokenize.TokenError):
        return None


def _code_bytes(code, out):
    out.append(_encode_value((code.co_name, code.co_argcount, code.co_posonlyargcount,
                             code.co_kwonlyargcount, code.co_flags, code.co_names,
                             code.co_varnames, code.co_freevars, code.co_cellvars)))
    out.append(b"b" + _enc._blob(memoryview(code.co_code)))
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_bytes(c, out)
        else:
            try:
                out.append(_encode_value(c))
            except TypeError:
                out.append(_enc._enc_str(_enc._type_name(type(c)) + ":" + repr(c)))


def _code_token(fn):
    code = fn.__code__
    if code.co_name != "<lambda>":      # a lambda's source line is not its own
        src = _current_source(code, fn.__globals__)
        if src:
            digest = _normalized_source(src, (ast.FunctionDef, ast.AsyncFunctionDef))
            if digest is not None:
                return ("source", digest)
    # No (current) source: REPL, exec, lambdas. Bytecode is specific to the
    # Python minor version, which is therefore part of the token.
    out = []
    _code_bytes(code, out)
    return ("bytecode", "%d.%d" % sys.version_info[:2], _native.blake3(b"".join(out)))


def _all_names(code, acc=None):
    acc = set() if acc is None else acc
    acc.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _all_names(c, acc)
    return acc


# -- values referenced by code

def _value_token(v, refs, names, depth=0):
    """Plain, encodable data standing for a value some code refers to; user
    functions and classes are appended to refs (walked, not inlined)."""
    if isinstance(v, types.ModuleType):
        if _is_user_module(v.__name__) and depth < 4:
            # Attribute chains (mod.helper, pkg.sub.CONST): every name the
            # code uses that the module has. Over-inclusion only costs reuse.
            attrs = vars(v)
            return ("module", v.__name__, tuple(
                (n, _value_token(attrs[n], refs, names, depth + 1))
                for n in sorted(names) if n in attrs))
        return ("lib-module", v.__name__, _lib_version(v.__name__))
    if isinstance(v, (types.FunctionType, type)):
        if _is_user_code(v):
            refs.append(v)
            return ("user", _raw_name(v))
        return ("lib", _raw_name(v), _lib_version(getattr(v, "__module__", "")))
    if isinstance(v, (staticmethod, classmethod)):
        return ("wrapped", _enc._type_name(type(v)), _value_token(v.__func__, refs, names, depth))
    if inspect.ismethod(v):
        return ("method", _value_token(v.__func__, refs, names, depth),
                _value_token(v.__self__, refs, names, depth + 1))
    if isinstance(v, _enc._FUNCTION_TYPES) or _enc._is_ufunc(v, sys.modules.get("numpy")):
        return ("lib", _raw_name(v), _lib_version(getattr(v, "__module__", None)
                                                   or _raw_name(v).partition(".")[0]))
    if callable(v) and hasattr(v, "__wrapped__") and _unwrap(v) is not v:
        return ("wrapper", _enc._type_name(type(v)), _value_token(_unwrap(v), refs, names, depth))
    try:
        enc = _enc._Encoder(encode_ref)
        enc.refs = refs
        return ("value", enc.enc(v))
    except (_enc._Unsupported, RecursionError, OSError):
        pass
    t = type(v)
    if _is_user_code(t):
        refs.append(t)
    try:
        text = repr(v)
    except Exception:
        text = "<unrepresentable>"
    return ("opaque", _enc._type_name(t), _ADDRESS.sub("0x?", text[:65536]))


def _owner_class(fn):
    parts = fn.__qualname__.split(".")
    if len(parts) < 2 or "<locals>" in parts[:-1]:
        return None
    obj = sys.modules.get(fn.__module__)
    for p in parts[:-1]:
        obj = getattr(obj, p, None)
    return obj if isinstance(obj, type) else None


def _function_record(fn, refs):
    code = fn.__code__
    names = _all_names(code)
    items = [("function", _raw_name(fn)), _code_token(fn),
             ("defaults", tuple(_value_token(d, refs, names) for d in fn.__defaults__ or ())),
             ("kwdefaults", tuple((k, _value_token(d, refs, names)) for k, d in
                                  sorted((fn.__kwdefaults__ or {}).items())))]
    closure = []
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            closure.append((name, _value_token(cell.cell_contents, refs, names)))
        except ValueError:                  # cell not yet filled
            closure.append((name, ("empty",)))
    items.append(("closure", tuple(closure)))
    g = fn.__globals__
    items.append(("globals", tuple((n, _value_token(g[n], refs, names))
                                   for n in sorted(names) if n in g)))
    owner = _owner_class(fn)
    if owner is not None and _is_user_code(owner):
        refs.append(owner)                  # self.other_method() is code too
        items.append(("owner", _raw_name(owner)))
    return items


def _class_record(cls, refs):
    items = [("class", _raw_name(cls))]
    try:
        digest = _normalized_source(inspect.getsource(cls), ast.ClassDef)
    except (OSError, TypeError, IndexError):
        digest = None
    cls_file = _module_file(cls.__module__)
    methods = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("__") and name.endswith("__") and not isinstance(
                member, (types.FunctionType, staticmethod, classmethod, property)):
            continue                         # __dict__, __module__, __doc__, ...
        funcs = ([member.fget, member.fset, member.fdel] if isinstance(member, property)
                 else [getattr(member, "__func__", member)])
        funcs = [f for f in funcs if isinstance(f, types.FunctionType)]
        methods.append((name, member, funcs,
                        [os.path.realpath(f.__code__.co_filename) == cls_file for f in funcs]))
    # The class text is trusted only if every method written in the file
    # still matches it (see _current_source); otherwise members decide.
    if digest is not None and any(
            here and _current_source(f.__code__, f.__globals__) is None
            for _, _, funcs, in_file in methods for f, here in zip(funcs, in_file)):
        digest = None
    items.append(("source", digest) if digest is not None else ("nosource",))
    items.append(("bases", tuple(_value_token(b, refs, ()) for b in cls.__bases__)))
    members = []
    for name, member, funcs, in_file in methods:
        if funcs:
            for f, here in zip(funcs, in_file):
                # Generated methods (dataclass __init__, ...) come from the
                # class source already; only walk code written in the file.
                if digest is None or here:
                    refs.append(f)
                    members.append((name, "method", _raw_name(f)))
        else:
            # Class attributes are baked values (N = SIZE * 2): hash them.
            members.append((name, _value_token(member, refs, ())))
    items.append(("members", tuple(members)))
    return items


_RECORDS = weakref.WeakKeyDictionary()
_IDENTITIES = weakref.WeakKeyDictionary()
_SIGNATURES = {}


def _local_record(obj):
    try:
        hit = _RECORDS.get(obj)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    refs = []
    items = _class_record(obj, refs) if isinstance(obj, type) else _function_record(obj, refs)
    enc = _enc._Encoder(encode_ref)
    enc.refs = []
    record = (_native.blake3(enc.enc(tuple(items))), tuple(refs))
    try:
        _RECORDS[obj] = record
    except TypeError:
        pass
    return record


def _full_identity(root):
    records = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        obj = stack.pop()
        digest, refs = _local_record(obj)
        records[id(obj)] = (_raw_name(obj), digest)
        for r in refs:
            if id(r) not in seen:
                seen.add(id(r))
                stack.append(r)
    name, digest = records.pop(id(root))
    payload = (name, digest, tuple(sorted(records.values())))
    return _native.blake3(b"IRHI" + bytes([IDENTITY_VERSION]) + _encode_value(payload))


def _object_identity(obj):
    """Identity of a function or class used as a value (argument 'R')."""
    if _is_user_code(obj):
        return function_identity(obj)
    if callable(obj) and hasattr(obj, "__wrapped__") and _unwrap(obj) is not obj:
        return function_identity(obj)
    return _external_identity(obj)


def function_identity(fn) -> bytes:
    """32-byte identity of a callable's code (proto/keys.md §4); cached per
    function object. Also records its signature for call_key."""
    try:
        hit = _IDENTITIES.get(fn)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    if isinstance(fn, (types.FunctionType, type)):
        ident = _full_identity(fn)          # the root is walked even if it is library code
    elif inspect.ismethod(fn):
        ident = _native.blake3(b"IRHM" + function_identity(fn.__func__)
                               + _encode_value(fn.__self__, "self"))
    elif callable(fn) and hasattr(fn, "__wrapped__") and _unwrap(fn) is not fn:
        ident = _native.blake3(b"IRHW" + _enc._enc_str(_enc._type_name(type(fn)))
                               + function_identity(_unwrap(fn)))
    elif isinstance(fn, _enc._FUNCTION_TYPES) or _enc._is_ufunc(fn, sys.modules.get("numpy")):
        ident = _external_identity(fn)
    else:
        raise TypeError(f"irohds: cannot derive a function identity from an object "
                        f"of type {_enc._type_name(type(fn))}")
    try:
        _SIGNATURES[ident] = inspect.signature(fn)
    except (TypeError, ValueError):
        _SIGNATURES.setdefault(ident, None)
    try:
        _IDENTITIES[fn] = ident
    except TypeError:
        pass
    return ident


def encode_ref(enc, x):
    """Encoding of a function or class met as a value: in an identity
    record (enc.refs is a list) user code is named and walked as part of
    the graph; elsewhere it is its name and full identity."""
    target = _unwrap(x)
    if enc.refs is not None and _is_user_code(target):
        enc.refs.append(target)
        return b"r" + _enc._enc_str(_raw_name(target))
    return b"R" + _enc._enc_str(qualified_name(x)) + _object_identity(x)


def _encode_value(value, name="arg"):
    return _enc.encode_value(value, name, encode_ref)


def signature_for(identity):
    """The signature of the function whose identity this is, if this
    process derived it (call_key binds arguments with it)."""
    return _SIGNATURES.get(bytes(identity))
