#!/usr/bin/python3
"""bench/cluster/xfer_anchors.py: the anchors irohds' transfers are measured
against (docs/BENCHMARKS.md, Peers II), between two network namespaces on a
bridge built by tests/cluster/harness.py (node 0 = 198.18.0.1 holds the
data and sends, node 1 = 198.18.0.2 fetches).

    sudo env IROHDS_BUILD=$PWD/build /usr/bin/python3 bench/cluster/xfer_anchors.py --quick [--holders 2]

Figures (one JSON dict on stdout; --json FILE writes it too):

  curve_stream        a bare CURVE ZeroMQ stream node 0 -> node 1 over the
                      veth: a ROUTER serves 256 KiB frames to a DEALER that
                      keeps 8 requests in flight (credit-based flow
                      control, as our fetch does); 1 GiB, GB/s. The
                      encryption floor a verified fetch is held to.
  zmq_tcp_stream      the same without CURVE (what encryption costs).
  *_loopback          both streams again with both ends in node 0 on
                      127.0.0.1: the machine without the veth.
  iperf3_unshaped     iperf3 raw TCP over the same veth.
  iperf3_1gbit        the same with the sender's veth (both ends) shaped by
                      `tc qdisc add dev VETH root tbf rate 1gbit burst
                      256kb latency 50ms` (a real LAN link; no netem here).
  curve_stream_1gbit  the CURVE stream under that shaping.
  reqrep_tcp          1 KiB request/reply: pyzmq REQ on node 1 -> REP on
                      node 0 over the veth (64-byte request, the size of a
                      lookup, and 1 KiB reply, the result): round trip
                      p50/p99/mean in microseconds; reqrep_curve with CURVE.
  chain_tcp           the same request through as many processes as an
                      irohds remote hit crosses, six processes and five
                      hops each way:
                        client (REQ, node 1) -ipc-> broker (ROUTER/DEALER
                        proxy, node 1) -ipc-> gossip (ROUTER/DEALER relay,
                        node 1) -TCP-> peer gossip (ROUTER/DEALER relay,
                        node 0) -ipc-> peer broker (ROUTER/DEALER proxy,
                        node 0) -ipc-> store (REP, node 0)
                      and back the same way. Each relay is zmq.proxy (the
                      forwarding loop runs in libzmq, no Python per
                      message): the floor of what the hops cost, with no
                      work done at any of them. chain_curve: CURVE on the
                      TCP hop, as between irohds peers.

The irohds side (a verified fetch and a remote hit between two real
daemons) is bench/cluster/xfer_irohds.py: run() calls its hooks
measure_irohds_fetch and measure_irohds_hit (or the caller's), in the
same cluster and under the same shaping, and adds the ratios (--anchors-only
skips them). Their contract is at HOOKS below.

Each figure is short (--quick: under a minute in all); namespaces, shaping
and every process started are removed on exit, error or signal (the
harness's clean-up, in a try/finally). Needs root, iproute2, iperf3 and
python3-zmq with CURVE. The machine may be shared: the load average at the
start and end is part of the output, and figures under load are lower
bounds of throughput and upper bounds of latency.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster"))
import harness  # noqa: E402

PYTHON = "/usr/bin/python3"
SCRIPT = os.path.abspath(__file__)
HOLDER, FETCHER = 0, 1
STREAM_PORT, REQREP_PORT, CHAIN_PORT, IPERF_PORT = 5601, 5602, 5603, 5604
FRAME = 256 << 10
WINDOW = 8
GIB = 1 << 30
SHAPE = {"rate": "1gbit", "burst": "256kb", "latency": "50ms"}
KEY_ENV = ("IRH_XFER_SERVER_PUBLIC", "IRH_XFER_SERVER_SECRET",
           "IRH_XFER_CLIENT_PUBLIC", "IRH_XFER_CLIENT_SECRET")

# ---- HOOKS: the irohds side, added by the lead ----------------------------
# measure_irohds_fetch(cluster, holders, fetcher, size) -> dict with at least
#     "bytes", "seconds" and "GBps" (bytes / seconds / 1e9): a verified fetch
#     of a `size`-byte result held by the daemons of nodes `holders` (a list
#     of node indexes) into node `fetcher`'s store, in `cluster` as run()
#     left it (shaped or not). run() calls it with holders [0] unshaped and
#     shaped, and with [0, 2] when --holders 2 made a third node.
# measure_irohds_hit(cluster, holder, fetcher, count) -> dict with "p50_us",
#     "p99_us", "mean_us": `count` remote hits of a 1 KiB result, each from
#     a fresh call on node `fetcher`, held on node `holder`.
# Either may be defined in this module or passed to run(hooks=...).
HOOK_NAMES = ("measure_irohds_fetch", "measure_irohds_hit")


# ---- keys and sockets (shared by the parent and the worker roles) ---------
def curve_keys():
    """Fresh server and client key pairs as the environment the workers
    read (keys stay out of argv and so out of ps)."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    return dict(zip(KEY_ENV, (k.decode() for k in (server_public, server_secret,
                                                   client_public, client_secret))))


