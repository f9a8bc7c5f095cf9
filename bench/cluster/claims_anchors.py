#!/usr/bin/python3
"""bench/cluster/claims_anchors.py: claims across machines against the
lease a user would pick today, Redis (`SET key holder NX PX ms` on one
Debian redis-server), side by side in one run, in the network namespaces
of tests/cluster/harness.py (docs/BENCHMARKS.md, Peers III).

    sudo env IROHDS_BUILD=$PWD/build /usr/bin/python3 bench/cluster/claims_anchors.py --quick

Three nodes: A = 198.18.0.1 (node 0) runs redis-server (bound to its
198.18 address, no persistence, a temp dir, killed by pid at the end)
and is the arbiter of the keys claimed in the round-trip figures; B =
node 1 claims; C = node 2 takes part in the loops. The Redis client is a
raw RESP socket client written here (no extra Python package).

Anchor figures (one JSON dict on stdout; --json FILE writes it too):

  redis_rtt          `SET lease:K holder NX PX ms` from B to A over the
                     veth, one fresh key per command, one at a time:
                     p50/p99/mean in microseconds.
  redis_rtt_local    the same with the client on A (no veth).
  reqrep_tcp         64-byte pyzmq REQ/REP B -> A (xfer_anchors): one
                     ZeroMQ round trip over the veth; reqrep_curve the
                     same with CURVE, as irohds peers talk.
  chain4_curve       the floor of a remote claim's path, four processes
                     and three hops each way: client (REQ, B) -ipc->
                     broker relay (B) -ipc-> gossip relay (B) -TCP CURVE->
                     arbiter (REP, A); relays are zmq.proxy (no work).
  bare_loop          `for key in keys: body(key)` in one process: the
                     per-key cost of the loop itself.
  redis_each_P       the Redis-lease loop over the same keys with P
                     processes on each of the three nodes (one Redis
                     server on A), all started together: every process
                     walks all keys in order; `SET lease:K holder NX PX
                     ms`; if it won, body(key), then `SET lease:K done`
                     (the done mark: the lease key made permanent, so
                     every later NX fails and the key is skipped). Keys
                     per second over the whole run, process wall and
                     CPU seconds per key, runs per key (must be 1).
  redis_each_solo    the same loop in one process alone on B: its wall
                     time per key minus bare_loop's is the overhead per
                     key a lease costs a loop.

The irohds side is bench/cluster/claims_irohds.py (its hooks below): the
same figures for gossip_claim from B of keys whose arbiter is A, the
steps that path is made of, and irohds.each over the same keys with the
same processes. --anchors-only skips it.

Namespaces, daemons, redis-server and temp dirs are removed on exit,
error or signal (the harness's clean-up, in a try/finally). Needs root,
iproute2, python3-zmq with CURVE and redis-server (`apt-get install
redis-server`; scripts/setup.sh deps installs it). The machine may be
shared: the load average at the start and end is part of the output;
figures under load are upper bounds of latency.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster"))
if __name__ == "__main__":      # the irohds half imports this module by name
    sys.modules.setdefault("claims_anchors", sys.modules["__main__"])

PYTHON = "/usr/bin/python3"
SCRIPT = os.path.abspath(__file__)
ARBITER, CLAIMER = 0, 1         # node A holds Redis and arbitrates; node B claims
REDIS_PORT = 6390
CHAIN4_PORT = 5611
LEASE_MS = 60000

# ---- HOOKS: the irohds side (bench/cluster/claims_irohds.py) --------------
# measure_irohds_claim(cluster, arbiter, claimer, count) -> dict with
#     "remote" (p50_us, p99_us, mean_us): gossip_claim from node `claimer`
#     of `count` keys whose arbiter is node `arbiter`, one at a time; and
#     whatever steps of that path it can time (local arbiter, bare store
#     claim, broker pings).
# measure_irohds_each(cluster, nkeys, procs) -> dict like redis_each_P:
#     irohds.each over nkeys trivial keys, `procs` processes per node.
HOOK_NAMES = ("measure_irohds_claim", "measure_irohds_each")


# ---- a raw RESP client (no redis package) ---------------------------------
class Resp:
    """One connection to a Redis server: commands as lists of bytes,
    replies as bytes / int / None / RespError. No pipelining: one command,
    one round trip, as a lease loop runs them."""

    def __init__(self, host, port, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("unexpected reply %r" % line[:40])


class RespError(RuntimeError):
    pass


# ---- shared by the workers of both halves ---------------------------------
def percentiles(values):
    """p50/p99/mean/min of seconds, in microseconds."""
    values = sorted(values)
    n = len(values)
    if not n:
        return {"count": 0}
    return {"count": n, "p50_us": values[n // 2] * 1e6,
            "p99_us": values[min(n - 1, n * 99 // 100)] * 1e6,
            "mean_us": statistics.fmean(values) * 1e6, "min_us": values[0] * 1e6}


def body(key):
    """The trivial loop body every loop runs (the same work everywhere)."""
    return len(key)


def keys_of(n):
    return ["k%06d" % i for i in range(n)]


def ready_and_wait(go):
    """A worker's start barrier: says "ready" on stdout, then waits for the
    parent to create the file `go` (all processes start together; the
    import and connection set-up are not in the figures)."""
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.0005)


def loop_result(ran, t0, t1, cpu):
    """What a loop worker prints: the indexes it ran, its start and end
    (time.time(): one clock for all namespaces) and its CPU seconds."""
    return {"ran": ran, "start": t0, "end": t1, "cpu": cpu}


# ---- worker roles (run inside a namespace by the parent) ------------------
def _redis_connect(args):
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            r = Resp(args.host, args.port)
            if r.command(b"PING") == b"PONG":
                return r
        except (OSError, RespError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def role_redis_ping(args):
    """Waits until redis-server answers PING (it is started just before)."""
    _redis_connect(args).close()
    print(json.dumps({"ok": True}))


def role_redis_rtt(args):
    """args.count timed `SET lease:K holder NX PX ms` of fresh keys after
    args.warmup untimed ones; every one must be granted (fresh keys)."""
    r = _redis_connect(args)
    holder = b"%d@%s" % (os.getpid(), socket.gethostname().encode())
    times = []
    for i in range(args.warmup + args.count):
        key = b"lease:%s:%d" % (args.prefix.encode(), i)
        t = time.perf_counter()
        reply = r.command(b"SET", key, holder, b"NX", b"PX", str(args.lease_ms).encode())
        dt = time.perf_counter() - t
        if reply != b"OK":
            sys.exit("redis rtt: SET NX of a fresh key answered %r" % reply)
        if i >= args.warmup:
            times.append(dt)
    print(json.dumps(percentiles(times)))


def role_redis_each(args):
    """The Redis-lease loop (module doc); prints loop_result."""
    r = _redis_connect(args)
    holder = b"%d@%s" % (os.getpid(), socket.gethostname().encode())
    lease = str(args.lease_ms).encode()
    names = [b"lease:%s:%s" % (args.prefix.encode(), k.encode()) for k in keys_of(args.keys)]
    keys = keys_of(args.keys)
    ran = []
    ready_and_wait(args.go)
    t0, c0 = time.time(), time.process_time()
    for i, name in enumerate(names):
        if r.command(b"SET", name, holder, b"NX", b"PX", lease) == b"OK":
            body(keys[i])
            ran.append(i)
            r.command(b"SET", name, b"done")
    t1 = time.time()
    print(json.dumps(loop_result(ran, t0, t1, time.process_time() - c0)))


def role_bare(args):
    """The bare local loop over the same keys, repeated until it has run
    at least 0.2 s (it is short): seconds per key."""
    keys = keys_of(args.keys)
    rounds, t = 0, time.perf_counter()
    while True:
        for key in keys:
            body(key)
        rounds += 1
        if time.perf_counter() - t >= 0.2:
            break
    dt = time.perf_counter() - t
    print(json.dumps({"keys": args.keys, "rounds": rounds,
                      "per_key_us": dt / (rounds * args.keys) * 1e6}))


ROLES = {"_redis_ping": role_redis_ping, "_redis_rtt": role_redis_rtt,
         "_redis_each": role_redis_each, "_bare": role_bare}


def role_main(argv):
    parser = argparse.ArgumentParser(prog="claims_anchors.py " + argv[0])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int, default=REDIS_PORT)
    parser.add_argument("--prefix", default="b")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--lease-ms", type=int, default=LEASE_MS)
    parser.add_argument("--go")
    parser.add_argument("--timeout", type=int, default=30)
    ROLES[argv[0]](parser.parse_args(argv[1:]))


# ---- the parent ------------------------------------------------------------
def worker(role, *args, script=SCRIPT):
    return [PYTHON, script, role] + [str(a) for a in args]


def run_json(node, cmd, env=None, timeout=300):
    import harness
    proc = node.run(cmd, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise harness.HarnessError("%s on %s failed (%d): %s" % (
            cmd[2], node.name, proc.returncode, (proc.stderr or proc.stdout).strip()[-1500:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stop(proc):
    """Ends a process this module started (by its pid, via Popen)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def run_together(cluster, per_node, cmd_of, env_of=lambda node: None, nodes=None,
                 before=None, timeout=900):
    """Starts `per_node` workers on every node of the cluster (or of the
    node indexes `nodes`; cmd_of(node, i, go) their argv), waits until all
    said "ready", calls before() if given, creates the go file, and
    returns their JSON results (node index, result) once all ended."""
    import harness
    go = os.path.join(cluster.root, "go-%d-%d" % (os.getpid(), time.monotonic_ns()))
    procs = []
    try:
        for node in (cluster.nodes if nodes is None else [cluster.nodes[i] for i in nodes]):
            for i in range(per_node):
                procs.append((node, node.popen(cmd_of(node, i, go), env=env_of(node),
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)))
        for node, proc in procs:
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise harness.HarnessError("worker on %s did not start: %s%s" % (
                    node.name, line, proc.stderr.read()[-1500:]))
        if before is not None:
            before()
        open(go, "w").close()
        out = []
        for node, proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise harness.HarnessError("worker on %s failed (%d): %s" % (
                    node.name, proc.returncode, stderr[-1500:]))
            out.append((node.index, json.loads(stdout.strip().splitlines()[-1])))
        return out
    finally:
        for _, proc in procs:
            stop(proc)
        if os.path.exists(go):
            os.unlink(go)


