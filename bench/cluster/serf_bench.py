#!/usr/bin/python3
"""bench/cluster/serf_bench.py: Serf, the anchor for irohds' membership
gossip, in the namespace topology of tests/cluster/harness.py.

    sudo /usr/bin/python3 bench/cluster/serf_bench.py --nodes 20 --nodes 50 [--json out.json]

One Serf agent per node namespace, bound to the node's 198.18 address on
eth0 (-bind plus -iface) with its RPC on the namespace's own loopback; no
-discover (mDNS), so nothing of Serf exists in the root namespace. The
agents are joined in a chain (agent i joins agent i-1), LAN profile.

Measured, per cluster size N:
  join   a new agent joins (RPC `join` to one member, timed from just before
         the call) and the other N-1 agents learn it: p50/p99/max over all
         (agent, trial) samples;
  crash  one agent is killed with SIGKILL; time until every other agent
         lists it as failed (and the median agent);
  idle   bytes per second each node sends and receives once the cluster is
         quiet, from the bridge-side veth counters (--idle SECONDS).

The harness reads every agent's membership over its RPC socket, opened
from this process inside the agent's namespace (setns), so polling adds no
packet to the bridge. Needs root, serf and python3-msgpack.
"""
import argparse
import ctypes
import json
import os
import socket
import subprocess
import sys
import time

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster"))
import harness  # noqa: E402

SERF = "/usr/bin/serf"
GOSSIP_PORT = 7946
RPC = ("127.0.0.1", 7373)
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def connect_in_namespace(ns, address, timeout=2.0):
    """A TCP connection made inside namespace ns (the socket keeps that
    namespace after this thread switches back)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/%s" % ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns %s" % ns)
        try:
            return socket.create_connection(address, timeout=timeout)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")   # cannot go on in the wrong ns
    finally:
        os.close(own)
        os.close(target)


class SerfRPC:
    """Serf's msgpack RPC: a header map, then a body map for commands that
    have one."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(10)
        self.unpacker = msgpack.Unpacker(raw=True)
        self.seq = 0
        self.call("handshake", {"Version": 1}, reply_body=False)

    def _next(self):
        for obj in self.unpacker:
            return obj
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("serf closed the RPC connection")
            self.unpacker.feed(data)
            for obj in self.unpacker:
                return obj

    def call(self, command, body=None, reply_body=True):
        self.seq += 1
        out = msgpack.packb({"Command": command, "Seq": self.seq}, use_bin_type=False)
        if body is not None:
            out += msgpack.packb(body, use_bin_type=False)
        self.sock.sendall(out)
        header = self._next()
        if header.get(b"Error"):
            raise RuntimeError("serf %s: %s" % (command, header[b"Error"].decode()))
        return self._next() if reply_body else None

    def status_of(self, name):
        """Status of member name as this agent sees it ("alive", "failed",
        "left", ...) or None if unknown."""
        body = self.call("members-filtered", {"Tags": {}, "Status": "", "Name": "^%s$" % name})
        for member in body[b"Members"]:
            if member[b"Name"].decode() == name:
                return member[b"Status"].decode()
        return None

    def alive_count(self):
        members = self.call("members")[b"Members"]
        return sum(1 for m in members if m[b"Status"] == b"alive")

    def close(self):
        self.sock.close()


