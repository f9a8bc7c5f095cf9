"""tests/cluster/harness.py: N-node clusters in network namespaces for
multi-node tests, benchmarks and demos (see docs/cluster.md).

    with Cluster(3) as c:
        c.nodes[0].ping(c.nodes[1].addr)
        c.set_loss(1, 10)                 # node 1 drops 10% of what it receives
        c.partition([0], [1, 2]); c.heal()
        d = c.nodes[2].start_daemon()     # irohds-daemon in node 2's namespace

Topology: a bridge `br0` in a namespace of its own; per node a namespace
holding `eth0` (one end of a veth pair; the other end is a port of br0) and
`lo`. Nothing is created in the root namespace, so the machine's own
interfaces never carry a packet of a cluster. Addresses come from
198.18.0.0/16 (node i has 198.18.0.0 + i + 1); every node has a static
(permanent) neighbour entry for every other node, because learned entries
of ~45+ nodes overflow the kernel's neighbour table (permanent entries are
not counted against gc_thresh).

Every name carries the run's prefix `irhc-<pid>-<k>-` (k counts clusters in
one process), so clusters of concurrent runs never collide. Clean-up (on
exit, exception, SIGINT, SIGTERM, SIGHUP, and at interpreter exit) kills
the processes this cluster started (by pid) and whatever else still runs in
its namespaces (only this run's descendants can be there), deletes the
namespaces (which takes the bridge, veths, nftables tables and qdiscs with
them) and removes the homes. cleanup_stale() removes what a run killed
with SIGKILL left behind.

Needs root, iproute2, nftables, and for tests iputils-ping and iperf3.
"""
import atexit
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
import irohds_test  # noqa: E402  (real-daemon helpers shared with the other suites)

PREFIX = "irhc-"
NETWORK = ipaddress.ip_network("198.18.0.0/16")     # inside the benchmark range 198.18.0.0/15
PREFIXLEN = NETWORK.prefixlen
BROADCAST = str(NETWORK.broadcast_address)
TMP = "/tmp"                                        # short home paths: ipc paths < 107 bytes
_NAME_RE = re.compile(r"^irhc-(\d+)-(\d+)(?:-|$)")


class HarnessError(RuntimeError):
    pass


def _run(args, input=None, check=True, timeout=60):
    proc = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise HarnessError("%s failed (%d): %s" % (" ".join(args[:6]), proc.returncode,
                                                    (proc.stderr or proc.stdout).strip()[:2000]))
    return proc


def _ip_batch(lines, ns=None, check=True):
    """One `ip -batch` for many commands: a 50-node cluster needs thousands."""
    if not lines:
        return None
    args = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    return _run(args, input="\n".join(lines) + "\n", check=check, timeout=120)


def netns_list():
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns):
    out = _run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _start_time(pid):
    """Kernel start time of pid (to tell a reused pid from its owner), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate until it returns a true value; returns the seconds it
    took. TimeoutError after timeout (a bound against hangs, not a
    measurement)."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError("%s not met within %.1f s" % (what, timeout))
        time.sleep(interval)


def _kill_all(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _sweep_namespace(ns, timeout=10.0):
    """Kill everything still running in ns: all of it descends from the run
    that created ns (nothing else enters our namespaces)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in netns_pids(ns) if p != os.getpid()]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise HarnessError("processes %s survive SIGKILL in %s" % (pids, ns))
        _kill_all(pids)
        time.sleep(0.05)


def _delete_namespaces(names):
    errors = []
    for ns in names:
        try:
            _sweep_namespace(ns)
        except HarnessError as exc:
            errors.append(str(exc))
    alive = set(netns_list())
    _ip_batch(["netns del %s" % ns for ns in names if ns in alive], check=False)
    left = set(netns_list()) & set(names)
    if left:
        errors.append("namespaces left: %s" % sorted(left))
    return errors


