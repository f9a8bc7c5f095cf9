"""tests/cluster/test_claims.py: claims across machines as a user meets
them, @irohds.memo and irohds.each on real daemons in network namespaces
(tests/cluster/harness.py), LAN beacons inside the cluster's bridge only.

Every worker is a fresh /usr/bin/python3 (claims_worker.py) in a node's
namespace with that node's home. Runs are counted in one append-only file
outside the nodes (the namespaces share the filesystem): each run of a
memoized function or of an each() body appends "run NODE KEY", so "ran
once" is a line count, never a clock. Leases are short (3 s) to keep the
file's run time down; waits are generous (a loaded 2-core machine).

- memo on 3 nodes at once (a function that sleeps 1 s): computed once in
  all, every node gets the value;
- each over 2,000 keys, 3 nodes x 4 processes: every key run exactly once,
  none skipped; a rerun on every node runs nothing;
- kill -9 one node (daemon and workers) mid-run: keys it had not finished
  are taken over after the lease and finished by the others, keys it
  finished (notify_success returned) are not run again, and no key is run
  twice by the nodes that stay connected;
- a partition during a run (one node cut off from two): no key run twice
  while membership is stable (before the split; on each side once both
  declared the other dead), every key done everywhere once healed, and
  every key run on both sides counted (claims_duplicates);
- the memo holder's node is killed while the others wait: one waiter takes
  over after the lease and computes; the value arrives at both.

Needs root (network namespaces, nftables).
"""
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
LEASE_MS = 3000             # memo's lease (IROHDS_LEASE_MS) and each's timeout
KEYS = ["task-%04d" % i for i in range(2000)]


