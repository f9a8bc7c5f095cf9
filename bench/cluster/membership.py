"""bench/cluster/membership.py: what the membership benchmarks share
(serf_bench.py: Serf alone; peers_bench.py: irohds against Serf).

Each system (Serf, irohds) is a small adapter: form a converged cluster,
start a joiner, read one member's view, kill or stop a member, list its
processes. The measurements are written once, against that adapter:

  join   a new member starts (or, Serf only, is told to join over RPC) and
         every other member lists it alive: p50/p99/max over all
         (observer, trial) samples;
  crash  every process of one member is killed with SIGKILL; time until
         every other member lists it dead (Serf: failed);
  idle   bytes per second per node once the cluster is quiet, from the
         bridge-port counters (harness.Cluster.counters);
  rss    resident memory of each member's processes (VmRSS, and PSS, which
         does not count shared pages once per process);
  loss   percent loss on every node for a while: members ever listed dead
         although all are up.

Views are read without touching the bridge: Serf over each agent's RPC
socket opened inside its namespace (setns), irohds over each daemon's
broker socket (a file). Needs root, serf and python3-msgpack.
"""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster"))
import harness  # noqa: E402

SERF = "/usr/bin/serf"
SERF_PORT = 7946
SERF_RPC = ("127.0.0.1", 7373)
IROHDS_PORT = 47460
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


# ---- small measurements ---------------------------------------------------
def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def traffic(cluster, seconds, count=None):
    """Bytes/s per node of the first count nodes (default all)."""
    before = cluster.counters()[:count]
    time.sleep(seconds)
    after = cluster.counters()[:count]
    sent = [(a["sent_bytes"] - b["sent_bytes"]) / seconds for a, b in zip(after, before)]
    got = [(a["received_bytes"] - b["received_bytes"]) / seconds for a, b in zip(after, before)]
    return {"seconds": seconds, "sent_bps_mean": sum(sent) / len(sent), "sent_bps_max": max(sent),
            "received_bps_mean": sum(got) / len(got)}


def _proc_kib(pid, path, field):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_memory(pids):
    """{process name: {"rss_kib", "pss_kib"}} of the given processes."""
    result = {}
    for pid in pids:
        try:
            with open("/proc/%d/comm" % pid) as f:
                name = f.read().strip()
        except OSError:
            continue
        entry = result.setdefault(name, {"rss_kib": 0, "pss_kib": 0})
        entry["rss_kib"] += _proc_kib(pid, "status", "VmRSS")
        entry["pss_kib"] += _proc_kib(pid, "smaps_rollup", "Pss")
    return result


def memory(system, handles):
    """Mean over members: total RSS/PSS and per process name."""
    per = [process_memory(system.pids(h)) for h in handles]
    names = sorted({name for p in per for name in p})
    out = {"members": len(per),
           "rss_kib_mean": sum(sum(e["rss_kib"] for e in p.values()) for p in per) / len(per),
           "pss_kib_mean": sum(sum(e["pss_kib"] for e in p.values()) for p in per) / len(per),
           "per_process_rss_kib_mean": {}}
    for name in names:
        out["per_process_rss_kib_mean"][name] = sum(p.get(name, {}).get("rss_kib", 0)
                                                    for p in per) / len(per)
    return out


# ---- waiting on views -------------------------------------------------------
def wait_converged(system, handles, timeout):
    """Until every member lists every other one alive."""
    deadline = time.monotonic() + timeout
    pending = list(handles)
    while pending:
        pending = [h for h in pending
                   if sum(1 for s in system.view(h).values() if s == "alive") < len(handles) - 1]
        if pending and time.monotonic() > deadline:
            raise TimeoutError("%s: %d members see fewer than %d alive"
                               % (system.name, len(pending), len(handles) - 1))
        time.sleep(0.1)