def _curve_server(sock):
    sock.curve_secretkey = os.environ["IRH_XFER_SERVER_SECRET"].encode()
    sock.curve_publickey = os.environ["IRH_XFER_SERVER_PUBLIC"].encode()
    sock.curve_server = True


def _curve_client(sock):
    sock.curve_serverkey = os.environ["IRH_XFER_SERVER_PUBLIC"].encode()
    sock.curve_publickey = os.environ["IRH_XFER_CLIENT_PUBLIC"].encode()
    sock.curve_secretkey = os.environ["IRH_XFER_CLIENT_SECRET"].encode()


def _attach(sock, endpoint):
    """'bind:ENDPOINT' or 'connect:ENDPOINT'."""
    how, _, where = endpoint.partition(":")
    (sock.bind if how == "bind" else sock.connect)(where)


# ---- worker roles (run inside a namespace by the parent) ------------------
def role_stream_server(args):
    """Serves FRAME-byte frames, one per request, until killed. The same
    buffer every time: the anchor measures transport, not a disk."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.sndhwm = sock.rcvhwm = 0
    if args.curve:
        _curve_server(sock)
    sock.bind(args.endpoint)
    payload = os.urandom(args.frame)
    while True:
        ident, _request = sock.recv_multipart()
        sock.send_multipart([ident, payload], copy=False)


def role_stream_client(args):
    """Fetches args.total bytes in frames with args.window requests in
    flight; prints {"bytes", "seconds", "GBps"}. One frame first, untimed,
    so the handshake is not in the figure."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.sndhwm = sock.rcvhwm = 0
    if args.curve:
        _curve_client(sock)
    sock.connect(args.endpoint)
    if not sock.poll(args.timeout * 1000, zmq.POLLOUT):
        sys.exit("stream client: no connection")
    sock.send(struct.pack(">Q", 0))
    if not sock.poll(args.timeout * 1000):
        sys.exit("stream client: no first frame within %d s" % args.timeout)
    sock.recv(copy=False)
    frames = -(-args.total // args.frame)
    asked = received = 0
    got = 0
    start = time.perf_counter()
    while asked < min(args.window, frames):
        sock.send(struct.pack(">Q", asked * args.frame))
        asked += 1
    while received < frames:
        if not sock.poll(args.timeout * 1000):
            sys.exit("stream client: stalled after %d frames" % received)
        got += len(sock.recv(copy=False))
        received += 1
        if asked < frames:
            sock.send(struct.pack(">Q", asked * args.frame))
            asked += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"bytes": got, "seconds": seconds, "GBps": got / seconds / 1e9,
                      "frame": args.frame, "window": args.window}))


