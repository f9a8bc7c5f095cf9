"""tests/cluster/test_demo.py: the quick start's peers demo
(scripts/demo_peers.py) runs as the README promises: two nodes in network
namespaces list each other alive, a result computed on one is returned on
the other without recomputing, and nothing is left behind."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SOURCE = os.environ.get("IROHDS_SOURCE") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))


def test_demo_peers_two_nodes_see_each_other():
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(SOURCE, "scripts", "demo_peers.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "found each other by LAN beacon" in out
    # Each node's table lists the other, alive, with its 198.18 address.
    assert out.count("$ irohds-ctl peers") == 2
    assert "tcp://198.18.0.2:47460  alive" in out and "tcp://198.18.0.1:47460  alive" in out
    # A result computed on n0 is returned on n1 without running there.
    assert "the function ran 1 time(s) on n0" in out
    assert "the function ran 0 time(s) on n1" in out
    assert "n1 fetched it from n0: yes" in out and "the same value: yes" in out
    # The harness names its namespaces irhc-<pid>-...: none of the demo's remain.
    assert not [ns for ns in harness.netns_list()
                if ns.startswith("%s%d-" % (harness.PREFIX, proc.pid))]
