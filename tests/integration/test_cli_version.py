"""--version and --help on every installed binary: on stdout, exit 0, no
home touched; an unknown option exits 2 with the usage and a hint on
stderr."""
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import SOURCE, binary  # noqa: E402

BINARIES = ["irohds-ctl", "irohds-daemon", "irohds-store", "irohds-capability"]


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(irohds VERSION ([0-9.]+)", f.read()).group(1)


def run(name, *args, tmp_path):
    # A home that must stay untouched: asking for help creates nothing.
    env = dict(os.environ, IROHDS_HOME=str(tmp_path / "home"), IROHDS_LAN="0")
    return subprocess.run([binary(name)] + list(args), capture_output=True, text=True,
                          timeout=10, env=env)


@pytest.mark.parametrize("name", BINARIES)
def test_version(name, tmp_path):
    r = run(name, "--version", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s %s\n" % (name, project_version())
    assert r.stderr == ""
    assert not os.path.exists(tmp_path / "home")


@pytest.mark.parametrize("name", BINARIES)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(name, flag, tmp_path):
    r = run(name, flag, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: %s " % name), r.stdout
    assert "--version" in r.stdout and "--home" in r.stdout
    assert r.stderr == ""
    assert not os.path.exists(tmp_path / "home")


@pytest.mark.parametrize("name", BINARIES)
def test_unknown_option(name, tmp_path):
    r = run(name, "--no-such-option", tmp_path=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert "'--no-such-option'" in r.stderr
    assert "usage: %s " % name in r.stderr
    assert "'%s --help'" % name in r.stderr
    assert not os.path.exists(tmp_path / "home")
