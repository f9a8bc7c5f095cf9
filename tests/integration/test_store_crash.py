"""Crash test of the store under the real daemon: kill -9 irohds-store 20
times while 4 client processes put results in a loop.

Checks: every ACKNOWLEDGED put is readable afterwards and verifies (the
store checks BLAKE3 on read; we also compare with the content we sent);
the store is back (answers ping, with a new pid) within 2 s of each kill;
clients see ERR actor-down or time out, retry, and never hang (every call
has a bounded timeout and the writers must exit on their own); and no
crash ever leaves a corrupt entry.

The supervisor marks an actor failed after 5 restarts in 60 s (DESIGN §2),
so the 20 kills run as 5 rounds of 4 on the same home, with the daemon
restarted (SIGTERM, then start) between rounds: that also checks that
what was acknowledged survives a daemon restart.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, make_home  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)
from irohds import _proto  # noqa: E402

import pytest  # noqa: E402

BIN_DAEMON = os.path.join(os.environ.get("IROHDS_BUILD", ""), "bin", "irohds-daemon")
ROUNDS, KILLS_PER_ROUND, WRITERS = 5, 4, 4

#  One writer process: puts deterministic content under deterministic keys,
#  records each acknowledged put, retries on errors, stops when told to.
WRITER = r'''
import hashlib, os, sys, time, uuid, zmq
sys.path.insert(0, os.environ["IROHDS_PROTO_PATH"])
from irohds import _proto
endpoint, wid, ack_path, stop_path = sys.argv[1:5]
ctx = zmq.Context()
def connect():
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 0); s.connect(endpoint); return s
sock = connect()
def content(i):
    size = 150_000 if i % 10 == 9 else 500 + (i * 37) % 3000
    seed = hashlib.blake2b(b"%s-%d" % (wid.encode(), i)).digest()
    return (seed * (size // len(seed) + 1))[:size]
retries = i = 0
deadline = time.monotonic() + 90
with open(ack_path, "a") as ack:
    while not os.path.exists(stop_path) and time.monotonic() < deadline:
        key = hashlib.blake2b(b"crash-%s-%d" % (wid.encode(), i), digest_size=32).digest()
        body = _proto.encode("put", key=key, codec="raw", fn="crash.w" + wid)
        rid = uuid.uuid4().hex.encode()
        sock.send_multipart([b"IRC1", b"store", rid, body, content(i)])
        got = None
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            if sock.poll(100):
                frames = sock.recv_multipart()
                if len(frames) >= 4 and frames[2] == rid:
                    got = frames
                    break
        if got and got[3] == b"OK":
            ack.write("%s %d\n" % (key.hex(), i)); ack.flush()
            i += 1
            continue
        retries += 1
        if got is None:             # timed out: a fresh socket drops stale replies
            sock.close(0); sock = connect()
        time.sleep(0.05)
print("writer", wid, "acked", i, "retries", retries)
'''


def _content(wid, i):
    size = 150_000 if i % 10 == 9 else 500 + (i * 37) % 3000
    seed = hashlib.blake2b(b"%s-%d" % (wid.encode(), i)).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _store_pid(client, timeout=0.3):
    try:
        status, frames = client.call("store", "ping", timeout=timeout)
    except TimeoutError:
        return None
    if status != "OK":
        return None
    return _proto.decode(frames[0], "pong")[1]["pid"]


def _ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not os.path.exists(BIN_DAEMON), reason="irohds-daemon not built")
def test_kill_store_during_puts():
    home = make_home()
    daemon = Daemon(home)
    writers = []
    stop_path = os.path.join(home, "stop-writers")
    try:
        daemon.start()
        env = env_for(home, IROHDS_PROTO_PATH=os.environ.get("PYTHONPATH", "").split(os.pathsep)[0])
        for w in range(WRITERS):
            writers.append(subprocess.Popen(
                [sys.executable, "-c", WRITER, daemon.endpoint, str(w),
                 os.path.join(home, "acks-%d" % w), stop_path],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        client = daemon.client()
        kills, recoveries = 0, []
        try:
            for rnd in range(ROUNDS):
                for _ in range(KILLS_PER_ROUND):
                    time.sleep(0.3)                 # let puts flow
                    pid = _store_pid(client, timeout=2)
                    assert pid, daemon.read_log()
                    # only ever a child of the daemon we started
                    assert _ppid(pid) == daemon.proc.pid
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    t0 = time.monotonic()
                    while True:
                        new = _store_pid(client)
                        if new and new != pid:
                            break
                        assert time.monotonic() - t0 < 2.0, \
                            "store not back 2 s after kill %d:\n%s" % (kills, daemon.read_log())
                    recoveries.append(time.monotonic() - t0)
                if rnd < ROUNDS - 1:
                    client.close()
                    assert daemon.stop() == 0
                    daemon.start()
                    client = daemon.client()
        finally:
            client.close()
        assert kills == ROUNDS * KILLS_PER_ROUND
        open(stop_path, "w").close()
        outputs = []
        for p in writers:
            out, _ = p.communicate(timeout=20)     # never hang
            assert p.returncode == 0, out
            outputs.append(out.strip())
        # every acknowledged put is there and verifies
        client = daemon.client()
        try:
            checked = 0
            for w in range(WRITERS):
                with open(os.path.join(home, "acks-%d" % w)) as f:
                    for line in f:
                        hexkey, i = line.split()
                        status, frames = client.call("store", "get", key=bytes.fromhex(hexkey),
                                                     timeout=5)
                        assert status == "OK", frames
                        name, fields = _proto.decode(frames[0])
                        assert name == "hit", (w, i, fields)
                        assert frames[2] == _content(str(w), int(i)), (w, i)
                        checked += 1
            assert checked > 50, outputs
            status, frames = client.call("store", "stats")
            stats = {r.split(b"\t")[0]: int(r.split(b"\t")[1]) for r in frames[1:]}
            assert stats[b"corrupt"] == 0
            status, frames = client.call("store", "gc", timeout=10)
            assert status == "OK"
            status, frames = client.call("store", "stats")
            stats = {r.split(b"\t")[0]: int(r.split(b"\t")[1]) for r in frames[1:]}
            assert stats[b"corrupt"] == 0 and stats[b"entries"] >= checked
        finally:
            client.close()
        print("kills", kills, "max recovery %.3f s" % max(recoveries), outputs)
    finally:
        open(stop_path, "w").close()
        for p in writers:
            if p.poll() is None:
                p.kill()
                p.wait()
        try:
            daemon.stop()
        finally:
            subprocess.run(["chmod", "-R", "u+w", home], check=False)
            daemon.cleanup()
            import shutil
            shutil.rmtree(home, ignore_errors=True)
