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
        if beat and time.monotonic() - last_beat >= 1.0:
            worker.send_multipart([b"IRW1", b"\x04"])
            last_beat = time.monotonic()


if __name__ == "__main__":
    main(sys.argv)
