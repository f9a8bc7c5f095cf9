#!/usr/bin/python3
"""puppet_actor.py: a test actor the daemon starts like any other (through
IROHDS_ACTORS, so it gets a real registration token on its token pipe),
whose sockets a test drives by hand.

The supervisor runs it as `puppet_actor.py --home H --broker EP [-v]`. It
connects a PAIR to ipc://H/puppet.ipc, which the test binds first, and
relays multipart messages:

  test -> puppet  [b"worker", frames...]  sent on its worker DEALER, with
                                          b"$TOKEN" and b"$PID" replaced by
                                          its token and pid
                  [b"client", frames...]  sent on its client DEALER
                  [b"token"]              answered [b"token", token]
                  [b"beat"]               from now on heartbeat the broker
                  [b"fork", mode, service, body]
                                          a child process (mode b"child"), or an
                                          orphaned grandchild (b"orphan"),
                                          calls service with body on a new
                                          connection and writes the reply
                                          frames, joined by b"|", to
                                          H/fork-result
  puppet -> test  [b"hello", pid]         once connected
                  [b"worker", frames...]  what the broker sent the worker
                  [b"client", frames...]  what the broker sent the client

So a test can play a registered actor (or a rogue one) step by step, from
a process the supervisor really started.
"""
import os
import sys
import time

import zmq


def take_token():
    fd = os.environ.pop("IROHDS_TOKEN_FD", None)
    if fd is None:
        return b""
    try:
        token = os.read(int(fd), 128)
        os.close(int(fd))
    except OSError:
        return b""
    return token.strip()


def forked_call(home, broker, orphan, service, body):
    """In a forked child: call on a fresh connection, leave the answer in
    a file (the parent's sockets are not usable after fork)."""
    if orphan:
        first = os.getpid()
        if os.fork() != 0:
            os._exit(0)
        # Wait until we are reparented (to the daemon, a subreaper).
        while os.getppid() == first:
            time.sleep(0.01)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(broker)
    sock.send_multipart([b"IRC1", service, b"f1", body])
    answer = sock.recv_multipart() if sock.poll(5000) else [b"timeout"]
    path = os.path.join(home, "fork-result")
    with open(path + ".tmp", "wb") as f:
        f.write(b"|".join(answer))
    os.rename(path + ".tmp", path)
    os._exit(0)


def main(argv):
    args = dict(zip(argv[1::2], argv[2::2]))
    home, broker = args["--home"], args["--broker"]
    token, pid = take_token(), str(os.getpid()).encode()
    ctx = zmq.Context()
    control = ctx.socket(zmq.PAIR)
    worker = ctx.socket(zmq.DEALER)
    client = ctx.socket(zmq.DEALER)
    for sock in (control, worker, client):
        sock.setsockopt(zmq.LINGER, 0)
    control.connect("ipc://%s/puppet.ipc" % home)
    worker.connect(broker)
    client.connect(broker)
    control.send_multipart([b"hello", pid])
    poller = zmq.Poller()
    for sock in (control, worker, client):
        poller.register(sock, zmq.POLLIN)
    beat, last_beat = False, 0.0
    while True:
        for sock, _ in poller.poll(200):
            frames = sock.recv_multipart()
            if sock is worker:
                control.send_multipart([b"worker"] + frames)
            elif sock is client:
                control.send_multipart([b"client"] + frames)
            elif frames[0] == b"worker":
                worker.send_multipart([token if f == b"$TOKEN" else pid if f == b"$PID" else f
                                       for f in frames[1:]])
            elif frames[0] == b"client":
                client.send_multipart(frames[1:])
            elif frames[0] == b"token":
                control.send_multipart([b"token", token])
            elif frames[0] == b"beat":
                beat = True
            elif frames[0] == b"fork":
                child = os.fork()
                if child == 0:
                    forked_call(home, broker, frames[1] == b"orphan", frames[2], frames[3])
                os.waitpid(child, 0)
        if beat and time.monotonic() - last_beat >= 1.0:
            worker.send_multipart([b"IRW1", b"\x04"])
            last_beat = time.monotonic()


if __name__ == "__main__":
    main(sys.argv)