def loop_summary(results, nkeys):
    """keys/s over the whole run (first start to last end), process wall
    and CPU seconds per key, and how often each key ran (exactly once is
    the promise). With more processes than cores, process wall time
    includes waiting for a core: the solo figures give the cost per key."""
    runs = [0] * nkeys
    per_node = {}
    for index, r in results:
        for i in r["ran"]:
            runs[i] += 1
        per_node[index] = per_node.get(index, 0) + len(r["ran"])
    wall = max(r["end"] for _, r in results) - min(r["start"] for _, r in results)
    busy = sum(r["end"] - r["start"] for _, r in results)
    return {"keys": nkeys, "processes": len(results), "wall_s": wall,
            "keys_per_s": nkeys / wall if wall > 0 else None,
            "process_us_per_key": busy / nkeys * 1e6,
            "client_cpu_us_per_key": sum(r["cpu"] for _, r in results) / nkeys * 1e6,
            "ran_total": sum(runs), "never_ran": runs.count(0),
            "duplicates": sum(n - 1 for n in runs if n > 1),
            "ran_per_node": per_node}


class Redis:
    """redis-server in node A's namespace, bound to A's address only; no
    persistence (no RDB, no AOF) in a temp dir under the cluster's root
    (removed with it). Stopped by pid (and by the harness on failure)."""

    def __init__(self, cluster, node=ARBITER, port=REDIS_PORT):
        self.node = cluster.nodes[node]
        self.port = port
        self.dir = os.path.join(cluster.root, "redis")
        os.makedirs(self.dir, mode=0o700)
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = self.node.popen(
            ["redis-server", "--bind", self.node.addr, "--port", str(port),
             "--protected-mode", "no", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--logfile", self.log, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_json(cluster.nodes[CLAIMER], worker("_redis_ping", "--host", self.node.addr,
                                                "--port", port), timeout=60)
        self.version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                      text=True).stdout.strip()

    def close(self):
        stop(self.proc)


