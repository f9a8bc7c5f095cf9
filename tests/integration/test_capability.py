"""irohds-capability as a process: standalone (--bind) answering machcap,
verdict and ping, `irohds-ctl --endpoint EP cap [--json|--remeasure]`, and
the same under the supervisor (service "cap" through the broker)."""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test as support  # noqa: E402
from irohds_test import Client, Daemon, binary, make_home  # noqa: E402

from irohds import _proto  # noqa: E402


@pytest.fixture
def standalone():
    """irohds-capability --bind in a temp home of its own (removed after)."""
    actor = support.Actor("irohds-capability", "cap")
    actor.endpoint = "ipc://%s/cap.ipc" % actor.home
    yield from support.serve(actor)


def ctl(home, endpoint, *args, timeout=30):
    cmd = [binary("irohds-ctl"), "--home", home]
    if endpoint:
        cmd += ["--endpoint", endpoint]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=support.test_env(home))


def check_cap_json(doc):
    machine = doc["machine"]
    for name in ("flops_core", "flops_all", "mem_bw", "disk_read", "disk_write", "net_bw",
                 "net_latency", "ram_total", "ram_avail", "cores"):
        assert machine[name]["value"] > 0, name
        assert "unit" in machine[name]
    assert machine["mem_bw"]["unit"] == "B/s"
    assert len(doc["verdicts"]) >= 5
    for row in doc["verdicts"]:
        assert row["action"] in ("fetch", "compute")
        assert row["bottleneck"] in ("compute", "memory", "network", "disk")
        score = row["score"]["value"]
        if isinstance(score, str):
            assert score in ("inf", "-inf")
        else:
            assert math.isfinite(score)
    names = [row["task"] for row in doc["verdicts"]]
    assert "sort 1M x 64B" in names and "matmul 1k^3" in names
    sort = doc["verdicts"][names.index("sort 1M x 64B")]
    assert sort["flops"]["value"] == 200_000_000
    assert sort["mem_bytes"]["value"] == 1_280_000_000
    # More than twice the RAM: the machine must fetch.
    big = doc["verdicts"][names.index("2x RAM model")]
    assert big["score"]["value"] == "inf" and big["action"] == "fetch"


def test_standalone_machcap_and_ping(standalone):
    client = Client(standalone.endpoint)
    try:
        status, frames = client.call("cap", "machcap")
        assert status == "OK"
        name, info = _proto.decode(frames[0])
        assert name == "machcap_info" and info["mem_bw"] > 0 and info["cores"] >= 1
        status, frames = client.call("cap", "ping")
        _n, pong = _proto.decode(frames[0], expect="pong")
        assert pong["service"] == "cap" and pong["pid"] == standalone.proc.pid
    finally:
        client.close()


def test_ctl_cap_text_json_and_remeasure(standalone):
    home, endpoint = standalone.home, standalone.endpoint
    out = ctl(home, endpoint, "cap")
    assert out.returncode == 0, out.stderr
    assert "verdicts (what should this machine do?)" in out.stdout
    assert "sort 1M x 64B" in out.stdout and "200.0M" in out.stdout
    out = ctl(home, endpoint, "--json", "cap")
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    check_cap_json(first)
    out = ctl(home, endpoint, "cap", "--remeasure", "--json")
    assert out.returncode == 0, out.stderr
    again = json.loads(out.stdout)
    assert again["machine"]["measured_at"]["value"] > first["machine"]["measured_at"]["value"]
    out = ctl(home, endpoint, "cap", "--bogus")
    assert out.returncode == 2


def test_ctl_cap_without_daemon():
    home = make_home()
    try:
        out = ctl(home, None, "cap", timeout=30)
        assert out.returncode == 3
        assert "not running" in out.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_under_the_daemon():
    if not os.access(binary("irohds-daemon"), os.X_OK):
        pytest.fail("irohds-daemon was not built")
    d = Daemon()
    try:
        d.start()
        d.wait_ready(timeout=20, services=("sup", "cap"))
        client = d.client()
        try:
            status, frames = client.call("cap", "machcap", timeout=10)
            assert status == "OK", frames
            _n, info = _proto.decode(frames[0], expect="machcap_info")
            assert info["flops_all"] > 0 and info["mem_bw"] > 0
        finally:
            client.close()
        out = d.ctl("--json", "cap")
        assert out.returncode == 0, out.stderr
        check_cap_json(json.loads(out.stdout))
        assert os.path.exists(os.path.join(d.home, "machcap.cache"))
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()
