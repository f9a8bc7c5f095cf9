"""`cmake --install build --prefix ~/.local`: a user without root gets the
daemon binaries and a client that imports from the user site, starts the
daemon on first use and memoizes across processes, with results under
~/.local/share/irohds. HOME is a temp dir; nothing is installed outside it.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test  # noqa: E402

SCRIPT = r'''
import os, sys
import irohds

@irohds.memo(min_seconds=0)
def cube(x):
    with open(sys.argv[1], "a") as f:
        f.write("computed\n")
    return x ** 3

print(cube(5), os.path.dirname(irohds.__file__))
'''


@pytest.fixture
def user_home():
    """A temp HOME with the build installed into HOME/.local; the daemon the
    client starts there is stopped by the pid it writes, also on failure."""
    home = tempfile.mkdtemp(prefix="irh-inst-", dir="/tmp")
    try:
        prefix = os.path.join(home, ".local")
        proc = subprocess.run(["cmake", "--install", irohds_test.BUILD, "--prefix", prefix],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield home
    finally:
        _stop_daemon(os.path.join(home, ".local", "share", "irohds", "run",
                                  "irohds-daemon.pid"))
        shutil.rmtree(home, ignore_errors=True)


def _stop_daemon(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _user_env(home, path):
    """What a login shell of that user has: HOME, a PATH, nothing pointing
    at the build tree; the sanitizer runtime of an ASan build stays."""
    env = {"HOME": home, "PATH": path, "IROHDS_LAN": "0", "LANG": "C.UTF-8"}
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _run_twice(home, env):
    script = os.path.join(home, "cube.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    log = os.path.join(home, "computed.log")
    outs = []
    for _ in range(2):
        proc = subprocess.run(["/usr/bin/python3", script, log], env=env, cwd=home, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outs.append(proc.stdout.split())
    with open(log) as f:
        computed = f.read().count("computed")
    return outs, computed


def _check(home, env):
    outs, computed = _run_twice(home, env)
    site = os.path.join(home, ".local", "lib", "python%d.%d" % sys.version_info[:2],
                        "site-packages", "irohds")
    for value, pkg in outs:
        assert value == "125"
        assert os.path.realpath(pkg) == os.path.realpath(site)
    assert computed == 1, "computed %d times across two processes" % computed
    store = os.path.join(home, ".local", "share", "irohds")
    assert os.path.isdir(os.path.join(store, "store")), os.listdir(home)
    ctl = os.path.join(home, ".local", "bin", "irohds-ctl")
    down = subprocess.run([ctl, "down"], env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 0, down.stdout + down.stderr


# Installed binaries carry RUNPATH $ORIGIN/../lib (CMAKE_INSTALL_RPATH in
# the top-level CMakeLists.txt), so they load libirohds under any prefix.
def test_user_install_with_local_bin_on_path(user_home):
    """Debian's ~/.profile puts ~/.local/bin on PATH (once it exists)."""
    env = _user_env(user_home, os.path.join(user_home, ".local", "bin") + ":/usr/bin:/bin")
    _check(user_home, env)


# The client looks for irohds-daemon in $IROHDS_DAEMON, <package>/../../bin
# (the build tree), <package>/../../../../bin (an install's <prefix>/bin,
# above <prefix>/lib/python3.X/site-packages/irohds) and PATH.
def test_user_install_finds_daemon_without_path(user_home):
    """A session started before ~/.local/bin existed (or cron) lacks it on
    PATH: the client must still find the daemon installed next to it."""
    env = _user_env(user_home, "/usr/bin:/bin")
    _check(user_home, env)


def test_user_install_layout(user_home):
    """Binaries in ~/.local/bin, the package in the user site that python3
    imports from, with its native parts."""
    local = os.path.join(user_home, ".local")
    for name in ("irohds-daemon", "irohds-store", "irohds-capability", "irohds-ctl"):
        assert os.access(os.path.join(local, "bin", name), os.X_OK), name
    env = _user_env(user_home, "/usr/bin:/bin")
    proc = subprocess.run(["/usr/bin/python3", "-c",
                           "import irohds, irohds._b3, irohds._proto; print(irohds.__file__)"],
                          env=env, cwd=user_home, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(
        os.path.join(local, "lib", "python%d.%d" % sys.version_info[:2], "site-packages") + "/")