def measure_redis_rtt(cluster, redis, client, count, prefix):
    return run_json(cluster.nodes[client], worker(
        "_redis_rtt", "--host", redis.node.addr, "--port", redis.port, "--count", count,
        "--prefix", prefix))


def measure_redis_each(cluster, redis, nkeys, procs, nodes=None):
    prefix = "each%d-%s" % (procs, nodes)
    results = run_together(cluster, procs, lambda node, i, go: worker(
        "_redis_each", "--host", redis.node.addr, "--port", redis.port, "--keys", nkeys,
        "--prefix", prefix, "--go", go), nodes=nodes)
    return loop_summary(results, nkeys)


def measure_chain4(cluster, count, curve=True):
    """client (B) -ipc-> broker relay (B) -ipc-> gossip relay (B) -TCP->
    REP (A), and back: xfer_anchors' relays and REP server."""
    import xfer_anchors as xa
    a, b = cluster.nodes[ARBITER], cluster.nodes[CLAIMER]
    keys = xa.curve_keys()
    env = xa._env(keys)
    ipc = os.path.join(cluster.root, "chain4")
    os.makedirs(ipc, exist_ok=True)
    front, back = "ipc://%s/b-front" % ipc, "ipc://%s/b-back" % ipc
    tcp = "tcp://%s:%d" % (a.addr, CHAIN4_PORT)
    flag = ["--curve"] if curve else []
    workers = [
        (a, ["_rep_server", "--endpoint", "bind:" + tcp, "--size", 64] + flag),
        (b, ["_relay", "--front", "bind:" + front, "--back", "bind:" + back]),
        (b, ["_relay", "--front", "connect:" + back, "--back", "connect:" + tcp]
         + (["--back-curve"] if curve else [])),
    ]
    procs = []
    try:
        for node, args in workers:
            procs.append(node.popen(worker(*args, script=xa.SCRIPT), env=env))
        result = run_json(b, worker("_req_client", "--endpoint", "connect:" + front,
                                    "--size", 64, "--count", count, "--warmup", 200,
                                    script=xa.SCRIPT), env, timeout=300)
        result.update(processes=4, hops_each_way=3)
        return result
    finally:
        for proc in procs:
            stop(proc)