def cleanup_stale():
    """Remove namespaces and homes of cluster runs whose process is gone
    (a run killed with SIGKILL cannot clean up). Returns what it removed."""
    def stale(pid, k):
        owner = os.path.join(TMP, "%s%d-%d" % (PREFIX, pid, k), "owner")
        started = _start_time(pid)
        if started is None:
            return True
        try:
            with open(owner) as f:
                return f.read().strip() != started      # pid reused by another process
        except OSError:
            return False        # alive and no owner file yet: a run still starting
    removed = []
    names = [ns for ns in netns_list() if _NAME_RE.match(ns)]
    doomed = [ns for ns in names
              if stale(int(_NAME_RE.match(ns).group(1)), int(_NAME_RE.match(ns).group(2)))]
    _delete_namespaces(doomed)
    removed += doomed
    for entry in os.listdir(TMP):
        m = _NAME_RE.match(entry)
        if m and stale(int(m.group(1)), int(m.group(2))):
            shutil.rmtree(os.path.join(TMP, entry), ignore_errors=True)
            removed.append(os.path.join(TMP, entry))
    return removed


# Live clusters, for signal handlers and atexit.
_live = set()
_lock = threading.Lock()
_counter = [0]
_handlers_installed = [False]
_cleaning = [0]
_deferred = []


def _on_signal(signum, frame):
    if _cleaning[0]:
        _deferred.append(signum)        # finish clean-up first, then exit
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install_handlers():
    """SIGTERM/SIGHUP become SystemExit so `with` blocks unwind and clean
    up (by default Python dies on them without unwinding)."""
    if _handlers_installed[0] or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _on_signal)
    _handlers_installed[0] = True


@atexit.register
def _cleanup_at_exit():
    for cluster in list(_live):
        cluster.close()


class NodeDaemon(irohds_test.Daemon):
    """irohds-daemon of one node, started inside the node's namespace."""

    def __init__(self, node, lan=True, args=()):
        super().__init__(home=node.home, args=args)
        self.node = node
        self.lan = lan

    def env(self):
        # The capability actor's fixed profile: no node spends seconds of
        # all cores measuring, and every node decides alike.
        return irohds_test.test_env(self.home, IROHDS_LAN="1" if self.lan else "0",
                                    IROHDS_CAP_PROFILE="fixed")

    def start(self, timeout=30.0):
        with open(self.log, "ab") as logf:
            self.proc = self.node.popen(
                [irohds_test.binary("irohds-daemon"), "--home", self.home, "-v"] + self.args,
                stdout=logf, stderr=subprocess.STDOUT, env=self.env())
        # The broker's ipc socket is a file: reachable from the root namespace.
        self.wait_ready(timeout)
        return self

    def ctl(self, *args, timeout=30, check=False):
        return self.node.run([irohds_test.binary("irohds-ctl"), "--home", self.home] + list(args),
                             timeout=timeout, check=check, env=self.env())

    @property
    def pid(self):
        return self.proc.pid if self.proc else None


