"""Shared helpers for irohds tests: real daemons in temp homes, a raw
broker client speaking the IRC1 envelope, cleanup on every path.

Environment (set by ctest, see tests/CMakeLists.txt): IROHDS_BUILD is the
build tree, IROHDS_SOURCE the source tree, PYTHONPATH has the staged
Python package (for the generated codec irohds._proto).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import zmq

BUILD = os.environ.get("IROHDS_BUILD") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build")
SOURCE = os.environ.get("IROHDS_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(BUILD, "bin")


def binary(name):
    return os.path.join(BIN, name)


def test_env(home, **extra):
    """Environment for anything a test starts: never LAN discovery outside
    a namespace, home pinned, binaries from the build tree."""
    env = dict(os.environ)
    env.update({"IROHDS_HOME": home, "IROHDS_LAN": "0",
                "PATH": BIN + os.pathsep + env.get("PATH", "")})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def stop_detached(home):
    """Stop a daemon that a client started detached (not our child) in
    home: SIGTERM by the pid in its pid file, SIGKILL after 5 s."""
    try:
        with open(os.path.join(home, "run", "irohds-daemon.pid")) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGTERM)
        for _ in range(250):
            os.kill(pid, 0)
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


def make_home():
    # Short path: ipc socket paths must stay under 107 bytes.
    home = tempfile.mkdtemp(prefix="irh-", dir="/tmp")
    os.chmod(home, 0o700)
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write("[discovery]\nlan = false\n")
    return home


class Client:
    """Minimal synchronous client of the broker envelope (proto/README.md)."""

    def __init__(self, endpoint):
        from irohds import _proto
        self.proto = _proto
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, service, name, extra=(), rid=None, **fields):
        rid = rid or uuid.uuid4().hex[:16].encode()
        body = self.proto.encode(name, **fields)
        self.sock.send_multipart([b"IRC1", service.encode(), rid, body] + list(extra))
        return rid

    def recv(self, rid, timeout=5.0):
        """Returns (status, frames after status); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise TimeoutError("no reply for %r" % rid)
            frames = self.sock.recv_multipart()
            if len(frames) >= 4 and frames[2] == rid:
                return frames[3].decode(), frames[4:]

    def call(self, service, name, extra=(), timeout=5.0, **fields):
        return self.recv(self.send(service, name, extra=extra, **fields), timeout)

    def close(self):
        self.sock.close(0)


def serve(daemon):
    """Body of a pytest fixture: start daemon (a Daemon, or anything with
    start/stop/cleanup), yield it, and stop and remove it on every path:
    `yield from irohds_test.serve(Daemon())`."""
    try:
        daemon.start()
        yield daemon
    finally:
        try:
            if hasattr(daemon, "stop"):
                daemon.stop()
        finally:
            daemon.cleanup()


class Daemon:
    """A real irohds-daemon in a temp home, foreground, killed by pid."""

    def __init__(self, home=None, args=()):
        self.home = home or make_home()
        self.own_home = home is None
        self.args = list(args)
        self.proc = None
        self.endpoint = "ipc://%s/run/broker.ipc" % self.home
        self.log = os.path.join(self.home, "test-daemon.log")

    def start(self, timeout=10.0):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [binary("irohds-daemon"), "--home", self.home, "-v"] + self.args,
            stdout=logf, stderr=subprocess.STDOUT, env=test_env(self.home))
        logf.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0, services=("sup", "store")):
        deadline = time.monotonic() + timeout
        client = Client(self.endpoint)
        try:
            pending = list(services)
            while pending:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError("daemon exited %s:\n%s" % (self.proc.returncode,
                                                                 self.read_log()))
                if time.monotonic() > deadline:
                    raise TimeoutError("services %s not ready:\n%s" % (pending,
                                                                     self.read_log()))
                try:
                    status, _ = client.call(pending[0], "ping", timeout=0.5)
                    if status == "OK":
                        pending.pop(0)
                        continue
                except TimeoutError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()

    def client(self):
        return Client(self.endpoint)

    def ctl(self, *args, timeout=30, check=False):
        return subprocess.run([binary("irohds-ctl"), "--home", self.home] + list(args),
                              capture_output=True, text=True, timeout=timeout,
                              env=test_env(self.home), check=check)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def stop(self, timeout=5.0):
        """SIGTERM our daemon; returns its exit code (None if not started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            if self.own_home:
                shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.cleanup()


class Actor(Daemon):
    """One actor binary standalone (--bind), in a temp home, killed by pid;
    ready once its service answers ping. It binds where the broker would
    (self.endpoint, which may be changed before start), so the Python
    client finds the actor as if it were the daemon."""

    def __init__(self, name, service, home=None, args=()):
        super().__init__(home, args)
        self.name, self.service = name, service
        self.log = os.path.join(self.home, "test-%s.log" % name)

    def start(self, timeout=20.0):
        os.makedirs(os.path.join(self.home, "run"), mode=0o700, exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [binary(self.name), "--home", self.home, "--bind", self.endpoint] + self.args,
                stdout=logf, stderr=subprocess.STDOUT, env=test_env(self.home))
        self.wait_ready(timeout, services=(self.service,))
        return self


def wait_measured(endpoint, timeout=60):
    """The first machcap_info once a capability actor has a profile. The
    actor answers ping at once but measures in the background: a machcap
    waits for that, or after the actor's bound gets "measuring" (asked
    again)."""
    from irohds import _proto
    deadline = time.monotonic() + timeout
    client = Client(endpoint)
    try:
        while True:
            status, frames = client.call("cap", "machcap", timeout=15)
            if status == "OK":
                return _proto.decode(frames[0], expect="machcap_info")[1]
            assert frames[0] == b"measuring", frames
            assert time.monotonic() < deadline, "never measured"
    finally:
        client.close()