def wait_state(system, observers, key, wanted, t0, timeout):
    """Seconds from t0 until each observer lists member key in one of the
    states wanted; sorted."""
    seen = {}
    deadline = t0 + timeout
    while len(seen) < len(observers):
        now = time.monotonic()
        for k, h in enumerate(observers):
            if k not in seen and system.view(h, key).get(key) in wanted:
                seen[k] = time.monotonic() - t0
        if now > deadline:
            missing = [(observers[k].node.name, system.view(observers[k], key).get(key))
                       for k in range(len(observers)) if k not in seen]
            raise TimeoutError("%s: %d observers never saw %s %s (observer, its state): %s"
                               % (system.name, len(missing), key[:12], wanted, missing))
        time.sleep(0.005)
    return sorted(seen.values())


def false_deaths(system, cluster, handles, percent, seconds):
    """Every node drops percent% of what it receives for seconds: the
    (observer, member) pairs ever listed dead, though all are up."""
    for node in cluster.nodes:
        cluster.set_loss(node, percent)
    dead, suspect = set(), set()
    up = {h.key for h in handles}      # not the joiners that left before
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for h in handles:
                for key, state in system.view(h).items():
                    if key not in up:
                        continue
                    if state == "dead":
                        dead.add((h.key, key))
                    elif state == "suspect":
                        suspect.add((h.key, key))
            time.sleep(0.5)
    finally:
        cluster.clear_loss()
    wait_converged(system, handles, 120)
    return {"loss_percent": percent, "seconds": seconds, "false_dead_pairs": len(dead),
            "members_falsely_dead": len({m for _, m in dead}), "suspect_pairs": len(suspect)}


