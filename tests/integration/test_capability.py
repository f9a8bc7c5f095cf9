"""irohds-capability as a process: standalone (--bind) answering machcap,
verdict and ping, `irohds-ctl --endpoint EP cap [--json|--remeasure]`, and
the same under the supervisor (service "cap" through the broker); start-up
(registered at once, requests held until the first measurement, a bounded
hold) with the test knob IROHDS_CAP_MEASURE_DELAY_MS; the fixed profile."""
import json
import math
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test as support  # noqa: E402
from irohds_test import Client, Daemon, binary, make_home  # noqa: E402

from irohds import _proto, _transport  # noqa: E402

# These tests are about measuring the real machine: never the fixed
# profile that the rest of the suite uses (tests/CMakeLists.txt).
os.environ.pop("IROHDS_CAP_PROFILE", None)


@pytest.fixture
def standalone():
    """irohds-capability --bind in a temp home of its own (removed after),
    its first measurement done."""
    actor = support.Actor("irohds-capability", "cap")
    actor.endpoint = "ipc://%s/cap.ipc" % actor.home
    for served in support.serve(actor):
        support.wait_measured(served.endpoint)
        yield served


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
        info = support.wait_measured(d.endpoint)
        assert info["flops_all"] > 0 and info["mem_bw"] > 0
        out = d.ctl("--json", "cap")
        assert out.returncode == 0, out.stderr
        check_cap_json(json.loads(out.stdout))
        assert os.path.exists(os.path.join(d.home, "machcap.cache"))
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


# ---- start-up: register first, measure in the background ----------------

FLAG_CACHED = 1 << 5
FLAG_FIXED = 1 << 6


def cap_row(client):
    """The capability row of `sup status` (a dict), or None."""
    status, frames = client.call("sup", "status", timeout=5)
    assert status == "OK"
    for row in _transport.parse_table(frames):
        if row["name"] == "capability":
            return row
    return None


def test_registers_at_once_while_measuring(monkeypatch):
    # The measurement is forced to take longer than the supervisor's
    # registration deadline (SUP_REGISTER_MS, 10 s): the actor must be
    # registered and answering long before, and never be restarted.
    monkeypatch.setenv("IROHDS_CAP_MEASURE_DELAY_MS", "20000")
    d = Daemon()
    try:
        started = time.monotonic()
        d.start()
        d.wait_ready(timeout=20, services=("sup", "cap"))
        client = d.client()
        try:
            row = cap_row(client)
            assert row["state"] == "running", row
            pid = int(row["pid"])
            # Registered before any measurement finished: no cache file yet.
            assert not os.path.exists(os.path.join(d.home, "machcap.cache"))
            # A machcap request is held; ping still answers at once.
            held = client.send("cap", "machcap")
            status, frames = client.call("cap", "ping", timeout=2)
            assert status == "OK"
            assert _proto.decode(frames[0], expect="pong")[1]["pid"] == pid
            # With no previous profile the held request gets a clear error
            # within the actor's bound (well before the measurement ends),
            # never silence.
            status, frames = client.recv(held, timeout=15)
            assert status == "ERR" and frames[0] == b"measuring", frames
            # Past the registration deadline: same process, no restart.
            while time.monotonic() - started < 12:
                time.sleep(0.5)
            row = cap_row(client)
            assert row["state"] == "running" and int(row["pid"]) == pid, row
            assert int(row["restarts"]) == 0, row
            assert "measured in" not in d.read_log()
        finally:
            client.close()
        # Stopping while measuring is prompt and clean.
        assert d.stop(timeout=10) == 0
        assert "ignored SIGTERM" not in d.read_log()
    finally:
        d.cleanup()


def test_requests_during_measurement_are_answered_after_it(monkeypatch):
    monkeypatch.setenv("IROHDS_CAP_MEASURE_DELAY_MS", "500")
    actor = support.Actor("irohds-capability", "cap", args=["-v"])
    actor.endpoint = "ipc://%s/cap.ipc" % actor.home
    client = None
    try:
        before_ms = time.time() * 1000
        actor.start()
        client = Client(actor.endpoint)
        asked = client.send("cap", "machcap")
        verdict = client.send("cap", "verdict", flops=10 ** 9, mem_bytes=10 ** 6,
                              result_bytes=1000)
        ping = client.send("cap", "ping")
        # The ping overtakes the held requests.
        first = client.sock.recv_multipart() if client.sock.poll(5000) else None
        assert first is not None and first[2] == ping, first
        status, frames = client.recv(asked, timeout=15)
        if status == "ERR":
            # A machine so loaded that the measurement outlasted the
            # actor's bound (8 s): the answer is the clear error, and only
            # while nothing has been measured yet.
            assert frames[0] == b"measuring", frames
            assert "measured in" not in actor.read_log()
            info = support.wait_measured(actor.endpoint)
        else:
            assert status == "OK", frames
            _n, info = _proto.decode(frames[0], expect="machcap_info")
        # Answered with the new measurement, not a cache or the fixed profile.
        assert info["measured_ms"] >= before_ms
        assert not info["flags"] & (FLAG_CACHED | FLAG_FIXED)
        assert info["mem_bw"] > 0 and info["flops_all"] > 0
        status, frames = client.recv(verdict, timeout=15)
        if status == "ERR":
            assert frames[0] == b"measuring", frames
            status, frames = client.call("cap", "verdict", timeout=5, flops=10 ** 9)
        assert status == "OK", frames
        _n, out = _proto.decode(frames[0], expect="verdict_info")
        assert out["bottleneck"] in ("compute", "memory", "network", "disk")
        assert "measured in" in actor.read_log()
        assert os.path.exists(os.path.join(actor.home, "machcap.cache"))
    finally:
        if client:
            client.close()
        try:
            actor.stop()
        finally:
            actor.cleanup()


