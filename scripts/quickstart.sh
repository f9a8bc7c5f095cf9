#!/usr/bin/env bash
# Quick start for a fresh Debian 12 machine (as root): install what is
# missing, build, start the daemon and run a short demo of memoization
# across processes, then two nodes in network namespaces of their own
# finding each other, and a result computed on one returned on the other
# without recomputing (scripts/demo_peers.py). LAN discovery stays off for daemons started here
# (IROHDS_LAN=0): this machine's interface must never see a beacon unless
# you ask for it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh deps
scripts/setup.sh build
export IROHDS_LAN=0
export PATH="$PWD/build/bin:$PATH"
export PYTHONPATH="$PWD/build/python${PYTHONPATH:+:$PYTHONPATH}"
irohds-ctl up
irohds-ctl status
/usr/bin/python3 scripts/demo.py
irohds-ctl ls
echo
/usr/bin/python3 scripts/demo_peers.py
echo
echo "The daemon keeps running; see: build/bin/irohds-ctl info"
echo "Stop it with:             build/bin/irohds-ctl down"
