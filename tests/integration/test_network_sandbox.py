"""The network actor gossip (discovery not yet) runs under the Landlock+seccomp
policy of common/irh_sandbox.c in a real daemon: no_new_privs and a
seccomp filter in /proc, Landlock in force where the kernel has it, and
both shown in their stats (docs/security.md). The policy's own effects
(no write to store/ or identity/, discovery cannot read the secret key)
are proved in tests/c/test_sandbox.c."""
import ctypes
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, serve  # noqa: E402

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
    for actor in ("gossip",):       # discovery: not yet (discovery_main.c)
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