def _hooks(hooks):
    import claims_irohds
    found = {name: getattr(claims_irohds, name, None) for name in HOOK_NAMES}
    found.update(hooks or {})
    return {name: fn for name, fn in found.items() if callable(fn)}


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def run(quick=True, hooks=None, log=sys.stderr):
    """Every figure in one three-node cluster; the dict the CLI prints."""
    import harness
    import xfer_anchors
    hooks = _hooks(hooks)
    count = 500 if quick else 5000
    nkeys = 2000 if quick else 10000
    out = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "quick": quick, "cores": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "keys": nkeys, "round_trips": count, "lease_ms": LEASE_MS}
    errors = out["errors"] = {}

    def step(name, fn, *args, **kwargs):
        """One figure; a failed irohds figure is reported, not fatal (the
        anchors still print), an anchor's failure ends the run."""
        print("claims_anchors: %s ..." % name, file=log, flush=True)
        t = time.monotonic()
        try:
            out[name] = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if not name.startswith("irohds"):
                raise
            errors[name] = "%s: %s" % (type(exc).__name__, str(exc)[-1500:])
            print("claims_anchors: %s failed: %s" % (name, errors[name]), file=log, flush=True)
        print("claims_anchors: %s %.1f s" % (name, time.monotonic() - t), file=log, flush=True)

    harness.cleanup_stale()
    cluster = harness.Cluster(3)
    redis = None
    try:
        cluster.start()
        redis = Redis(cluster)
        out["redis_version"] = redis.version
        step("redis_rtt", measure_redis_rtt, cluster, redis, CLAIMER, count, "rtt")
        step("redis_rtt_local", measure_redis_rtt, cluster, redis, ARBITER, count, "local")
        step("reqrep_tcp", xfer_anchors.measure_reqrep, cluster, count=count, request=64,
             reply=64)
        step("reqrep_curve", xfer_anchors.measure_reqrep, cluster, count=count, request=64,
             reply=64, curve=True)
        step("chain4_curve", measure_chain4, cluster, count)
        step("bare_loop", run_json, cluster.nodes[ARBITER], worker("_bare", "--keys", nkeys))
        step("redis_each_solo", measure_redis_each, cluster, redis, nkeys, 1, [CLAIMER])
        for procs in (1, 4):
            step("redis_each_%d" % procs, measure_redis_each, cluster, redis, nkeys, procs)
        if "measure_irohds_claim" in hooks:
            step("irohds_claim", hooks["measure_irohds_claim"], cluster, ARBITER, CLAIMER,
                 count)
        if "measure_irohds_each" in hooks:
            step("irohds_each_solo", hooks["measure_irohds_each"], cluster, nkeys, 1,
                 [CLAIMER])
            for procs in (1, 4):
                step("irohds_each_%d" % procs, hooks["measure_irohds_each"], cluster, nkeys,
                     procs)
    finally:
        try:
            if redis is not None:
                redis.close()
        finally:
            cluster.close()
    out["loadavg_end"] = os.getloadavg()
    out["ratios"] = ratios(out)
    return out