class Node:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "n%d" % index                       # node.name of its daemon
        self.ns = "%sn%d" % (cluster.prefix, index)
        self.addr = str(NETWORK.network_address + index + 1)
        host = index + 1
        self.mac = "02:49:52:%02x:%02x:%02x" % ((host >> 16) & 255, (host >> 8) & 255, host & 255)
        self.port = "v%d" % index                       # bridge side of the veth pair
        self.home = os.path.join(cluster.root, self.name)
        self.daemon = None
        self.loss = {}                                  # peer index or None -> percent
        self.blocked = set()                            # addresses dropped both ways

    def __repr__(self):
        return "<Node %s %s>" % (self.name, self.addr)

    def command(self, cmd):
        return ["ip", "netns", "exec", self.ns] + list(cmd)

    def run(self, cmd, timeout=60, check=False, env=None, input=None):
        """Run cmd inside the node's namespace; returns CompletedProcess (text)."""
        proc = subprocess.run(self.command(cmd), capture_output=True, text=True,
                              timeout=timeout, env=env, input=input)
        if check and proc.returncode != 0:
            raise HarnessError("%s: %s failed (%d): %s" % (self.name, " ".join(cmd[:4]),
                                                         proc.returncode, proc.stderr.strip()))
        return proc

    def popen(self, cmd, **kwargs):
        """Start cmd inside the namespace (`ip netns exec` execs it, so the
        Popen's pid is the command's). Killed by pid at clean-up."""
        proc = subprocess.Popen(self.command(cmd), **kwargs)
        self.cluster.procs.append(proc)
        return proc

    def ping(self, addr, count=1, timeout=1.0, interval=None):
        """True when at least one reply came back."""
        cmd = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout)]
        if interval is not None:
            cmd += ["-i", str(interval)]
        return self.run(cmd + [addr], timeout=count * (interval or 1) + timeout + 30).returncode == 0

    def write_config(self, lan=True, extra=""):
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        with open(os.path.join(self.home, "config.toml"), "w") as f:
            f.write('[node]\nname = "%s"\n\n[discovery]\nlan = %s\n%s\n'
                    % (self.name, "true" if lan else "false", extra))

    def start_daemon(self, lan=True, config="", args=(), timeout=30.0):
        """irohds-daemon in this node's namespace and home, ready when sup and
        store answer. config: extra config.toml text."""
        if self.daemon is not None and self.daemon.proc.poll() is None:
            raise HarnessError("%s: daemon already running" % self.name)
        self.write_config(lan, config)
        self.daemon = NodeDaemon(self, lan=lan, args=args)
        self.daemon.start(timeout)
        return self.daemon

    def stop_daemon(self, timeout=5.0):
        if self.daemon is not None:
            self.resume_daemon()
            return self.daemon.stop(timeout)
        return None

    def signal_daemon(self, sig):
        if self.daemon is None or self.daemon.proc.poll() is not None:
            raise HarnessError("%s: no running daemon" % self.name)
        os.kill(self.daemon.proc.pid, sig)

    def kill_daemon(self):
        """kill -9 the daemon (its actors get SIGTERM from PR_SET_PDEATHSIG)."""
        self.signal_daemon(signal.SIGKILL)
        self.daemon.proc.wait()

    def pause_daemon(self):
        """SIGSTOP: the daemon stays, but answers nothing."""
        self.signal_daemon(signal.SIGSTOP)

    def resume_daemon(self):
        if self.daemon is not None and self.daemon.proc.poll() is None:
            os.kill(self.daemon.proc.pid, signal.SIGCONT)

    def counters(self):
        """What the node sent and received (bytes, packets); see Cluster.counters."""
        return self.cluster.counters()[self.index]


