"""The test side of puppet_actor.py: bind its control socket in a daemon's
home before the daemon starts, then drive the puppet's worker and client
sockets by hand."""
import os
import time

import zmq

ACTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "puppet_actor.py")


def actors_entry(name, service, calls=None):
    """An IROHDS_ACTORS entry that runs the puppet as row `name`."""
    entry = "%s:%s:%s" % (name, ACTOR, service)
    return entry if calls is None else entry + ":" + calls


class Puppet:
    def __init__(self, home):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("ipc://%s/puppet.ipc" % home)
        self.pid = None

    def wait_hello(self, timeout=10.0):
        kind, frames = self.recv(("hello",), timeout)
        self.pid = int(frames[0])
        return self.pid

    def worker(self, *frames):
        self.sock.send_multipart([b"worker"] + list(frames))

    def client(self, *frames):
        self.sock.send_multipart([b"client"] + list(frames))

    def token(self):
        self.sock.send_multipart([b"token"])
        return self.recv(("token",))[1][0]

    def beat(self):
        self.sock.send_multipart([b"beat"])

    def recv(self, kinds, timeout=5.0, heartbeats=False):
        """Next message of one of kinds (str), as (kind, frames); broker
        heartbeats to the worker are skipped unless heartbeats."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise TimeoutError("puppet: nothing of %s" % (kinds,))
            frames = self.sock.recv_multipart()
            kind = frames[0].decode()
            if kind == "worker" and frames[1:] == [b"IRW1", b"\x04"] and not heartbeats:
                continue
            if kind in kinds:
                return kind, frames[1:]

    def call(self, service, body, rid=b"p1", timeout=5.0):
        """A request from the puppet's client socket: (status, rest)."""
        self.client(b"IRC1", service.encode(), rid, body)
        while True:
            _, frames = self.recv(("client",), timeout)
            if frames[2] == rid:
                return frames[3].decode(), frames[4:]

    def forked_call(self, home, mode, service, body, timeout=10.0):
        """Have a child (mode "child") or an orphaned grandchild ("orphan")
        of the puppet call service; returns the reply frames."""
        path = os.path.join(home, "fork-result")
        if os.path.exists(path):
            os.unlink(path)
        self.sock.send_multipart([b"fork", mode.encode(), service.encode(), body])
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise TimeoutError("puppet: no result from the forked caller")
            time.sleep(0.05)
        with open(path, "rb") as f:
            return f.read().split(b"|")

    def close(self):
        self.sock.close(0)