# ---- one cluster size, one system -----------------------------------------
def run_size(system, n, trials, idle, crash_trials, loss=0, loss_seconds=60.0, rss=True):
    """All measurements of one system with n members: n-1 formed first,
    then joiners, each on a node of its own (nodes n-1, n, ...: a new
    member at a departed member's address would meet that member's links
    still retrying, see docs/BENCHMARKS.md), so the cluster has
    n + trials - 1 nodes, of which n run a member at a time."""
    result = {"system": system.name, "nodes": n, "load_start": loadavg()}
    with harness.Cluster(n + max(trials, 1) - 1) as c:
        members = system.form(c, c.nodes[:n - 1])
        wait_converged(system, members, 120)

        # Idle traffic and memory are taken with all n members up after the
        # first join, before any member has left: a departed irohds member
        # stays listed dead (for reconnects), and its links keep retrying.
        samples, joiner = [], None
        seeds = [members[0], members[len(members) // 2], members[-1]]
        for trial in range(trials):
            if joiner is not None:
                system.leave(joiner)
                wait_state(system, members, joiner.key, ("left", "dead"), time.monotonic(), 60)
            joiner, t0 = system.join(c.nodes[n - 1 + trial], seeds[trial % len(seeds)], trial)
            samples += wait_state(system, members, joiner.key, ("alive",), t0, 60)
            if trial == 0:
                wait_converged(system, members + [joiner], 60)
                if idle:
                    time.sleep(5)
                    result["idle"] = traffic(c, idle, count=n)
                if rss:
                    result["memory"] = memory(system, members + [joiner])
        members.append(joiner)
        result["join"] = {"samples": len(samples), "min_s": min(samples),
                          "p50_s": percentile(samples, 50),
                          "p99_s": percentile(samples, 99), "max_s": max(samples),
                          "timed_from": system.join_timed_from}

        if loss:
            result["loss"] = false_deaths(system, c, members, loss, loss_seconds)

        crashes = []
        for trial in range(crash_trials):
            victim = members[1 + trial * 2]
            others = [h for h in members if h is not victim and system.running(h)]
            t0 = time.monotonic()
            system.kill(victim)
            times = wait_state(system, others, victim.key, ("dead",), t0, 90)
            crashes.append({"all_s": max(times), "p50_s": percentile(times, 50)})
        if crashes:
            result["crash"] = {"trials": len(crashes),
                               "all_s_mean": sum(x["all_s"] for x in crashes) / len(crashes),
                               "all_s_max": max(x["all_s"] for x in crashes),
                               "p50_s_mean": sum(x["p50_s"] for x in crashes) / len(crashes)}
        result["load_end"] = loadavg()
        system.close(members)
    return result


# ---- Serf -------------------------------------------------------------------
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
        import msgpack
        self.msgpack = msgpack
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
        out = self.msgpack.packb({"Command": command, "Seq": self.seq}, use_bin_type=False)
        if body is not None:
            out += self.msgpack.packb(body, use_bin_type=False)
        self.sock.sendall(out)
        header = self._next()
        if header.get(b"Error"):
            raise RuntimeError("serf %s: %s" % (command, header[b"Error"].decode()))
        return self._next() if reply_body else None

    def members(self, name=None):
        if name is None:
            return self.call("members")[b"Members"]
        return self.call("members-filtered", {"Tags": {}, "Status": "",
                                              "Name": "^%s$" % name})[b"Members"]

    def close(self):
        self.sock.close()


class SerfAgent:
    def __init__(self, node, name, join=None):
        self.node, self.name, self.key = node, name, name
        args = [SERF, "agent", "-node=%s" % name, "-bind=%s:%d" % (node.addr, SERF_PORT),
                "-iface=eth0", "-rpc-addr=%s:%d" % SERF_RPC, "-profile=lan", "-log-level=warn"]
        if join is not None:
            args.append("-join=%s:%d" % (join.node.addr, SERF_PORT))
        with open(os.path.join(node.home, "serf-%s.log" % name), "ab") as log:
            self.proc = node.popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.rpc = None

    def connect(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("serf agent %s exited %s" % (self.name, self.proc.returncode))
            try:
                self.rpc = SerfRPC(connect_in_namespace(self.node.ns, SERF_RPC))
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class Serf:
    """Serf agents, LAN profile, no mDNS, joined in a chain. join_at_start:
    a joiner is started with -join (timed from its start, as irohds');
    otherwise started first and told to join over RPC (timed from the
    call)."""
    name = "serf"
    STATES = {"alive": "alive", "failed": "dead", "left": "left", "leaving": "alive",
              "suspect": "suspect"}

    def __init__(self, join_at_start=True):
        self.join_at_start = join_at_start
        self.join_timed_from = "agent start with -join" if join_at_start else "join RPC"

    @staticmethod
    def version():
        out = subprocess.run([SERF, "version"], capture_output=True, text=True).stdout
        return out.split("\n")[0]

    def form(self, cluster, nodes):
        agents = [SerfAgent(node, node.name) for node in nodes]
        for agent in agents:
            agent.connect()
        self.check_bindings(agents)
        for prev, agent in zip(agents, agents[1:]):
            agent.rpc.call("join", {"Existing": ["%s:%d" % (prev.node.addr, SERF_PORT)],
                                    "Replay": False})
        return agents

    def join(self, node, seed, trial):
        if self.join_at_start:
            t0 = time.monotonic()
            return SerfAgent(node, "j%d" % trial, join=seed).connect(), t0
        agent = SerfAgent(node, "j%d" % trial).connect()
        t0 = time.monotonic()
        agent.rpc.call("join", {"Existing": ["%s:%d" % (seed.node.addr, SERF_PORT)],
                                "Replay": False})
        return agent, t0

    def view(self, agent, key=None):
        """{member name: alive/suspect/dead/left}; only key's entry if given."""
        return {m[b"Name"].decode(): self.STATES.get(m[b"Status"].decode(), m[b"Status"].decode())
                for m in agent.rpc.members(key)}

    def leave(self, agent):
        try:
            agent.rpc.call("leave", reply_body=False)
        except (OSError, ConnectionError):
            pass
        agent.rpc.close()
        agent.rpc = None
        agent.proc.wait(30)

    def kill(self, agent):
        agent.proc.kill()
        agent.proc.wait()

    def running(self, agent):
        return agent.proc.poll() is None

    def pids(self, agent):
        return [agent.proc.pid] if self.running(agent) else []

    def close(self, agents):
        for agent in agents:
            if agent.rpc:
                agent.rpc.close()

    @staticmethod
    def check_bindings(agents):
        """Serf listens only on the node's address and the namespace's own
        loopback, and every agent runs outside the root namespace."""
        root = os.stat("/proc/self/ns/net").st_ino
        for agent in agents:
            assert os.stat("/proc/%d/ns/net" % agent.proc.pid).st_ino != root
            out = agent.node.run(["ss", "-Hlntu"]).stdout.split("\n")
            for line in filter(None, out):
                local = line.split()[4]
                assert local.rsplit(":", 1)[0] in (agent.node.addr, SERF_RPC[0]), line


# ---- irohds -----------------------------------------------------------------
class IrohdsMember:
    """One irohds-daemon (and its actors) in a node's namespace; key is its
    node id. A persistent broker client reads its membership."""

    def __init__(self, node, daemon, node_id):
        self.node, self.daemon, self.key = node, daemon, node_id
        self.client = daemon.client()

    def members(self):
        from irohds._transport import parse_table
        status, frames = self.client.call("gossip", "gossip_peers", timeout=10.0)
        if status != "OK":
            raise RuntimeError("%s: gossip_peers %s %s" % (self.node.name, status, frames))
        return parse_table(frames)


class Irohds:
    """irohds daemons with LAN beacons off (as Serf without mDNS): node 0
    first, the others with node 0 as their bootstrap peer; a joiner is a
    fresh daemon (new home, new node id) with one member as bootstrap,
    timed from its start."""
    name = "irohds"
    join_timed_from = "daemon start with peers.bootstrap"

    @staticmethod
    def node_id(node):
        proc = node.daemon.ctl("--json", "info", check=True)
        return json.loads(proc.stdout)["node_id"]

    @staticmethod
    def bootstrap(member):
        return '[peers]\nbootstrap = ["tcp://%s:%d#%s"]\n' % (member.node.addr, IROHDS_PORT,
                                                             member.key)

    def form(self, cluster, nodes):
        first = nodes[0].start_daemon(lan=False, timeout=120)
        head = IrohdsMember(nodes[0], first, self.node_id(nodes[0]))
        cluster.start_daemons(lan=False, config=self.bootstrap(head), nodes=nodes[1:],
                              timeout=180)
        return [head] + [IrohdsMember(node, node.daemon, self.node_id(node)) for node in nodes[1:]]

    def join(self, node, seed, trial):
        """The identity is made first (irohds-ctl info), so the views can
        be polled from the moment the daemon starts: the join may be
        complete before the daemon answers as ready."""
        node.write_config(lan=False, extra=self.bootstrap(seed))
        daemon = harness.NodeDaemon(node, lan=False)
        proc = node.run([harness.irohds_test.binary("irohds-ctl"), "--home", node.home,
                         "--json", "info"], check=True, env=daemon.env())
        node_id = json.loads(proc.stdout)["node_id"]
        t0 = time.monotonic()
        with open(daemon.log, "ab") as logf:
            daemon.proc = node.popen([harness.irohds_test.binary("irohds-daemon"), "--home",
                                      node.home, "-v"], stdout=logf, stderr=subprocess.STDOUT,
                                     env=daemon.env())
        node.daemon = daemon
        return IrohdsMember(node, daemon, node_id), t0

    def view(self, member, key=None):
        return {m["id"]: m["state"] for m in member.members()}

    def leave(self, member):
        """SIGTERM: the daemon announces its departure (a dead about itself)."""
        member.client.close()
        member.daemon.stop(30)

    def kill(self, member):
        """kill -9 of every process of the node (daemon and actors)."""
        for pid in harness.netns_pids(member.node.ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        member.daemon.proc.wait()

    def running(self, member):
        return member.daemon.proc.poll() is None

    def pids(self, member):
        return harness.netns_pids(member.node.ns) if self.running(member) else []

    def close(self, members):
        for member in members:
            member.client.close()