class Cluster:
    """N nodes on one bridge. Use as a context manager, or start()/close()."""

    def __init__(self, n):
        if n < 1 or n > 60000:
            raise ValueError("cluster size %d out of range" % n)
        if os.geteuid() != 0:
            raise HarnessError("network namespaces need root")
        with _lock:
            k = _counter[0]
            _counter[0] += 1
        self.prefix = "%s%d-%d-" % (PREFIX, os.getpid(), k)
        self.root = os.path.join(TMP, self.prefix.rstrip("-"))
        self.bridge_ns = self.prefix + "br"
        self.n = n
        self.procs = []
        self.nodes = [Node(self, i) for i in range(n)]
        self.bridges = {"br0"}
        self._closed = True

    # ---- life cycle -------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        _install_handlers()
        self._closed = False
        with _lock:
            _live.add(self)
        try:
            os.makedirs(self.root, mode=0o700)
            with open(os.path.join(self.root, "owner"), "w") as f:
                f.write(_start_time(os.getpid()) + "\n")
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def namespaces(self):
        return [self.bridge_ns] + [node.ns for node in self.nodes]

    def _build(self):
        _ip_batch(["netns add %s" % ns for ns in self.namespaces()])
        # Bridge namespace: br0 and the bridge ends of all veth pairs. No
        # IPv6 link-local addresses anywhere: no DAD, router or MLD chatter
        # to pollute traffic counts.
        lines = ["link set lo up",
                 "link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
                 "link set br0 addrgenmode none", "link set br0 up"]
        for node in self.nodes:
            lines += ["link add %s type veth peer name eth0 address %s netns %s"
                      % (node.port, node.mac, node.ns),
                      "link set %s addrgenmode none" % node.port,
                      "link set %s master br0 up" % node.port]
        _ip_batch(lines, ns=self.bridge_ns)
        for node in self.nodes:
            lines = ["link set lo up", "link set eth0 addrgenmode none",
                     "addr add %s/%d broadcast %s dev eth0" % (node.addr, PREFIXLEN, BROADCAST),
                     "link set eth0 up",
                     # Limited broadcast (255.255.255.255, zbeacon's choice
                     # on some setups) needs a route; no default route, so
                     # a stray unicast fails loudly instead of vanishing.
                     "route add 255.255.255.255/32 dev eth0 scope link"]
            lines += ["neigh replace %s lladdr %s dev eth0 nud permanent" % (other.addr, other.mac)
                      for other in self.nodes if other is not node]
            _ip_batch(lines, ns=node.ns)
            os.makedirs(node.home, mode=0o700)

    def close(self):
        """Idempotent clean-up; raises HarnessError if something survived."""
        if self._closed:
            return
        self._closed = True
        _cleaning[0] += 1
        errors = []
        try:
            for proc in self.procs:
                try:
                    if proc.poll() is None:
                        proc.kill()         # SIGKILL also ends a SIGSTOPped process
                    proc.wait(10)
                except Exception as exc:  # noqa: BLE001  (keep cleaning)
                    errors.append("pid %s: %s" % (proc.pid, exc))
            errors += _delete_namespaces(self.namespaces())
            shutil.rmtree(self.root, ignore_errors=True)
            if os.path.exists(self.root):
                errors.append("home %s left" % self.root)
        finally:
            with _lock:
                _live.discard(self)
            _cleaning[0] -= 1
        if _deferred and not _cleaning[0]:
            signum = _deferred.pop()
            _deferred.clear()
            _on_signal(signum, None)
        if errors:
            raise HarnessError("clean-up incomplete: " + "; ".join(errors))

    def counters(self):
        """Per node: bytes and packets it sent and received, read from its
        bridge port in one snapshot (a port receives what its node sends)."""
        out = _run(["ip", "-n", self.bridge_ns, "-s", "-j", "link", "show", "master", "br0"]).stdout
        ports = {link["ifname"]: link["stats64"] for link in json.loads(out)}
        for br in sorted(self.bridges - {"br0"}):
            out = _run(["ip", "-n", self.bridge_ns, "-s", "-j", "link", "show", "master", br]).stdout
            ports.update({link["ifname"]: link["stats64"] for link in json.loads(out)})
        result = []
        for node in self.nodes:
            stats = ports[node.port]
            result.append({"sent_bytes": stats["rx"]["bytes"], "sent_packets": stats["rx"]["packets"],
                           "received_bytes": stats["tx"]["bytes"],
                           "received_packets": stats["tx"]["packets"]})
        return result

    # ---- faults -----------------------------------------------------------
    def _node(self, node):
        return node if isinstance(node, Node) else self.nodes[node]

    def _apply_nft(self, node):
        """Rewrite the node's nftables table from its wanted state, atomically
        (one transaction: create, delete, re-create)."""
        rules_in, rules_out = [], []
        if node.blocked:
            addrs = ", ".join(sorted(node.blocked, key=ipaddress.ip_address))
            rules_in.append('iifname "eth0" ip saddr { %s } drop' % addrs)
            rules_out.append('oifname "eth0" ip daddr { %s } drop' % addrs)
        for peer, percent in sorted(node.loss.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            match = "" if peer is None else "ip saddr %s " % self.nodes[peer].addr
            # nft refuses "numgen random mod 100 < 100" (always true): 100% is a plain drop.
            chance = "" if percent >= 100 else "numgen random mod 100 < %d " % percent
            rules_in.append('iifname "eth0" %s%sdrop' % (match, chance))
        text = "table inet irh\ndelete table inet irh\n"
        if rules_in or rules_out:
            text += ("table inet irh {\n"
                     "  chain input { type filter hook input priority -10; policy accept;\n%s  }\n"
                     "  chain output { type filter hook output priority -10; policy accept;\n%s  }\n"
                     "}\n") % ("".join("    %s\n" % r for r in rules_in),
                               "".join("    %s\n" % r for r in rules_out))
        node.run(["nft", "-f", "-"], input=text, check=True)

    def set_loss(self, node, percent, peer=None):
        """Node drops percent% (0-100) of the packets it receives, from all
        or only from node `peer`. 0 removes the rule."""
        node = self._node(node)
        percent = int(percent)
        if not 0 <= percent <= 100:
            raise ValueError("loss %d%% out of range" % percent)
        key = None if peer is None else self._node(peer).index
        if percent:
            node.loss[key] = percent
        else:
            node.loss.pop(key, None)
        self._apply_nft(node)

    def set_link_loss(self, a, b, percent):
        """percent% loss each way between nodes a and b."""
        self.set_loss(a, percent, peer=b)
        self.set_loss(b, percent, peer=a)

    def clear_loss(self):
        for node in self.nodes:
            if node.loss:
                node.loss.clear()
                self._apply_nft(node)

    def set_rate(self, node, rate, direction="both", latency="50ms"):
        """Token bucket (tc tbf) on the node's link: rate in bit/s (int) or tc
        syntax ("10mbit"); direction "out" (node's eth0), "in" (its bridge
        port), or "both". rate None removes the limit."""
        node = self._node(node)
        places = {"out": [(node.ns, "eth0")], "in": [(self.bridge_ns, node.port)]}
        places["both"] = places["out"] + places["in"]
        for ns, dev in places[direction]:
            if rate is None:
                _run(["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"], check=False)
                continue
            bits = rate if isinstance(rate, int) else None
            spec = "%dbit" % rate if bits is not None else str(rate)
            # The bucket must hold at least a jiffy's worth of tokens and a
            # full-size frame; 16 KiB covers small rates, rate/100 large ones.
            burst = max(16384, (bits or 0) // 800)
            _run(["tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", spec,
                  "burst", str(burst), "latency", latency])

    def partition(self, *groups, method="nft"):
        """Split the cluster: nodes in different groups cannot reach each
        other (nodes in no group stay with the first). method "nft" drops
        by address on every node; "bridge" moves each group's ports to a
        bridge of its own (an L2 split: broadcasts are split too)."""
        groups = [[self._node(x) for x in g] for g in groups]
        grouped = {node.index for g in groups for node in g}
        groups[0] = groups[0] + [n for n in self.nodes if n.index not in grouped]
        self.heal()
        if method == "nft":
            for g in groups:
                outside = {n.addr for other in groups if other is not g for n in other}
                for node in g:
                    node.blocked = set(outside)
                    self._apply_nft(node)
        elif method == "bridge":
            lines = []
            for k, g in enumerate(groups[1:], start=1):
                br = "br%d" % k
                if br not in self.bridges:
                    lines += ["link add %s type bridge forward_delay 0 stp_state 0" % br,
                              "link set %s addrgenmode none" % br, "link set %s up" % br]
                    self.bridges.add(br)
                lines += ["link set %s master %s" % (node.port, br) for node in g]
            _ip_batch(lines, ns=self.bridge_ns)
        else:
            raise ValueError("partition method %r" % method)

    def heal(self):
        """Undo partition() (either method) and link_down()."""
        for node in self.nodes:
            if node.blocked:
                node.blocked = set()
                self._apply_nft(node)
        if len(self.bridges) > 1:
            _ip_batch(["link set %s master br0" % node.port for node in self.nodes],
                      ns=self.bridge_ns)
        _ip_batch(["link set %s up" % node.port for node in self.nodes], ns=self.bridge_ns)

    def link_down(self, node):
        """Cut one node off (its bridge port down); heal() or link_up() undo it."""
        _ip_batch(["link set %s down" % self._node(node).port], ns=self.bridge_ns)

    def link_up(self, node):
        _ip_batch(["link set %s up" % self._node(node).port], ns=self.bridge_ns)

    # ---- daemons ----------------------------------------------------------
    def start_daemons(self, lan=True, config="", nodes=None, timeout=60.0):
        """A daemon on each node (or the given ones). Started all at once,
        then waited for, so N nodes cost about one start, not N."""
        chosen = [self._node(x) for x in (nodes if nodes is not None else range(self.n))]
        for node in chosen:
            node.write_config(lan, config)
            node.daemon = NodeDaemon(node, lan=lan)
            with open(node.daemon.log, "ab") as logf:
                node.daemon.proc = node.popen(
                    [irohds_test.binary("irohds-daemon"), "--home", node.home, "-v"],
                    stdout=logf, stderr=subprocess.STDOUT, env=node.daemon.env())
        for node in chosen:
            node.daemon.wait_ready(timeout)
        return [node.daemon for node in chosen]
