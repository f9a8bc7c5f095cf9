"""Shared fixtures for the Python client tests: run memo_worker.py in fresh
processes against a home, count executions, start/stop real daemons."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

import irohds_test  # noqa: E402

WORKER = os.path.join(HERE, "memo_worker.py")
PYTHON = "/usr/bin/python3"


def pin_home(monkeypatch, home):
    """Point this pytest process's client at `home` for one test, LAN off,
    and make its one daemon start attempt fail, so nothing can start a
    daemon on a default home (tests/support/check_sandbox.py would catch it)."""
    monkeypatch.setenv("IROHDS_HOME", home)
    monkeypatch.setenv("IROHDS_LAN", "0")
    monkeypatch.setenv("IROHDS_DAEMON", "/bin/false")


def worker_env(home, count_file, **extra):
    env = irohds_test.test_env(home, IRH_COUNT=count_file, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH", ""))
                                        if p)
    return env


def start_worker(home, count_file, fn, *args, **extra_env):
    return subprocess.Popen([PYTHON, WORKER, fn, json.dumps(list(args))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=worker_env(home, count_file, **extra_env))


def finish_worker(proc, timeout=120):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, "worker failed (%s):\n%s\n%s" % (proc.returncode, out, err)
    return json.loads(out.strip().splitlines()[-1])


def run_worker(home, count_file, fn, *args, **extra_env):
    return finish_worker(start_worker(home, count_file, fn, *args, **extra_env))


def count(count_file, prefix=""):
    try:
        with open(count_file) as f:
            return sum(1 for line in f if line.startswith(prefix))
    except FileNotFoundError:
        return 0
