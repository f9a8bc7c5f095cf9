"""The network actors gossip and discovery run under the Landlock+seccomp
policy of common/irh_sandbox.c in a real daemon: no_new_privs and a
seccomp filter in /proc, Landlock in force where the kernel has it, and
both shown in their stats (docs/security.md). irohds-discovery
--check-sandbox enters the very same sandbox and proves what it cannot do:
read identity/'s secret (or anything of identity/), write store/, blobs/
or identity/, list blobs/ or write fetch/. Discovery never opens the
secret key file at all. irohds-gossip --check-sandbox does the same for
gossip, which serves and fetches results: it reads blobs/ but cannot write
there, writes fetch/, and still cannot touch store/ or the home."""
import ctypes
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test  # noqa: E402
from irohds_test import Daemon, binary, serve  # noqa: E402

SYS_LANDLOCK_CREATE_RULESET = 444          # x86-64 and aarch64 share it
LANDLOCK_CREATE_RULESET_VERSION = 1


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(abi, 0)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            name, _, value = line.partition(":")
            out[name] = value.strip()
    return out


@pytest.fixture(scope="module")
def daemon():
    for d in serve(Daemon()):
        d.wait_ready(30.0, services=("sup", "store", "gossip", "discovery"))
        yield d


def test_network_actors_are_confined(daemon):
    r = daemon.ctl("--json", "status")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    r = daemon.ctl("--json", "peers", "--stats")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    abi = landlock_abi()
    for actor in ("gossip", "discovery"):
        st = proc_status(int(rows[actor]["pid"]))
        assert st["NoNewPrivs"] == "1", (actor, st)
        assert st["Seccomp"] == "2", (actor, st)          # 2: filter mode
        assert stats[actor]["sandbox_seccomp"] == 1
        if abi:
            assert 1 <= stats[actor]["sandbox_landlock_abi"] <= min(abi, 3)
        else:
            assert stats[actor]["sandbox_landlock_abi"] == 0
    # The store and the capability actor are not network-facing and keep
    # their filesystem (the store writes store/ and blobs/).
    assert proc_status(int(rows["store"]["pid"]))["Seccomp"] == "0"


def test_discovery_cannot_read_the_secret_or_write_the_home(daemon):
    if not landlock_abi():
        pytest.skip("the kernel has no Landlock: nothing confines the filesystem")
    for sub in ("store", "blobs"):
        assert os.path.isdir(os.path.join(daemon.home, sub))
    secret = os.path.join(daemon.home, "identity", "node.cert_secret")
    assert os.path.isfile(secret)
    proc = subprocess.run([binary("irohds-discovery"), "--home", daemon.home, "--check-sandbox"],
                          capture_output=True, text=True, timeout=60,
                          env=irohds_test.test_env(daemon.home))
    print(proc.stdout)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    assert lines[-1] == "confined"
    refused = [l for l in lines if l.endswith(": Permission denied")]
    for what in ("read %s" % secret,
                 "create %s" % os.path.join(daemon.home, "store", "check-sandbox"),
                 "create %s" % os.path.join(daemon.home, "identity", "check-sandbox"),
                 "list %s" % os.path.join(daemon.home, "blobs", "."),
                 "create %s" % os.path.join(daemon.home, "fetch", "check-sandbox"),
                 "list %s" % os.path.join(daemon.home, "ns", "."),
                 "create %s" % os.path.join(daemon.home, "ns", "check-sandbox")):
        assert any(l.startswith(what + ":") for l in refused), (what, lines)
    assert not os.path.exists(os.path.join(daemon.home, "store", "check-sandbox"))


def test_gossip_reads_blobs_writes_fetch_and_nothing_else(daemon):
    if not landlock_abi():
        pytest.skip("the kernel has no Landlock: nothing confines the filesystem")
    # A blob file, as the store keeps one (made here: any regular file will
    # do for the sandbox; the store's own are covered by the cluster tests).
    blob_dir = os.path.join(daemon.home, "blobs", "ab")
    os.makedirs(blob_dir, mode=0o700, exist_ok=True)
    blob = os.path.join(blob_dir, "ab" + "0" * 62)
    with open(blob, "wb") as f:
        f.write(b"content")
    try:
        proc = subprocess.run([binary("irohds-gossip"), "--home", daemon.home,
                               "--check-sandbox"], capture_output=True, text=True, timeout=60,
                              env=irohds_test.test_env(daemon.home))
        print(proc.stdout, proc.stderr)
        lines = proc.stdout.splitlines()
        assert proc.returncode == 0 and lines[-1] == "confined", (proc.stdout, proc.stderr)
        def outcome(what):
            line = next(l for l in lines if l.startswith(what + ":"))
            return line.split(": ", 1)[1]
        assert outcome("read %s" % blob) == "ALLOWED"
        assert outcome("list %s" % os.path.join(daemon.home, "blobs")) == "ALLOWED"
        assert outcome("create %s" % os.path.join(daemon.home, "fetch", "check-sandbox")) \
            == "ALLOWED"
        assert outcome("list %s" % os.path.join(daemon.home, "ns")) == "ALLOWED"
        for what in ("write %s" % blob,
                     "create %s" % os.path.join(daemon.home, "blobs", "check-sandbox"),
                     "create %s" % os.path.join(daemon.home, "store", "check-sandbox"),
                     "read %s" % os.path.join(daemon.home, "store", "data.mdb"),
                     "create %s" % os.path.join(daemon.home, "ns", "check-sandbox"),
                     "create %s" % os.path.join(daemon.home, "check-sandbox")):
            assert outcome(what) == "Permission denied", what
        with open(blob, "rb") as f:
            assert f.read() == b"content"
        assert not os.path.exists(os.path.join(daemon.home, "fetch", "check-sandbox"))
    finally:
        os.unlink(blob)


def test_discovery_never_opens_the_secret_key():
    """Discovery needs only the public node.cert: with the secret keys
    gone it still starts (and never makes new ones, which the old
    load-or-create of the whole identity did)."""
    home = irohds_test.make_home()
    try:
        _check_public_only(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _check_public_only(home):
    proc = subprocess.run([binary("irohds-ctl"), "--home", home, "--json", "info"],
                          capture_output=True, text=True, timeout=60,
                          env=irohds_test.test_env(home))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["node_id"]
    identity = os.path.join(home, "identity")
    with open(os.path.join(identity, "node.cert")) as f:
        public = f.read()
    for name in ("node.cert_secret", "sign.key"):
        os.unlink(os.path.join(identity, name))
    proc = subprocess.run([binary("irohds-discovery"), "--home", home, "--check-sandbox", "-v"],
                          capture_output=True, text=True, timeout=60,
                          env=irohds_test.test_env(home))
    print(proc.stdout, proc.stderr)
    assert proc.stdout.startswith("sandbox "), (proc.stdout, proc.stderr)
    assert sorted(os.listdir(identity)) == ["node.cert"]
    with open(os.path.join(identity, "node.cert")) as f:
        assert f.read() == public           # untouched
