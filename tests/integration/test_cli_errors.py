"""irohds-ctl errors that help: what to do when the daemon is not running,
"did you mean" for mistyped commands and options, info without a daemon,
and config problems shown once by every command (they used to reach only
the daemon's log)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, binary, make_home, serve  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)

CTL = binary("irohds-ctl")
TYPO_CONFIG = "[discovery]\nlan = false\n[store]\nmax_byte = 1 GiB\n"


def run(home, *args, with_home=True, env=None):
    argv = [CTL] + (["--home", home] if with_home else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env=env or env_for(home))


@pytest.fixture
def home():
    path = make_home()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_not_running_says_how_to_start(home):
    # With the home from the environment, the plain command is the fix ...
    r = run(home, "status", with_home=False)
    assert r.returncode == 3 and r.stdout == ""
    assert r.stderr.rstrip("\n").endswith(
        "daemon not running (no socket at %s/run/broker.ipc) \u2014 start it with "
        "`irohds-ctl up`" % home), r.stderr
    # ... with --home, the fix names the same home.
    r = run(home, "--json", "ls")
    assert r.returncode == 3 and r.stdout == ""
    assert "start it with `irohds-ctl --home %s up`" % home in r.stderr
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, wanted", [
    (["stauts"], "unknown command 'stauts' (did you mean status?)"),
    (["lss"], "unknown command 'lss' (did you mean ls?)"),
    (["evcit", "f"], "unknown command 'evcit' (did you mean evict?)"),
    (["--jsno", "status"], "unknown option '--jsno' (did you mean --json?)"),
    (["ls", "--limt", "3"], "unknown option '--limt' for ls (did you mean --limit?)"),
    (["ls", "--lmit=3"], "unknown option '--lmit' for ls (did you mean --limit?)"),
    (["status", "--jsn"], "unknown option '--jsn' for status (did you mean --json?)"),
    (["evict", "--kye", "ab"], "unknown option '--kye' for evict (did you mean --key?)"),
    (["cap", "--remasure"], "(did you mean --remeasure?)"),
    (["frobnicate"], "unknown command 'frobnicate'\n"),
    (["ls", "--zzzzzz"], "unknown option '--zzzzzz' for ls\n"),
])
def test_did_you_mean(home, args, wanted):
    r = run(home, *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("irohds-ctl: "), r.stderr
    assert wanted in r.stderr, r.stderr
    assert "run 'irohds-ctl --help'" in r.stderr
    if "did you mean" not in wanted:
        assert "did you mean" not in r.stderr


def test_after_double_dash_nothing_is_an_option(home, tmp_path):
    odd = tmp_path / "--json"
    odd.write_bytes(b"abc")
    r = subprocess.run([CTL, "--home", home, "key", "--", "--json"], capture_output=True,
                       text=True, timeout=10, env=env_for(home), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("6437b3ac"), r.stdout


def test_info_without_a_daemon(home, tmp_path):
    r = run(home, "--json", "info")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    local = doc["local"]
    assert local["daemon_running"] is False and local["daemon_pid"] is None
    assert local["home"] == os.path.realpath(home) and local["home_exists"] is True
    assert local["config_exists"] is True and local["config_problems"] == 0
    assert local["endpoint"].endswith("/run/broker.ipc")
    assert local["store_file_bytes"] == 0
    assert doc["store"] is None
    text = run(home, "info")
    assert text.returncode == 0 and "daemon not running" in text.stdout
    assert "irohds-ctl --home %s up" % home in text.stdout

    # A home that does not exist: reported, never created.
    missing = str(tmp_path / "nohome")
    doc = json.loads(run(missing, "--json", "info", env=env_for(home)).stdout)
    assert doc["local"]["home_exists"] is False and doc["local"]["config_exists"] is False
    assert not os.path.exists(missing)


def problems_shown_once(result, home):
    line = "irohds-ctl: warning: config.toml:4: unknown key 'store.max_byte'"
    assert result.stderr.count(line) == 1, result.stderr


def test_config_problems_shown_once_by_every_command(home, tmp_path):
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write(TYPO_CONFIG)
    # Offline commands ...
    f = tmp_path / "abc"
    f.write_bytes(b"abc")
    r = run(home, "key", str(f))
    assert r.returncode == 0
    problems_shown_once(r, home)
    r = run(home, "--json", "info")
    assert r.returncode == 0 and json.loads(r.stdout)["local"]["config_problems"] == 1
    problems_shown_once(r, home)
    # ... commands that find no daemon ...
    for args in (["ls"], ["status"], ["gc"], ["evict", "x"]):
        r = run(home, *args)
        assert r.returncode == 3
        problems_shown_once(r, home)
    # ... and with one running: stdout stays the clean document.
    with Daemon(home=home) as daemon:
        for args in (["--json", "status"], ["--json", "ls"], ["--json", "stats"],
                     ["--json", "info"], ["ping"]):
            r = daemon.ctl(*args)
            assert r.returncode == 0, (args, r.stderr)
            problems_shown_once(r, home)
            if "--json" in args:
                json.loads(r.stdout)
    # Usage errors, --help and --version do not read the config.
    for args in (["--help"], ["--version"], ["nosuch"]):
        assert "config.toml" not in run(home, *args).stderr


def test_a_clean_config_prints_nothing(home):
    r = run(home, "--json", "info")
    assert r.returncode == 0 and r.stderr == ""


def test_a_config_that_is_a_fifo_never_blocks(home):
    path = os.path.join(home, "config.toml")
    os.unlink(path)
    os.mkfifo(path)
    for args in (["--json", "info"], ["status"]):
        r = run(home, *args)          # run() has a timeout: a hang fails
        assert "config.toml is not a regular file" in r.stderr, r.stderr
    r = run(home, "--json", "info")
    assert r.returncode == 0 and json.loads(r.stdout)["local"]["config_problems"] == 1
