#!/usr/bin/env bash
# scripts/pip_smoke.sh: install the Python client the way a user does and
# check that it memoizes across processes.
#
#   scripts/pip_smoke.sh            (after scripts/setup.sh build)
#
# Copies the sources pyclient/setup.py reads (pyclient, common, proto,
# docs) to a temp dir, so the user's checkout gets no build litter, makes a
# venv with --system-site-packages there (Debian's python3 is externally
# managed; pyzmq, lmdb and numpy come from Debian), runs
#   pip install --no-build-isolation --no-index ./pyclient
# in it, starts irohds-daemon from the build tree in a temp home, and calls
# one memoized function from two fresh venv processes: the first computes,
# the second must get the stored result without computing. The daemon is
# stopped (by pid) and the temp dir removed on exit, also on failure.
# Environment: IROHDS_BUILD (default <repo>/build), PYTHON (default
# /usr/bin/python3). Needs python3-venv, python3-pip, python3-setuptools,
# python3-wheel and the build packages of scripts/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${IROHDS_BUILD:-$ROOT/build}"
PYTHON="${PYTHON:-/usr/bin/python3}"
DAEMON="$BUILD/bin/irohds-daemon"
CTL="$BUILD/bin/irohds-ctl"

say () { printf '[pip-smoke] %s\n' "$*"; }
die () { printf '[pip-smoke] FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$DAEMON" ] && [ -x "$CTL" ] || die "no daemon in $BUILD/bin: run scripts/setup.sh build first"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/irohds-pip-smoke.XXXXXX")"
DAEMON_PID=""
cleanup () {
    local rc=$?
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        # The supervisor stops its actors on SIGTERM; give it 10 s.
        local i
        for i in $(seq 100); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            say "daemon $DAEMON_PID ignored SIGTERM; killing it"
            kill -KILL "$DAEMON_PID" 2>/dev/null || true
        fi
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Nothing from the build tree or the caller's environment may stand in for
# the installed package; every daemon stays off the LAN; pip reads no
# config and asks no index.
unset PYTHONPATH PYTHONHOME IROHDS_LIB IROHDS_NATIVE IROHDS_TIMEOUT
export IROHDS_LAN=0
export IROHDS_HOME="$TMP/home"
export XDG_DATA_HOME="$TMP/xdg"
export IROHDS_DAEMON="$DAEMON"          # an auto-start would use this one
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "$IROHDS_HOME" "$XDG_DATA_HOME"

say "copying sources to $TMP/src"
mkdir -p "$TMP/src"
tar -C "$ROOT" -cf - --exclude=__pycache__ --exclude='*.egg-info' \
    --exclude=pyclient/build pyclient common proto docs | tar -C "$TMP/src" -xf -

say "venv (--system-site-packages) with $PYTHON"
"$PYTHON" -m venv --system-site-packages "$TMP/venv" \
    || die "cannot make a venv: apt-get install python3-venv"
VPY="$TMP/venv/bin/python"

say "pip install --no-build-isolation --no-index ./pyclient"
(cd "$TMP/src" && "$VPY" -m pip install -q --no-build-isolation --no-index ./pyclient) \
    || die "pip install failed"

# The package must come from the venv and carry its native parts: _b3,
# the codec, and libirohds for the config parser (a typo in config.toml
# must be reported, not silently replaced by "parser unavailable").
mkdir -p "$TMP/cfg"
printf '[store]\nmax_byte = 1\n' >"$TMP/cfg/config.toml"
(cd "$TMP" && "$VPY" - "$TMP/venv" "$TMP/cfg") <<'EOF' || die "the installed package is incomplete"
import os, sys
import irohds
from irohds import _b3, _config, _proto
venv = os.path.realpath(sys.argv[1])
errors = _config.Config(sys.argv[2]).errors
assert any("max_byte" in e for e in errors), "config typo not reported: %r" % errors
for mod in (irohds, _b3, _proto):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(venv + os.sep), "%s loaded from %s, not the venv" % (mod.__name__, path)
assert _b3.blake3(b"abc").hex() == \
    "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", "wrong BLAKE3"
print("[pip-smoke] installed:", os.path.dirname(irohds.__file__))
EOF

say "daemon from $BUILD in $IROHDS_HOME"
"$DAEMON" --home "$IROHDS_HOME" >"$TMP/daemon.out" 2>&1 &
DAEMON_PID=$!
ready=0
for _ in $(seq 100); do
    if "$CTL" --home "$IROHDS_HOME" --timeout 500 ping store >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
[ "$ready" = 1 ] || { cat "$TMP/daemon.out" >&2; die "the daemon did not answer"; }

# One script, run as two fresh processes: the function's identity (source,
# arguments) is the same in both, so the second must hit.
cat >"$TMP/smoke.py" <<'EOF'
import sys
import irohds

LOG = sys.argv[1]


@irohds.memo(min_seconds=0)
def slow_square(x, tag="smoke"):
    with open(LOG, "a") as f:
        f.write("computed %d\n" % x)
    return {"x": x, "square": x * x, "tag": tag}


print(slow_square(12, tag="pip"))
EOF
run_smoke () { (cd "$TMP" && "$VPY" "$TMP/smoke.py" "$TMP/computed.log"); }
first="$(run_smoke)" || die "first process failed"
second="$(run_smoke)" || die "second process failed"
expected="{'x': 12, 'square': 144, 'tag': 'pip'}"
[ "$first" = "$expected" ] || die "first process returned '$first', expected '$expected'"
[ "$second" = "$expected" ] || die "second process returned '$second', expected '$expected'"
computed="$(wc -l <"$TMP/computed.log")"
[ "$computed" -eq 1 ] || die "computed $computed times across two processes, expected once"
"$CTL" --home "$IROHDS_HOME" ls | grep -q "__main__.slow_square" \
    || die "irohds-ctl ls does not show the stored result"
say "ok: computed once, second process got the stored result"
