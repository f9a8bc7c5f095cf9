"""Home resolution and <home>/config.toml for the Python client.

Home resolution mirrors common/irh_paths.h (IROHDS_HOME, then
XDG_DATA_HOME/irohds, then ~/.local/share/irohds) so the client and the
daemon always agree on where the store and the broker socket live.

The config file is parsed by the ONE parser in libirohds (irh_config.h),
reached through ctypes, so the client never disagrees with the daemon about
what a config line means. If the library or the file cannot be used, the
client runs on defaults: a config problem must never break a program.
"""
import ctypes
import os
import pwd
import stat
import threading

# Defaults (also documented in docs/python.md).
DEFAULT_TIMEOUT = 2.0            # seconds per request to the daemon
DEFAULT_INLINE_MAX = 64 * 1024   # store.inline_max: larger results go as files
DEFAULT_MEM_BYTES = 256 << 20    # in-process tier budget
MAX_TIMEOUT = 3600.0             # longer (inf, 1e308) falls back to the default
DEFAULT_FETCH_TIMEOUT = 0.0      # peers.fetch_timeout: 0 = no limit (see docs/config.md)
MAX_FETCH_TIMEOUT = 7 * 86400.0
DEFAULT_PROGRESS = "auto"        # client.progress
PROGRESS_MODES = ("auto", "always", "never")

_lib = None
_lib_lock = threading.Lock()


_home_cache = {}


def home():
    """The irohds home directory (absolute), as irh_paths.h resolves it.
    Called on hot paths: the common case (IROHDS_HOME set) is one lookup."""
    h = os.environ.get("IROHDS_HOME")
    if h:
        r = _home_cache.get(h)
        if r is None:
            r = _home_cache[h] = os.path.abspath(h)
        return r
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and xdg.startswith("/"):     # the XDG spec: a relative value is ignored
        return os.path.abspath(os.path.join(xdg, "irohds"))
    # $HOME, or the password entry when it is unset OR empty (expanduser
    # would turn an empty $HOME into "/").
    user = os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
    return os.path.abspath(os.path.join(user, ".local", "share", "irohds"))


def broker_endpoint(h=None):
    return "ipc://%s/run/broker.ipc" % (h or home())


def native_lib():
    """libirohds (ctypes CDLL) through irohds._native's one loader, or None
    when it cannot be loaded (callers then fall back to defaults)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                from . import _native
                _lib = _native.library()
            except ImportError:
                _lib = False
        return _lib or None


class Config:
    """Values the client reads from <home>/config.toml, with defaults."""

    def __init__(self, h=None):
        self.home = h or home()
        self.path = os.path.join(self.home, "config.toml")
        self.timeout = DEFAULT_TIMEOUT
        self.inline_max = DEFAULT_INLINE_MAX
        self.mem_bytes = DEFAULT_MEM_BYTES
        self.fetch_timeout = DEFAULT_FETCH_TIMEOUT
        self.progress = DEFAULT_PROGRESS
        self.errors = []
        self._load()
        env = os.environ.get("IROHDS_TIMEOUT")
        if env:
            try:
                t = float(env)
            except ValueError:
                self.errors.append("IROHDS_TIMEOUT=%r is not a number of seconds; "
                                   "using %gs" % (env, DEFAULT_TIMEOUT))
            else:
                self._set_timeout(t, "IROHDS_TIMEOUT")

    def _set_timeout(self, t, where):
        # nan, inf, 1e308 and negative values would overflow or never end a
        # wait: refuse them with a message instead.
        if t == t and 0 < t <= MAX_TIMEOUT:
            self.timeout = t
        else:
            self.timeout = DEFAULT_TIMEOUT
            self.errors.append("%s = %r is not a timeout between 0 and %gs; using %gs"
                               % (where, t, MAX_TIMEOUT, DEFAULT_TIMEOUT))

    def _load(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or device would block the parser forever: never open it.
            self.errors.append("%s is not a regular file; using defaults" % self.path)
            return
        lib = native_lib()
        try:
            load = lib.irh_config_load
            destroy = lib.irh_config_destroy
            get_u64 = lib.irh_config_u64
            get_double = lib.irh_config_double
            get_str = lib.irh_config_str
            nerr = lib.irh_config_errors
            err = lib.irh_config_error
        except AttributeError:
            # Library missing or built without the config module.
            self.errors.append("libirohds config parser unavailable; using defaults")
            return
        load.restype = ctypes.c_void_p
        load.argtypes = [ctypes.c_char_p]
        destroy.restype = None
        destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        get_u64.restype = ctypes.c_uint64
        get_u64.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64]
        get_double.restype = ctypes.c_double
        get_double.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double]
        get_str.restype = ctypes.c_char_p
        get_str.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        nerr.restype = ctypes.c_size_t
        nerr.argtypes = [ctypes.c_void_p]
        err.restype = ctypes.c_char_p
        err.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        cfg = load(os.fsencode(self.path))
        if not cfg:
            self.errors.append("cannot read %s; using defaults" % self.path)
            return
        try:
            t = get_double(cfg, b"client.timeout", -1.0)
            if t != -1.0:
                self._set_timeout(t, "client.timeout")
            self.inline_max = int(get_u64(cfg, b"store.inline_max", DEFAULT_INLINE_MAX))
            self.mem_bytes = int(get_u64(cfg, b"client.mem_bytes", DEFAULT_MEM_BYTES))
            ft = get_double(cfg, b"peers.fetch_timeout", DEFAULT_FETCH_TIMEOUT)
            if ft == ft and 0 <= ft <= MAX_FETCH_TIMEOUT:
                self.fetch_timeout = ft
            else:
                self.errors.append("peers.fetch_timeout = %r is not a duration between 0 "
                                   "(no limit) and 7 days; using no limit" % ft)
            mode = get_str(cfg, b"client.progress", None)
            if mode is not None:
                mode = mode.decode("utf-8", "replace")
                if mode in PROGRESS_MODES:
                    self.progress = mode
                else:
                    self.errors.append("client.progress = %r is not one of auto, always, "
                                       "never; using auto" % mode)
            for i in range(nerr(cfg)):
                msg = err(cfg, i)
                if msg:
                    self.errors.append(msg.decode("utf-8", "replace"))
        finally:
            box = ctypes.c_void_p(cfg)
            destroy(ctypes.byref(box))


_config = None
_config_key = None


def get():
    """The config for the current home (re-read when IROHDS_HOME changes)."""
    global _config, _config_key
    key = (home(), os.environ.get("IROHDS_TIMEOUT"))
    if _config is None or _config_key != key:
        _config = Config(key[0])
        _config_key = key
        if _config.errors:
            _report(_config)
    return _config


def _report(cfg):
    """Config problems, once per process and home: one IrohdsWarning
    naming them all, and the log (docs/config.md promises both)."""
    from . import _log
    _log.warn_once("config:" + cfg.path + "|".join(cfg.errors),
                   "irohds: problems in the configuration (%s): %s; the defaults are "
                   "used for these" % (cfg.path, "; ".join(cfg.errors)))