def role_rep_server(args):
    """Answers every request with args.size bytes until killed."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    if args.curve:
        _curve_server(sock)
    _attach(sock, args.endpoint)
    reply = os.urandom(args.size)
    while True:
        sock.recv()
        sock.send(reply)


def role_req_client(args):
    """args.count timed round trips after args.warmup untimed ones (which
    also wait out connection set-up along a chain); prints percentiles."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.req_relaxed = sock.req_correlate = 1
    if args.curve:
        _curve_client(sock)
    _attach(sock, args.endpoint)
    request = os.urandom(args.size)
    times = []
    for i in range(args.warmup + args.count):
        start = time.perf_counter_ns()
        sock.send(request)
        if not sock.poll(args.timeout * 1000):
            sys.exit("req client: no reply to request %d within %d s" % (i, args.timeout))
        reply = sock.recv()
        if i >= args.warmup:
            times.append(time.perf_counter_ns() - start)
    times.sort()
    print(json.dumps({"count": len(times), "request_bytes": args.size, "reply_bytes": len(reply),
                      "p50_us": times[len(times) // 2] / 1e3,
                      "p99_us": times[min(len(times) - 1, len(times) * 99 // 100)] / 1e3,
                      "mean_us": statistics.fmean(times) / 1e3, "min_us": times[0] / 1e3}))


def role_relay(args):
    """A ROUTER (front) / DEALER (back) proxy: a broker or a gossip hop."""
    ctx = zmq.Context()
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    if args.front_curve:
        _curve_server(front)
    if args.back_curve:
        _curve_client(back)
    _attach(front, args.front)
    _attach(back, args.back)
    zmq.proxy(front, back)


ROLES = {"_stream_server": role_stream_server, "_stream_client": role_stream_client,
         "_rep_server": role_rep_server, "_req_client": role_req_client, "_relay": role_relay}


def role_main(argv):
    parser = argparse.ArgumentParser(prog="xfer_anchors.py " + argv[0])
    parser.add_argument("--endpoint")
    parser.add_argument("--front")
    parser.add_argument("--back")
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--front-curve", action="store_true")
    parser.add_argument("--back-curve", action="store_true")
    parser.add_argument("--frame", type=int, default=FRAME)
    parser.add_argument("--total", type=int, default=GIB)
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=30)
    ROLES[argv[0]](parser.parse_args(argv[1:]))


# ---- the parent: cluster, shaping, measurements ---------------------------
def _worker(role, *args):
    return [PYTHON, SCRIPT, role] + [str(a) for a in args]


def _env(keys):
    env = dict(os.environ)
    env.update(keys)
    return env


def _stop(proc):
    """Ends a worker this module started (by its pid, via Popen)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def _run_json(node, cmd, env, timeout):
    proc = node.run(cmd, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise harness.HarnessError("%s on %s failed (%d): %s" % (
            cmd[2], node.name, proc.returncode, (proc.stderr or proc.stdout).strip()[-1500:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def shape(cluster, node=HOLDER, rate=SHAPE["rate"], burst=SHAPE["burst"],
          latency=SHAPE["latency"]):
    """tc tbf on both ends of the node's veth (its eth0 and its bridge
    port): the node's link runs at `rate` each way."""
    node = cluster.nodes[node]
    for ns, dev in ((node.ns, "eth0"), (cluster.bridge_ns, node.port)):
        harness._run(["tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf",
                      "rate", rate, "burst", burst, "latency", latency])


def unshape(cluster, node=HOLDER):
    node = cluster.nodes[node]
    for ns, dev in ((node.ns, "eth0"), (cluster.bridge_ns, node.port)):
        harness._run(["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"], check=False)


def measure_stream(cluster, total=GIB, frame=FRAME, window=WINDOW, curve=True, loopback=False,
                   timeout=120):
    """ZeroMQ stream holder -> fetcher with credit-based flow control; with
    loopback, both ends in the holder's namespace on 127.0.0.1 (what the
    machine does without the veth: the figure the issue quotes)."""
    holder, fetcher = cluster.nodes[HOLDER], cluster.nodes[FETCHER]
    keys = curve_keys()
    endpoint = "tcp://%s:%d" % (holder.addr, STREAM_PORT)
    if loopback:
        fetcher, endpoint = holder, "tcp://127.0.0.1:%d" % STREAM_PORT
    flag = ["--curve"] if curve else []
    server = holder.popen(_worker("_stream_server", "--endpoint", endpoint,
                                  "--frame", frame, *flag), env=_env(keys))
    try:
        return _run_json(fetcher, _worker("_stream_client", "--endpoint", endpoint,
                                          "--total", total, "--frame", frame, "--window", window,
                                          "--timeout", 30, *flag),
                         _env(keys), timeout)
    finally:
        _stop(server)


def measure_iperf3(cluster, seconds=3):
    """iperf3 TCP holder -> fetcher (the holder is iperf3's client, so the
    data flows the way a fetch's does); GB/s received."""
    holder, fetcher = cluster.nodes[HOLDER], cluster.nodes[FETCHER]
    server = fetcher.popen(["iperf3", "-s", "-1", "-B", fetcher.addr, "-p", str(IPERF_PORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            proc = holder.run(["iperf3", "-c", fetcher.addr, "-p", str(IPERF_PORT),
                               "-t", str(seconds), "-J"], timeout=seconds + 30)
            # A run can exit 0 with an "error" and no totals (seen right
            # after shaping the link): try again like a refused connect.
            if proc.returncode == 0 and "sum_received" in json.loads(proc.stdout).get("end", {}):
                break
            if time.monotonic() > deadline:
                raise harness.HarnessError("iperf3 failed: %s" % proc.stdout[-1500:])
            if server.poll() is not None:
                server = fetcher.popen(["iperf3", "-s", "-1", "-B", fetcher.addr, "-p",
                                        str(IPERF_PORT)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            time.sleep(0.1)         # server not listening yet
        end = json.loads(proc.stdout)["end"]
        bps = end["sum_received"]["bits_per_second"]
        return {"seconds": end["sum_received"]["seconds"], "bytes": end["sum_received"]["bytes"],
                "GBps": bps / 8e9, "bits_per_second": bps,
                "retransmits": end.get("sum_sent", {}).get("retransmits")}
    finally:
        _stop(server)


def measure_reqrep(cluster, count=2000, request=64, reply=1024, curve=False):
    """Round trips fetcher -> holder over the veth, one REQ to one REP."""
    holder, fetcher = cluster.nodes[HOLDER], cluster.nodes[FETCHER]
    keys = curve_keys()
    endpoint = "tcp://%s:%d" % (holder.addr, REQREP_PORT)
    flag = ["--curve"] if curve else []
    server = holder.popen(_worker("_rep_server", "--endpoint", "bind:" + endpoint,
                                  "--size", reply, *flag), env=_env(keys))
    try:
        return _run_json(fetcher, _worker("_req_client", "--endpoint",
                                          "connect:" + endpoint, "--size", request,
                                          "--count", count, *flag),
                         _env(keys), timeout=120)
    finally:
        _stop(server)


def measure_chain(cluster, count=2000, request=64, reply=1024, curve=False):
    """Round trips along client -> broker -> gossip -> (TCP) -> peer gossip
    -> peer broker -> store (module doc)."""
    holder, fetcher = cluster.nodes[HOLDER], cluster.nodes[FETCHER]
    keys = curve_keys()
    ipc = os.path.join(cluster.root, "chain")
    os.makedirs(ipc, exist_ok=True)
    b_front, b_back = "ipc://%s/b-front" % ipc, "ipc://%s/b-back" % ipc
    a_front, a_back = "ipc://%s/a-front" % ipc, "ipc://%s/a-back" % ipc
    tcp = "tcp://%s:%d" % (holder.addr, CHAIN_PORT)
    env = _env(keys)
    workers = [
        (fetcher, ["_relay", "--front", "bind:" + b_front, "--back", "bind:" + b_back]),
        (fetcher, ["_relay", "--front", "connect:" + b_back, "--back", "connect:" + tcp]
         + (["--back-curve"] if curve else [])),
        (holder, ["_relay", "--front", "bind:" + tcp, "--back", "connect:" + a_front]
         + (["--front-curve"] if curve else [])),
        (holder, ["_relay", "--front", "bind:" + a_front, "--back", "bind:" + a_back]),
        (holder, ["_rep_server", "--endpoint", "connect:" + a_back, "--size", reply]),
    ]
    procs = []
    try:
        for node, args in workers:
            procs.append(node.popen(_worker(*args), env=env))
        result = _run_json(fetcher, _worker("_req_client", "--endpoint",
                                            "connect:" + b_front, "--size", request,
                                            "--count", count, "--warmup", 200),
                           env, timeout=120)
        result["processes"] = 6
        result["hops_each_way"] = 5
        return result
    finally:
        for proc in procs:
            _stop(proc)


def _hooks(hooks):
    """The irohds side: bench/cluster/xfer_irohds.py unless the caller
    passes its own (or --anchors-only asks for none)."""
    import xfer_irohds
    found = {name: globals().get(name) or getattr(xfer_irohds, name, None)
             for name in HOOK_NAMES}
    found.update(hooks or {})
    return {name: fn for name, fn in found.items() if callable(fn)}


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def run(quick=True, holders=1, hooks=None, log=sys.stderr):
    """Every anchor in one two-node cluster (three with holders=2, for the
    irohds two-holder figure); returns the dict the CLI prints."""
    hooks = _hooks(hooks)
    big = GIB
    shaped = (256 << 20) if quick else GIB
    iperf_s = 3 if quick else 10
    count = 2000 if quick else 20000
    out = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "quick": quick, "cores": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "zmq": zmq.zmq_version(), "pyzmq": zmq.__version__,
           "frame_bytes": FRAME, "window": WINDOW, "shaping": SHAPE}

    def step(name, fn, *args, **kwargs):
        print("xfer_anchors: %s ..." % name, file=log, flush=True)
        out[name] = fn(*args, **kwargs)

    harness.cleanup_stale()
    cluster = harness.Cluster(3 if holders >= 2 else 2)
    try:
        cluster.start()
        step("curve_stream", measure_stream, cluster, total=big, curve=True)
        step("zmq_tcp_stream", measure_stream, cluster, total=big, curve=False)
        step("curve_stream_loopback", measure_stream, cluster, total=big, curve=True,
             loopback=True)
        step("zmq_tcp_stream_loopback", measure_stream, cluster, total=big, curve=False,
             loopback=True)
        step("iperf3_unshaped", measure_iperf3, cluster, seconds=iperf_s)
        step("reqrep_tcp", measure_reqrep, cluster, count=count)
        step("reqrep_curve", measure_reqrep, cluster, count=count, curve=True)
        step("chain_tcp", measure_chain, cluster, count=count)
        step("chain_curve", measure_chain, cluster, count=count, curve=True)
        fetch = hooks.get("measure_irohds_fetch")
        if fetch:
            step("irohds_fetch", fetch, cluster, [HOLDER], FETCHER, big)
            if holders >= 2:
                step("irohds_fetch_2_holders", fetch, cluster, [HOLDER, 2], FETCHER, big)
        if hooks.get("measure_irohds_hit"):
            step("irohds_hit", hooks["measure_irohds_hit"], cluster, HOLDER, FETCHER, count)
        shape(cluster, HOLDER)
        step("iperf3_1gbit", measure_iperf3, cluster, seconds=iperf_s)
        step("curve_stream_1gbit", measure_stream, cluster, total=shaped, curve=True)
        if fetch:
            step("irohds_fetch_1gbit", fetch, cluster, [HOLDER], FETCHER, big)
        unshape(cluster, HOLDER)
    finally:
        cluster.close()
    out["loadavg_end"] = os.getloadavg()
    get = lambda name, key: (out.get(name) or {}).get(key)  # noqa: E731
    out["ratios"] = {
        "curve_vs_zmq_tcp_stream": _ratio(get("curve_stream", "GBps"),
                                          get("zmq_tcp_stream", "GBps")),
        "curve_vs_zmq_tcp_stream_loopback": _ratio(get("curve_stream_loopback", "GBps"),
                                                   get("zmq_tcp_stream_loopback", "GBps")),
        "curve_stream_veth_vs_loopback": _ratio(get("curve_stream", "GBps"),
                                                get("curve_stream_loopback", "GBps")),
        "curve_stream_vs_iperf3_unshaped": _ratio(get("curve_stream", "GBps"),
                                                  get("iperf3_unshaped", "GBps")),
        "curve_stream_vs_iperf3_1gbit": _ratio(get("curve_stream_1gbit", "GBps"),
                                               get("iperf3_1gbit", "GBps")),
        "chain_vs_reqrep_tcp_p50": _ratio(get("chain_tcp", "p50_us"), get("reqrep_tcp", "p50_us")),
        "irohds_fetch_vs_curve_stream": _ratio(get("irohds_fetch", "GBps"),
                                               get("curve_stream", "GBps")),
        "irohds_fetch_vs_iperf3_unshaped": _ratio(get("irohds_fetch", "GBps"),
                                                  get("iperf3_unshaped", "GBps")),
        "irohds_fetch_1gbit_vs_iperf3_1gbit": _ratio(get("irohds_fetch_1gbit", "GBps"),
                                                     get("iperf3_1gbit", "GBps")),
        "irohds_hit_vs_chain_curve_p50": _ratio(get("irohds_hit", "p50_us"),
                                                get("chain_curve", "p50_us")),
        "irohds_hit_vs_reqrep_tcp_p50": _ratio(get("irohds_hit", "p50_us"),
                                               get("reqrep_tcp", "p50_us")),
    }
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        role_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs: under a minute in all (256 MiB shaped stream, "
                             "3 s iperf3, 2000 round trips)")
    parser.add_argument("--holders", type=int, choices=(1, 2), default=1,
                        help="2: a third node as a second holder (for the irohds hook)")
    parser.add_argument("--anchors-only", action="store_true",
                        help="the anchors without the irohds side")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("xfer_anchors: needs root (network namespaces)")
    if not zmq.has("curve"):
        sys.exit("xfer_anchors: this libzmq has no CURVE")
    hooks = {name: None for name in HOOK_NAMES} if args.anchors_only else None
    result = run(quick=args.quick, holders=args.holders, hooks=hooks)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