class Agent:
    def __init__(self, node, name):
        self.node, self.name = node, name
        log = open(os.path.join(node.home, "serf-%s.log" % name), "ab")
        self.proc = node.popen(
            [SERF, "agent", "-node=%s" % name, "-bind=%s:%d" % (node.addr, GOSSIP_PORT),
             "-iface=eth0", "-rpc-addr=%s:%d" % RPC, "-profile=lan", "-log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.rpc = None

    def connect(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("serf agent %s exited %s" % (self.name, self.proc.returncode))
            try:
                self.rpc = SerfRPC(connect_in_namespace(self.node.ns, RPC))
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def join(self, other):
        self.rpc.call("join", {"Existing": ["%s:%d" % (other.node.addr, GOSSIP_PORT)],
                               "Replay": False})

    def leave(self):
        try:
            self.rpc.call("leave", reply_body=False)
        except (OSError, ConnectionError):
            pass
        self.rpc.close()
        self.proc.wait(30)


def check_bindings(cluster, agents):
    """Serf listens only on the node's address and the namespace's own
    loopback, and every agent runs outside the root namespace."""
    root = os.stat("/proc/self/ns/net").st_ino
    for agent in agents:
        assert os.stat("/proc/%d/ns/net" % agent.proc.pid).st_ino != root
        out = agent.node.run(["ss", "-Hlntu"]).stdout.split("\n")
        for line in filter(None, out):
            local = line.split()[4]
            assert local.rsplit(":", 1)[0] in (agent.node.addr, RPC[0]), line


def wait_converged(agents, expected, timeout):
    deadline = time.monotonic() + timeout
    pending = list(agents)
    while pending:
        pending = [a for a in pending if a.rpc.alive_count() < expected]
        if pending and time.monotonic() > deadline:
            raise TimeoutError("%d agents see fewer than %d alive" % (len(pending), expected))
        time.sleep(0.1)


def wait_status(agents, name, wanted, t0, timeout):
    """Seconds from t0 until each agent reports name in state wanted."""
    seen = {}
    deadline = t0 + timeout
    while len(seen) < len(agents):
        now = time.monotonic()
        for agent in agents:
            if agent.name not in seen and agent.rpc.status_of(name) == wanted:
                seen[agent.name] = now - t0
        if now > deadline:
            raise TimeoutError("%d agents never saw %s %s" % (len(agents) - len(seen), name, wanted))
        time.sleep(0.005)
    return sorted(seen.values())


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def traffic(cluster, seconds):
    before = cluster.counters()
    time.sleep(seconds)
    after = cluster.counters()
    sent = [(a["sent_bytes"] - b["sent_bytes"]) / seconds for a, b in zip(after, before)]
    got = [(a["received_bytes"] - b["received_bytes"]) / seconds for a, b in zip(after, before)]
    return {"seconds": seconds, "sent_bps_mean": sum(sent) / len(sent), "sent_bps_max": max(sent),
            "received_bps_mean": sum(got) / len(got)}


def false_deaths(cluster, agents, percent, seconds):
    """Every node drops percent% of what it receives for seconds: the
    (observer, member) pairs ever listed as failed, though all are up."""
    for node in cluster.nodes:
        cluster.set_loss(node, percent)
    failed = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for agent in agents:
            for m in agent.rpc.call("members")[b"Members"]:
                if m[b"Status"] == b"failed":
                    failed.add((agent.name, m[b"Name"].decode()))
        time.sleep(0.5)
    cluster.clear_loss()
    wait_converged(agents, len(agents), 120)
    return {"loss_percent": percent, "seconds": seconds, "false_failed_pairs": len(failed),
            "members_falsely_failed": len({m for _, m in failed})}


def run_size(n, trials, idle, crash_trials, loss=0, loss_seconds=60):
    result = {"nodes": n}
    with harness.Cluster(n) as c:
        members = [Agent(node, node.name) for node in c.nodes[:-1]]
        for agent in members:
            agent.connect()
        check_bindings(c, members)
        for prev, agent in zip(members, members[1:]):
            agent.join(prev)                    # a chain: i joins i-1
        wait_converged(members, n - 1, 60)

        # (a) a join reaching the N-1 others, several trials.
        samples, joiner = [], None
        seed_cycle = [members[0], members[len(members) // 2], members[-1]]
        for trial in range(trials):
            joiner = Agent(c.nodes[-1], "j%d" % trial).connect()
            t0 = time.monotonic()
            joiner.join(seed_cycle[trial % len(seed_cycle)])
            samples += wait_status(members, joiner.name, "alive", t0, 30)
            if trial < trials - 1:
                joiner.leave()
                wait_status(members, joiner.name, "left", time.monotonic(), 30)
        members.append(joiner)
        result["join"] = {"samples": len(samples), "p50_s": percentile(samples, 50),
                          "p99_s": percentile(samples, 99), "max_s": max(samples)}

        # (c) idle traffic of the quiet cluster.
        if idle:
            time.sleep(5)
            result["idle"] = traffic(c, idle)

        # No false deaths under loss (the irohds goal at 10%).
        if loss:
            result["loss"] = false_deaths(c, members, loss, loss_seconds)

        # (b) crashes: SIGKILL, until every other agent says failed.
        crashes = []
        for trial in range(crash_trials):
            victim = members[1 + trial * 2]
            others = [a for a in members if a is not victim and a.proc.poll() is None]
            t0 = time.monotonic()
            victim.proc.kill()
            times = wait_status(others, victim.name, "failed", t0, 60)
            crashes.append({"all_s": max(times), "p50_s": percentile(times, 50)})
        if crashes:
            result["crash"] = {"trials": len(crashes),
                               "all_s_mean": sum(x["all_s"] for x in crashes) / len(crashes),
                               "all_s_max": max(x["all_s"] for x in crashes),
                               "p50_s_mean": sum(x["p50_s"] for x in crashes) / len(crashes)}
        for agent in members:
            if agent.rpc:
                agent.rpc.close()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="cluster size (repeatable)")
    parser.add_argument("--trials", type=int, default=3, help="joins per size")
    parser.add_argument("--crashes", type=int, default=2, help="crashes per size")
    parser.add_argument("--idle", type=float, default=20.0,
                        help="seconds of idle traffic measured at the largest size (0: off)")
    parser.add_argument("--loss", type=int, default=0,
                        help="percent loss on every node for --loss-seconds: count false deaths")
    parser.add_argument("--loss-seconds", type=float, default=60.0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("serf_bench: needs root (network namespaces)")
    if not os.path.exists(SERF):
        sys.exit("serf_bench: %s missing (Debian package serf)" % SERF)
    sizes = args.nodes or [20]
    harness.cleanup_stale()
    version = subprocess.run([SERF, "version"], capture_output=True, text=True).stdout.split("\n")[0]
    results = []
    for n in sizes:
        idle = args.idle if n == max(sizes) else 0
        results.append(run_size(n, args.trials, idle, args.crashes, args.loss, args.loss_seconds))
        print("done: %d nodes" % n, file=sys.stderr)
    print("Serf anchor (%s, LAN profile, chain join, namespaces on one bridge)" % version)
    print("%6s %12s %12s %12s %14s %14s %16s" % ("nodes", "join p50 s", "join p99 s",
                                                 "join max s", "crash all s", "crash p50 s",
                                                 "idle B/s/node"))
    for r in results:
        idle = r.get("idle")
        print("%6d %12.3f %12.3f %12.3f %14.2f %14.2f %16s" % (
            r["nodes"], r["join"]["p50_s"], r["join"]["p99_s"], r["join"]["max_s"],
            r.get("crash", {}).get("all_s_mean", float("nan")),
            r.get("crash", {}).get("p50_s_mean", float("nan")),
            "%.0f out, %.0f in" % (idle["sent_bps_mean"], idle["received_bps_mean"]) if idle else "-"))
    for r in results:
        if "loss" in r:
            print("%d nodes, %d%% loss for %.0f s: %d members falsely failed (%d observer pairs)" % (
                r["nodes"], r["loss"]["loss_percent"], r["loss"]["seconds"],
                r["loss"]["members_falsely_failed"], r["loss"]["false_failed_pairs"]))
    report = {"anchor": "serf", "version": version, "profile": "lan", "results": results}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