def ratios(out):
    def get(name, *path):
        r = out.get(name)
        for p in path:
            r = r.get(p) if isinstance(r, dict) else None
        return r
    bare = get("bare_loop", "per_key_us")
    res = {
        "irohds_claim_vs_redis_p50": _ratio(get("irohds_claim", "remote", "p50_us"),
                                            get("redis_rtt", "p50_us")),
        "irohds_claim_vs_redis_p99": _ratio(get("irohds_claim", "remote", "p99_us"),
                                            get("redis_rtt", "p99_us")),
        "irohds_claim_vs_chain4_curve_p50": _ratio(get("irohds_claim", "remote", "p50_us"),
                                                   get("chain4_curve", "p50_us")),
        "chain4_curve_vs_redis_p50": _ratio(get("chain4_curve", "p50_us"),
                                            get("redis_rtt", "p50_us")),
        "reqrep_tcp_vs_redis_p50": _ratio(get("reqrep_tcp", "p50_us"),
                                          get("redis_rtt", "p50_us")),
        "reqrep_curve_vs_redis_p50": _ratio(get("reqrep_curve", "p50_us"),
                                            get("redis_rtt", "p50_us")),
        "redis_veth_vs_local_p50": _ratio(get("redis_rtt", "p50_us"),
                                          get("redis_rtt_local", "p50_us")),
    }
    for procs in ("solo", 1, 4):
        i, r = "irohds_each_%s" % procs, "redis_each_%s" % procs
        res["irohds_each_%s_vs_redis_keys_per_s" % procs] = _ratio(
            get(i, "keys_per_s"), get(r, "keys_per_s"))
    # Overhead per key: one process alone on B runs every key.
    for name in ("irohds_each_solo", "redis_each_solo"):
        cost = get(name, "process_us_per_key")
        if cost is not None and bare is not None:
            res["%s_overhead_us_per_key" % name] = round(cost - bare, 1)
    return res


