"""Client side of the broker envelope (proto/README.md §1, IRC1) over pyzmq.

One Transport per process (get_transport() notices a fork and builds a new
one: ZeroMQ sockets must never cross a fork). Each thread gets its own
DEALER socket, so threads never share a socket and replies are matched by
request id on the socket that sent the request; replies to requests we
gave up on (timeouts, fire-and-forget "touch") are simply dropped when they
arrive.

Sockets set IMMEDIATE: a request is queued only on a live connection, so a
dead daemon shows up as "cannot send" within the timeout instead of as
requests that pile up and are delivered to the next daemon long after we
stopped caring about them.

When no daemon answers, the transport starts `irohds-daemon --detach` once
per process and retries; after that it raises Unavailable and the caller
computes locally.
"""
import atexit
import itertools
import os
import shutil
import subprocess
import threading
import time

import zmq

from . import _config
from . import _log
from . import _proto

# Envelope constants come from proto/envelope.def (generated into _proto).
PROTOCOL = _proto.PROTO_CLIENT.encode()
_STATUS_OK = _proto.STATUS_OK.encode()


def find_binary(name: str):
    """Path of an irohds binary (irohds-daemon, irohds-ctl): the build's or
    the install's bin/ next to this package, else PATH; None if none."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    # <build>/python/irohds -> <build>/bin; an install's
    # <prefix>/lib/python3.X/site-packages/irohds -> <prefix>/bin.
    for up in (2, 4):
        cand = os.path.normpath(os.path.join(pkg, *[".."] * up, "bin", name))
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name)


class Unavailable(Exception):
    """No daemon answered in time (or it could not be started)."""


class ServiceError(Exception):
    """The service (or broker) answered ERR code text."""

    def __init__(self, code, text):
        super().__init__("%s: %s" % (code, text))
        self.code = code
        self.text = text


def parse_table(frames):
    """Parse a table reply (proto/README.md §3) into a list of dicts with
    typed values. Raises ValueError on a malformed table."""
    if not frames:
        raise ValueError("table: no header frame")
    header = bytes(frames[0]).decode("utf-8")
    if not header.startswith("T1\t") and header != "T1":
        raise ValueError("table: bad header %r" % header[:40])
    cols = []
    for spec in header.split("\t")[1:]:
        name, sep, kind = spec.rpartition(":")
        if not sep or kind not in _CONVERT:
            raise ValueError("table: bad column %r" % spec)
        cols.append((name, _CONVERT[kind]))
    rows = []
    for frame in frames[1:]:
        values = bytes(frame).decode("utf-8").split("\t")
        if len(values) != len(cols):
            raise ValueError("table: row has %d values for %d columns"
                             % (len(values), len(cols)))
        rows.append({name: conv(v) for (name, conv), v in zip(cols, values)})
    return rows


def _unescape(s):
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append({"t": "\t", "n": "\n", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _bool(v):
    if v not in ("0", "1"):
        raise ValueError("table: bad bool %r" % v)
    return v == "1"


def _hex(v):
    return bytes.fromhex(v)


# Column types in the order proto/envelope.def's TABLE_TYPES lists them
# (u64, i64, double, str, hex, bool).
_CONVERT = dict(zip(_proto.TABLE_TYPES, (int, int, float, _unescape, _hex, _bool)))


class Transport:
    """Request/reply to services through the broker (or a standalone
    actor's ROUTER when endpoint is given)."""

    def __init__(self, endpoint=None, home=None, autostart=True):
        self.pid = os.getpid()
        self.home = home or _config.home()
        self.endpoint = endpoint or _config.broker_endpoint(self.home)
        self.autostart = autostart and endpoint is None
        self.ctx = zmq.Context()
        self._local = threading.local()
        self._sockets = []
        self._lock = threading.Lock()
        self._rids = itertools.count(1)
        self._prefix = b"%x." % self.pid
        self._start_tried = False
        self.started_daemon = False
        self.closed = False

    # ---- sockets ----

    def _socket(self):
        sock = getattr(self._local, "sock", None)
        if sock is None:
            if self.closed:
                # A thread still holding a transport that was replaced
                # (home changed) or closed at exit: as if no daemon.
                raise Unavailable("transport closed")
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.setsockopt(zmq.RECONNECT_IVL, 50)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
            sock.connect(self.endpoint)
            self._local.sock = sock
            with self._lock:
                self._sockets.append(sock)
        return sock

    def close_thread_socket(self):
        """Close this thread's socket (a short-lived thread, e.g. a fetch
        watcher, calls it at its end so sockets do not pile up)."""
        sock = getattr(self._local, "sock", None)
        if sock is None:
            return
        self._local.sock = None
        self._local.kept = None
        with self._lock:
            if sock in self._sockets:
                self._sockets.remove(sock)
        try:
            sock.close(0)
        except zmq.ZMQError:
            pass

    def _ipc_path(self):
        if self.endpoint.startswith("ipc://"):
            return self.endpoint[6:]
        return None

    # ---- requests ----

    def send(self, service, name, extra=(), timeout=None, **fields):
        """Send one request; returns its rid. Raises Unavailable when it
        cannot be queued on a live connection within timeout."""
        if timeout is None:
            timeout = _config.get().timeout
        body = _proto.encode(name, **fields)
        rid = self._prefix + b"%x" % next(self._rids)
        sock = self._socket()
        frames = [PROTOCOL, service.encode(), rid, body] + list(extra)
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=len(extra) == 0)
            return rid
        except zmq.Again:
            pass
        path = self._ipc_path()
        if path is not None and not os.path.exists(path):
            raise Unavailable("no daemon socket at %s" % path)
        if not sock.poll(int(timeout * 1000), zmq.POLLOUT):
            raise Unavailable("cannot reach %s within %.1fs" % (self.endpoint, timeout))
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            raise Unavailable("cannot reach %s" % self.endpoint) from None
        return rid

    def _kept(self):
        kept = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = {}
        return kept

    def keep(self, rid):
        """Two requests in flight on this thread's socket: the reply to rid
        (sent earlier, received later) is kept should a recv for another
        request read it first, instead of being dropped as late."""
        self._kept()[rid] = None

    def forget(self, rid):
        """Stop keeping rid's reply (the request is abandoned)."""
        self._kept().pop(rid, None)

    def recv(self, rid, timeout):
        """Body frames of the reply to rid; ServiceError / Unavailable."""
        kept = self._kept()
        if kept.get(rid) is not None:
            return self._body(kept.pop(rid))
        sock = self._socket()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(max(1, int(left * 1000))):
                raise Unavailable("no reply from %s within %.1fs" % (self.endpoint, timeout))
            frames = sock.recv_multipart()
            if len(frames) < 4 or frames[0] != PROTOCOL:
                continue
            if frames[2] != rid:
                if frames[2] in kept and kept[frames[2]] is None:
                    kept[frames[2]] = frames     # for its own recv later
                continue            # else a late reply to an abandoned request
            kept.pop(rid, None)
            return self._body(frames)

    @staticmethod
    def _body(frames):
        status = frames[3]
        if status == _STATUS_OK:
            return frames[4:]
        code = frames[4].decode("utf-8", "replace") if len(frames) > 4 else "?"
        text = frames[5].decode("utf-8", "replace") if len(frames) > 5 else ""
        raise ServiceError(code, text)

    def call(self, service, name, timeout=None, extra=(), start=True, after_send=None,
             **fields):
        """One request, its reply's body frames. Retries "actor-down" (the
        supervisor is restarting the actor) until the timeout; starts the
        daemon once if none is there (unless start is false: a query such
        as irohds.peers() reports a missing daemon instead). after_send is
        called once, after the first send (another request may go out
        behind this one; its reply is kept, see keep)."""
        if timeout is None:
            timeout = _config.get().timeout
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.05, deadline - time.monotonic())
            try:
                rid = self.send(service, name, extra=extra, timeout=left, **fields)
                if after_send is not None:
                    after_send, then = None, after_send
                    then()
                return self.recv(rid, max(0.05, deadline - time.monotonic()))
            except ServiceError as e:
                if e.code != "actor-down" or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
            except Unavailable:
                if not start or not self._start_daemon():
                    raise
                deadline = time.monotonic() + timeout

    def post_many(self, service, bodies, wait=0.5):
        """Fire and forget many encoded request bodies (e.g. batched
        "touch"); stops at the first one that cannot be queued. A fresh
        socket has no connected peer for a moment (ipc connects in the
        background) and refuses a non-blocking send until it has: wait up
        to `wait` seconds for it to accept, never longer (callers are a
        background thread and the exit flush)."""
        try:
            sock = self._socket()
        except Unavailable:
            return
        svc = service.encode()
        prefix = self._prefix
        rids = self._rids
        try:
            for body in bodies:
                frames = [PROTOCOL, svc, prefix + b"%x" % next(rids), body]
                try:
                    sock.send_multipart(frames, flags=zmq.NOBLOCK)
                except zmq.Again:
                    if not sock.poll(int(wait * 1000), zmq.POLLOUT):
                        return
                    sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except (zmq.Again, zmq.ZMQError):
            pass

    # ---- daemon start ----

    def _daemon_binary(self):
        return os.environ.get("IROHDS_DAEMON") or find_binary("irohds-daemon")

    def _start_daemon(self):
        """Start irohds-daemon --detach, once per process; True when it then
        answers a ping."""
        with self._lock:
            if not self.autostart or self._start_tried or self.closed:
                return False
            self._start_tried = True
        binary = self._daemon_binary()
        if not binary:
            _log.log.info("irohds: no daemon at %s and no irohds-daemon binary to start",
                          self.home)
            return False
        _log.log.info("irohds: starting %s --home %s --detach", binary, self.home)
        try:
            proc = subprocess.run([binary, "--home", self.home, "--detach"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            _log.log.warning("irohds: cannot start %s: %s", binary, e)
            return False
        if proc.returncode != 0:
            _log.log.warning("irohds: %s --detach exited with %d", binary, proc.returncode)
            return False
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                rid = self.send("store", "ping", timeout=0.5)
                self.recv(rid, 0.5)
                self.started_daemon = True
                _log.log.info("irohds: daemon started for %s", self.home)
                return True
            except ServiceError as e:
                if e.code not in ("actor-down", "unknown-service"):
                    return True
            except Unavailable:
                pass
            time.sleep(0.05)
        return False

    def close(self):
        with self._lock:
            self.closed = True
            for s in self._sockets:
                try:
                    s.close(0)
                except zmq.ZMQError:
                    pass
            self._sockets = []
            # Every socket of this context was just closed (linger 0), so
            # term() returns at once; an unclosed context would otherwise be
            # reported (ResourceWarning) whenever the collector finds it.
            try:
                self.ctx.term()
            except zmq.ZMQError:
                pass
        self._local = threading.local()


_transport = None
_transport_lock = threading.Lock()


def get_transport():
    """The process's Transport for the current home; a new one after fork
    (the parent's context is abandoned, never touched, in the child)."""
    global _transport
    t = _transport
    # No getpid() here: the at-fork hook below drops the parent's
    # transport in a child, so a live one always belongs to this process.
    if t is not None and t.home == _config.home():
        return t
    with _transport_lock:
        t = _transport
        if t is None or t.pid != os.getpid() or t.home != _config.home():
            if t is not None and t.pid == os.getpid():
                t.close()
            t = _transport = Transport()
        return t


_abandoned = []


def _at_exit():
    t = _transport
    if t is not None and t.pid == os.getpid():
        t.close()


atexit.register(_at_exit)


def _after_fork():
    global _transport, _transport_lock
    _transport_lock = threading.Lock()
    # Keep the parent's transport alive but untouched: its sockets and
    # context belong to the parent, and closing them here could hang.
    if _transport is not None:
        _abandoned.append(_transport)
    _transport = None


os.register_at_fork(after_in_child=_after_fork)
