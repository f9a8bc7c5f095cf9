#!/usr/bin/python3
"""Run by ctest after every Python test: fails if a daemon was left
running in the sandbox home that tests without IROHDS_HOME fall back to
(XDG_DATA_HOME=<build>/test-xdg), and stops it by the pid in its pidfile
after checking that the pid really is that home's irohds-daemon.

usage: check_sandbox.py HOME
"""
import os
import signal
import sys
import time


def main():
    home = sys.argv[1]
    pidfile = os.path.join(home, "run", "irohds-daemon.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        print("sandbox clean: no daemon pidfile under %s" % home)
        return 0
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().split(b"\0")
    except OSError:
        print("sandbox clean: stale pidfile %s (pid %d gone)" % (pidfile, pid))
        return 0
    if not any(a.endswith(b"irohds-daemon") for a in cmdline) or \
            home.encode() not in b" ".join(cmdline):
        print("sandbox: pid %d is not this home's daemon; left alone" % pid)
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.1)
    print("FAIL: a test left irohds-daemon (pid %d) running in the fallback home %s; "
          "it was stopped. Some test ran without IROHDS_HOME." % (pid, home))
    return 1


if __name__ == "__main__":
    sys.exit(main())