class Run:
    """A cluster, its shared run file and its workers."""

    def __init__(self, cluster):
        self.c = cluster
        self.dir = os.path.join(cluster.root, "shared")
        os.makedirs(self.dir, exist_ok=True)
        self.worker = os.path.join(self.dir, "claims_worker.py")
        shutil.copy(os.path.join(HERE, "claims_worker.py"), self.worker)
        self.out = os.path.join(self.dir, "runs")
        self.go = os.path.join(self.dir, "go")
        self.procs = []

    def env(self, node, **extra):
        e = harness.irohds_test.test_env(node.home, IROHDS_CAP_PROFILE="fixed",
                                         IROHDS_LAN="1", IROHDS_DAEMON="/bin/false",
                                         IROHDS_LEASE_MS=str(LEASE_MS), CLAIMS_NODE=node.name,
                                         CLAIMS_OUT=self.out, **extra)
        return e

    def start(self, node, env=None, **opts):
        opts.setdefault("go", self.go)
        proc = node.popen([PYTHON, self.worker, json.dumps(opts)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          env=self.env(node, **(env or {})))
        proc.node = node
        self.procs.append(proc)
        return proc

    def release(self):
        """Start the workers waiting for go, once every one is ready."""
        waiting = [p for p in self.procs if p.poll() is None]
        harness.wait_for(lambda: sum(1 for p in waiting if os.path.exists(
            "%s.ready.%d" % (self.go, p.pid))) == len(waiting) or any(
                p.poll() is not None for p in waiting),
            timeout=120, interval=0.05, what="workers ready")
        with open(self.go, "w"):
            pass

    @staticmethod
    def finish(proc, timeout=240):
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, (proc.node.name, proc.returncode, out, err[-4000:])
        return json.loads(out.strip().splitlines()[-1])

    def lines(self, kind="run"):
        """[(node, key)] of the shared file's lines of that kind."""
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            rows = [line.split() for line in f]
        return [(r[1], r[2]) for r in rows if len(r) >= 3 and r[0] == kind]

    def ctl_json(self, node, *args):
        proc = node.daemon.ctl("--json", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def gossip(self, node):
        return self.ctl_json(node, "peers", "--stats")["gossip"]

    def status(self, node, ns, n):
        """each_status of the first n keys, asked on node (its arbiters)."""
        code = ("import irohds, json; print(json.dumps(collections.Counter("
                "s.value for s in irohds.each_status(%r, ns=%r).values())))"
                % (KEYS[:n], ns)).replace("import irohds", "import collections, irohds")
        proc = node.run([PYTHON, "-c", code], timeout=120, env=self.env(node))
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def kill_node(self, node):
        """kill -9 the node's workers, then its daemon (its actors follow)."""
        for p in self.procs:
            if p.node is node and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        node.kill_daemon()


def alive_everywhere(run, nodes):
    ids = {n.name: run.ctl_json(n, "info")["local"]["node_id"] for n in nodes}
    harness.wait_for(lambda: all(
        {p["id"] for p in run.ctl_json(n, "peers") if p["state"] == "alive"}
        >= set(ids.values()) - {ids[n.name]} for n in nodes),
        timeout=60, interval=0.2, what="every node alive everywhere")
    return ids


@contextlib.contextmanager
def cluster(n):
    with harness.Cluster(n) as c:
        c.start_daemons(lan=True)
        run = Run(c)
        alive_everywhere(run, c.nodes)
        yield c, run


# ---------------------------------------------------------------- memo

# "amemo": the same through an async def, whose miss path takes the
# arbiter's lease in the event loop's executor, like its other blocking
# steps, and waits the same way.
@pytest.mark.parametrize("mode", [pytest.param("memo", marks=pytest.mark.smoke), "amemo"])
def test_memo_on_three_nodes_at_once_is_computed_once(mode):
    with cluster(3) as (c, run):
        procs = [run.start(node, mode=mode, x=7, env={"CLAIMS_SLOW": "2"})
                 for node in c.nodes]
        run.release()
        results = [run.finish(p) for p in procs]
        runs = run.lines()
        print("%s runs: %s; client counters: %s" % (mode, runs, [r["client"] for r in results]))
        assert len(runs) == 1, runs                                 # computed once in all
        assert not any(r["client"].get("claims_gossip_errors") for r in results), results
        assert all(r["value"] == {"x": 7, "squares": [49] * 3} for r in results)
        # The two others waited for the holder (polling its lease at the
        # key's arbiter, or on their own store's claim when their node is
        # the arbiter) and fetched its result.
        fetched = [r for r in results if r["client"].get("lookup_fetched") == 1]
        assert len(fetched) == 2, results


def test_memo_holder_killed_while_others_wait_is_taken_over():
    with cluster(3) as (c, run):
        a, b, d = c.nodes
        # A computes for a long time; B and C start once A runs it.
        holder = run.start(a, mode="memo", x=11, env={"CLAIMS_SLOW": "600"})
        run.release()
        harness.wait_for(lambda: run.lines(), timeout=120, interval=0.1,
                         what="A computing")
        logs = [os.path.join(run.dir, "log-" + n.name) for n in (b, d)]
        waiters = [run.start(n, mode="memo", x=11, env={"CLAIMS_SLOW": "1"}, log=path)
                   for n, path in zip((b, d), logs)]

        def waiting(path):
            # "...: waiting for it" (polling A's lease at another node's
            # arbiter), or "waiting for KEY, computed by n<A>:..." (this
            # node is the arbiter: the lease is a claim in its own store).
            with contextlib.suppress(FileNotFoundError), open(path) as f:
                return "waiting for" in f.read()
        harness.wait_for(lambda: all(waiting(p) for p in logs), timeout=120, interval=0.1,
                         what="B and C waiting for A's lease")
        assert len(run.lines()) == 1, run.lines()
        run.kill_node(a)
        results = [run.finish(p) for p in waiters]
        runs = run.lines()
        print("runs: %s; counters: %s" % (runs, [r["client"] for r in results]))
        assert holder.returncode == -signal.SIGKILL
        assert len(runs) == 2 and runs[0][0] == "n0", runs       # A, then one waiter
        assert runs[1][0] in ("n1", "n2")
        assert all(r["value"] == {"x": 11, "squares": [121] * 3} for r in results)
        # The one that did not compute fetched the other's result.
        assert sorted(r["client"].get("lookup_fetched", 0) for r in results) == [0, 1]


# ---------------------------------------------------------------- each

def each_once(run, nodes, procs_per_node, n, ns, **opts):
    procs = [run.start(node, mode="each", ns=ns, n=n, **opts)
             for node in nodes for _ in range(procs_per_node)]
    run.release()
    return procs


def test_each_2000_keys_3_nodes_4_processes_once_and_rerun_runs_nothing():
    with cluster(3) as (c, run):
        # The default namespace (ns=""), as most loops use it.
        procs = each_once(run, c.nodes, 4, len(KEYS), "", timeout=LEASE_MS / 1000)
        results = [run.finish(p) for p in procs]
        runs = collections.Counter(k for _, k in run.lines())
        by_node = collections.Counter(n for n, _ in run.lines())
        print("runs per node: %s" % dict(by_node))
        assert sorted(runs) == KEYS                         # none skipped
        assert set(runs.values()) == {1}, [k for k, v in runs.items() if v > 1][:20]
        assert sum(r["ran"] for r in results) == len(KEYS)
        assert len(by_node) == 3, by_node                   # every node took part
        # Through the arbiters (not each machine's store alone).
        assert all(r["client"].get("claims_remote", 0) > 0 and
                   not r["client"].get("claims_gossip_errors") for r in results), results
        assert run.status(c.nodes[0], "", len(KEYS)) == {"done": len(KEYS)}
        # Rerun on every node: nothing is run again.
        os.unlink(run.go)
        again = [run.start(node, mode="each", ns="", n=len(KEYS)) for node in c.nodes]
        run.release()
        results = [run.finish(p) for p in again]
        assert [r["ran"] for r in results] == [0, 0, 0]
        assert len(run.lines()) == len(KEYS)
        gossip = [run.gossip(n) for n in c.nodes]
        assert sum(g.get("claims_duplicates", 0) for g in gossip) == 0, gossip


def test_each_node_killed_mid_run_keys_taken_over_none_redone():
    n = 400
    with cluster(3) as (c, run):
        a = c.nodes[0]
        # Bodies of 80 ms: A's workers are most likely killed inside one.
        procs = each_once(run, c.nodes, 2, n, "kill", timeout=LEASE_MS / 1000,
                          sleep=0.08, notify=True)
        harness.wait_for(lambda: sum(1 for x, _ in run.lines("done") if x == a.name) >= 40,
                         timeout=120, interval=0.05, what="A finished some keys")
        run.kill_node(a)
        results = [run.finish(p) for p in procs if p.node is not a]
        runs, done = run.lines("run"), run.lines("done")
        a_done = {k for x, k in done if x == a.name}
        a_unfinished = {k for x, k in runs if x == a.name} - a_done
        others = collections.Counter(k for x, k in runs if x != a.name)
        print("A finished %d, left %d unfinished; the others ran %d; counters %s"
              % (len(a_done), len(a_unfinished), sum(others.values()),
                 [r["client"] for r in results]))
        assert not a_done & set(others), sorted(a_done & set(others))[:20]  # not redone
        assert a_unfinished <= set(others)                  # taken over
        assert set(others.values()) == {1}, [k for k, v in others.items() if v > 1][:20]
        assert a_done | set(others) == set(KEYS[:n])        # every key finished
        for node in c.nodes[1:]:
            assert run.status(node, "kill", n) == {"done": n}


def test_each_partition_mid_run_at_most_once_per_side_duplicates_counted():
    n = 600
    with cluster(3) as (c, run):
        a, b, d = c.nodes
        ids = {x.name: run.ctl_json(x, "info")["local"]["node_id"] for x in c.nodes}
        sides = {a.name: 0, b.name: 1, d.name: 1}
        procs = each_once(run, c.nodes, 2, n, "split", timeout=LEASE_MS / 1000, sleep=0.03)
        harness.wait_for(lambda: len(run.lines()) >= 60, timeout=120, interval=0.05,
                         what="some keys run")
        before = len(run.lines())
        c.partition([a], [b, d])

        def sees_dead(x, y):
            got = {p["id"]: p["state"] for p in run.ctl_json(x, "peers")}
            return got.get(ids[y.name]) not in ("alive", "suspect")
        harness.wait_for(lambda: all(sees_dead(a, y) and sees_dead(y, a) for y in (b, d)),
                         timeout=120, interval=0.2, what="each side declared the other dead")
        split = len(run.lines())
        harness.wait_for(lambda: len(run.lines()) >= split + 60, timeout=120, interval=0.05,
                         what="both sides running on their own")
        healed = len(run.lines())
        c.heal()
        results = [run.finish(p) for p in procs]
        runs = run.lines()
        keys = collections.Counter(k for _, k in runs)
        assert set(keys) == set(KEYS[:n])                   # every key run

        def twice_on_a_side(rows):
            per_side = collections.Counter((k, sides[x]) for x, k in rows)
            return sorted(k for k, v in per_side.items() if v > 1)
        # Membership stable: before the partition, no key twice at all;
        # while each side has declared the other dead, no key twice on one
        # side (the windows where swim changes its mind are the claim's
        # "membership changes": reported below, not asserted).
        assert set(collections.Counter(k for _, k in runs[:before]).values()) <= {1}
        assert twice_on_a_side(runs[split:healed]) == []
        both = sorted(k for k, v in keys.items() if v > 1)
        alive_everywhere(run, c.nodes)
        for node in c.nodes:                                # done everywhere once healed
            assert run.status(node, "split", n) == {"done": n}

        def counted():
            return sum(run.gossip(x).get("claims_duplicates", 0) for x in c.nodes)
        # Every key run on both sides is counted once healed (the arbiters'
        # syncs of recent done marks: docs/claims.md).
        with contextlib.suppress(TimeoutError):
            harness.wait_for(lambda: counted() >= len(both), timeout=60, interval=0.5,
                             what="duplicates counted")
        counted = counted()
        print("partition: %d keys run twice in all (%d twice on one side, in swim's "
              "transitions: %s); %d counted by the arbiters (claims_duplicates); client "
              "counters %s" % (len(both), len(twice_on_a_side(runs)), twice_on_a_side(runs)[:10],
                               counted, [r["client"] for r in results]))
        # A mark decided in the instant of the heal, after the sync it
        # would have ridden and before the views agree again, escapes the
        # count (docs/claims.md): at most one key in a hundred.
        assert counted >= len(both) - max(1, len(both) // 100), (counted, len(both))