def fixed_figures(info):
    assert info["flags"] & FLAG_FIXED
    assert not info["flags"] & FLAG_CACHED
    assert info["flops_core"] == 5_000_000_000 and info["flops_all"] == 10_000_000_000
    assert info["mem_bw"] == 5_000_000_000
    assert info["disk_read"] == info["disk_write"] == 100_000_000
    assert info["net_bw"] == 12_500_000 and info["net_latency_ns"] == 1_000_000
    assert info["nic"] == "fixed" and info["measure_wall_us"] == 0
    assert info["cores"] >= 1 and info["ram_total"] > 0


def test_fixed_profile_from_the_environment(monkeypatch):
    # The measurement knob must not matter: nothing is measured.
    monkeypatch.setenv("IROHDS_CAP_PROFILE", "fixed")
    monkeypatch.setenv("IROHDS_CAP_MEASURE_DELAY_MS", "60000")
    actor = support.Actor("irohds-capability", "cap")
    actor.endpoint = "ipc://%s/cap.ipc" % actor.home
    client = None
    try:
        actor.start()
        client = Client(actor.endpoint)
        status, frames = client.call("cap", "machcap", timeout=5)
        assert status == "OK", frames
        first = _proto.decode(frames[0], expect="machcap_info")[1]
        fixed_figures(first)
        time.sleep(0.01)
        status, frames = client.call("cap", "remeasure", timeout=5)
        assert status == "OK", frames
        again = _proto.decode(frames[0], expect="machcap_info")[1]
        fixed_figures(again)
        assert again["measured_ms"] > first["measured_ms"]
        status, frames = client.call("cap", "verdict", timeout=5, flops=10 ** 12)
        assert status == "OK"
        # A fixed profile never touches (or creates) the cache file.
        assert not os.path.exists(os.path.join(actor.home, "machcap.cache"))
        assert "measured in" not in actor.read_log()
    finally:
        if client:
            client.close()
        try:
            actor.stop()
        finally:
            actor.cleanup()


def test_fixed_profile_from_the_config_under_the_daemon(monkeypatch):
    monkeypatch.delenv("IROHDS_CAP_PROFILE", raising=False)
    d = Daemon()
    with open(os.path.join(d.home, "config.toml"), "a") as f:
        f.write('[cap]\nprofile = "fixed"\n')
    try:
        d.start()
        d.wait_ready(timeout=20, services=("sup", "cap"))
        client = d.client()
        try:
            status, frames = client.call("cap", "machcap", timeout=5)
            assert status == "OK", frames
            fixed_figures(_proto.decode(frames[0], expect="machcap_info")[1])
        finally:
            client.close()
        out = d.ctl("--json", "cap")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        check_cap_json(doc)
        assert doc["machine"]["nic"] == "fixed"
        assert doc["machine"]["mem_bw"]["value"] == 5e9
        out = d.ctl("cap")
        assert out.returncode == 0 and "12.5 MB/s on fixed" in out.stdout, out.stdout
        assert not os.path.exists(os.path.join(d.home, "machcap.cache"))
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def test_unknown_profile_is_logged_and_measured(monkeypatch):
    monkeypatch.setenv("IROHDS_CAP_PROFILE", "sometimes")
    actor = support.Actor("irohds-capability", "cap")
    actor.endpoint = "ipc://%s/cap.ipc" % actor.home
    try:
        actor.start()
        info = support.wait_measured(actor.endpoint)
        assert not info["flags"] & FLAG_FIXED and info["mem_bw"] > 0
        assert 'IROHDS_CAP_PROFILE = "sometimes"' in actor.read_log()
    finally:
        try:
            actor.stop()
        finally:
            actor.cleanup()