def table(out):
    """The figures as the Markdown rows docs/BENCHMARKS.md shows (Peers
    III), for the record of a run."""
    def get(name, *path):
        r = out.get(name)
        for p in path:
            r = r.get(p) if isinstance(r, dict) else None
        return r

    def us(v):
        if v is None:
            return "—"
        return "%.2f µs" % v if v < 1 else "%.0f µs" % v if v < 1000 else "%.2f ms" % (v / 1000)

    def x(v):
        return "—" if v is None else "%.1f×" % v if v >= 1 else "%.3f×" % v
    claim = out.get("irohds_claim") or {}
    rows = ["| step (from B; arbiter A) | p50 | p99 | client CPU |", "|---|---|---|---|"]
    for label, name, src in (
            ("Redis `SET NX PX`, B → A over the veth", "redis_rtt", out),
            ("Redis, client on A", "redis_rtt_local", out),
            ("pyzmq REQ/REP B → A", "reqrep_tcp", out),
            ("pyzmq REQ/REP B → A, CURVE", "reqrep_curve", out),
            ("4-process CURVE chain (floor of the path)", "chain4_curve", out),
            ("irohds: store ping (client → broker → store)", "ping_store", claim),
            ("irohds: gossip ping (client → broker → gossip)", "ping_gossip", claim),
            ("irohds: local store claim (each_claim)", "store_claim", claim),
            ("irohds: local store claim (memo's claim)", "store_claim_memo", claim),
            ("irohds: gossip_claim, arbiter B itself", "local", claim),
            ("irohds: gossip_claim, arbiter A (the figure)", "remote", claim),
            ("irohds: same, kind memo", "remote_memo", claim),
            ("irohds: same, want 0 (no grant, no replica)", "remote_query", claim),
            ("irohds: want 1 of 64 keys per arbiter, kept (an each step)", "window", claim)):
        r = src.get(name) or {}
        rows.append("| %s | %s | %s | %s |" % (label, us(r.get("p50_us")),
                                              us(r.get("p99_us")), us(r.get("client_cpu_us"))))
    ratios = out.get("ratios", {})
    rows += ["", "| loop over %s keys | keys/s | runs per key | process wall / key |" % out["keys"],
             "|---|---|---|---|"]
    rows.append("| bare loop | — | 1 | %s |" % us(get("bare_loop", "per_key_us")))
    for procs, label in (("solo", "1 process on B"), (1, "3 nodes × 1 process"),
                         (4, "3 nodes × 4 processes")):
        for name in ("redis_each_%s" % procs, "irohds_each_%s" % procs):
            r = out.get(name) or {}
            runs = (r["ran_total"] / r["keys"]) if r.get("keys") else None
            rows.append("| %s, %s | %s | %s | %s |" % (
                "Redis lease" if name.startswith("redis") else "irohds.each", label,
                "—" if r.get("keys_per_s") is None else "%.0f" % r["keys_per_s"],
                "—" if runs is None else "%.2f" % runs, us(r.get("process_us_per_key"))))
    rows += ["", "ratios: claim p50 %s Redis (p99 %s), %s the CURVE chain; each keys/s "
             "solo %s, 3×1 %s, 3×4 %s Redis" % (
                 x(ratios.get("irohds_claim_vs_redis_p50")),
                 x(ratios.get("irohds_claim_vs_redis_p99")),
                 x(ratios.get("irohds_claim_vs_chain4_curve_p50")),
                 x(ratios.get("irohds_each_solo_vs_redis_keys_per_s")),
                 x(ratios.get("irohds_each_1_vs_redis_keys_per_s")),
                 x(ratios.get("irohds_each_4_vs_redis_keys_per_s"))),
             "load average %s at the start, %s at the end" % (
                 "/".join("%.1f" % v for v in out["loadavg_start"]),
                 "/".join("%.1f" % v for v in out["loadavg_end"]))]
    return "\n".join(rows)


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        role_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="short run: 2,000 keys and 500 round trips (else 10,000 / 5,000)")
    parser.add_argument("--anchors-only", action="store_true",
                        help="Redis and the floors without the irohds side")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--table", metavar="JSON",
                        help="print the Markdown tables of a run's --json file and exit")
    args = parser.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return
    if os.geteuid() != 0:
        sys.exit("claims_anchors: needs root (network namespaces)")
    if not any(os.access(os.path.join(d, "redis-server"), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin").split(os.pathsep)):
        sys.exit("claims_anchors: redis-server not found (apt-get install redis-server)")
    hooks = {name: None for name in HOOK_NAMES} if args.anchors_only else None
    result = run(quick=args.quick, hooks=hooks)
    text = json.dumps(result, indent=1)
    print(text)
    print(table(result), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
