"""The pip route a Python user takes: scripts/pip_smoke.sh builds a venv
(--system-site-packages), runs `pip install --no-build-isolation
--no-index ./pyclient` from a copy of the sources, and checks that a
memoized call computed in one fresh process is a hit in the next, against
the build tree's daemon. The script cleans up after itself (daemon by pid,
temp dir), also on failure."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
import irohds_test  # noqa: E402


def test_pip_install_memoizes_across_processes():
    env = dict(os.environ)
    # pip compiles with the system compiler and loads what it built: an
    # ASan build's preloaded runtime has no business in either.
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONPATH"):
        env.pop(name, None)
    env["IROHDS_BUILD"] = irohds_test.BUILD
    env["IROHDS_LAN"] = "0"
    script = os.path.join(irohds_test.SOURCE, "scripts", "pip_smoke.sh")
    proc = subprocess.run(["bash", script], env=env, capture_output=True, text=True,
                          timeout=540)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "ok: computed once" in out, out
