"""Man pages: `cmake --install` puts one page per binary under share/man,
each renders without a single groff or man warning, carries the project's
version, and documents every option the binary's --help lists (and, for
irohds-ctl, every command)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import BUILD, SOURCE, binary  # noqa: E402

PAGES = {"irohds-ctl": "man1/irohds-ctl.1", "irohds-daemon": "man8/irohds-daemon.8",
         "irohds-store": "man8/irohds-store.8", "irohds-capability": "man8/irohds-capability.8",
         "irohds-gossip": "man8/irohds-gossip.8", "irohds-discovery": "man8/irohds-discovery.8"}


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(irohds VERSION ([0-9.]+)", f.read()).group(1)


@pytest.fixture(scope="module")
def prefix():
    path = tempfile.mkdtemp(prefix="irh-install-")
    try:
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", path],
                           capture_output=True, text=True, timeout=300, env=tool_env())
        assert r.returncode == 0, r.stdout + r.stderr
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def tool_env(**extra):
    """Environment for system tools: without the ASan runtime a sanitized
    build's tests preload (groff would report its own allocations)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    env.update(extra)
    return env


def tool(name):
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is missing: scripts/setup.sh must install groff-base and man-db" % name)
    return path


def render(page):
    """Rendered text of a page via man -l, after checking that groff and
    man both render it without warnings."""
    r = subprocess.run([tool("groff"), "-man", "-Tutf8", "-ww", "-z", page],
                       capture_output=True, text=True, timeout=60, env=tool_env())
    assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
    env = tool_env(MANWIDTH="100", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    r = subprocess.run([tool("man"), "--warnings", "-l", page], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
    # man may still mark hyphenation or bold with backspaces: plain text.
    return re.sub(r".\x08", "", r.stdout)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_installed_page_renders_and_covers_help(prefix, name):
    page = os.path.join(prefix, "share", "man", PAGES[name])
    assert os.path.isfile(page), sorted(os.listdir(os.path.dirname(page)))
    text = render(page)
    assert text.startswith(name.upper()), text[:200]
    assert "irohds %s" % project_version() in text
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SEE ALSO"):
        assert "\n%s\n" % section in text, (name, section)

    # Everything --help offers is in the page.
    help_text = subprocess.run([binary(name), "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", help_text))
    assert "--version" in options and "--help" in options
    flat = " ".join(text.split())
    missing = [o for o in sorted(options) if o not in flat]
    assert not missing, (name, missing)
    if name == "irohds-ctl":
        commands = re.findall(r"^  ([a-z]+) ", help_text.split("commands:")[1].split(
            "options:")[0], re.M)
        assert len(commands) >= 10
        for command in commands:
            assert re.search(r"\n {7}%s\b" % command, text), command


def test_source_pages_are_the_installed_ones(prefix):
    # Nothing installs a page that is not in docs/man, and every page there
    # is installed.
    sources = sorted(n for n in os.listdir(os.path.join(SOURCE, "docs", "man"))
                     if re.search(r"\.[18]$", n))
    installed = sorted(os.path.basename(p) for p in PAGES.values())
    assert sources == installed
