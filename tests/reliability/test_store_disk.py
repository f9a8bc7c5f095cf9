"""gc on a home with symlinks in it, and the store on a full filesystem
(issue 8 items 13, 14, 16). The full filesystem is a small tmpfs mounted
by the test (root only) and always unmounted.
"""
import os
import shutil
import tempfile

import pytest

from faults import (Daemon, broker_stats, call_ok, fill, get, key_of, put, status,
                    store_stats, tmpfs)


def victim_dir():
    """A directory outside the home with files gc must never touch."""
    where = tempfile.mkdtemp(prefix="irh-victim-", dir="/tmp")
    for name in ("a" * 64, "precious.txt", "put-XXXXXX"):
        with open(os.path.join(where, name), "w") as f:
            f.write("keep me")
    return where


@pytest.mark.parametrize("link", ["blobs/ab", "blobs/tmp", "run/staging"])
def test_gc_never_follows_symlinks(daemon, link):
    victim = victim_dir()
    c = daemon.client()
    try:
        assert put(c, key_of("x"), os.urandom(100000))[0] == "OK"
        path = os.path.join(daemon.home, link)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.symlink(victim, path)
        old = os.path.join(victim, "old")
        with open(old, "w") as f:
            f.write("an hour old")
        os.utime(old, (1, 1))
        before = store_stats(c)["gc_refused"]
        call_ok(c, "store", "gc")
        assert sorted(os.listdir(victim)) == sorted(["a" * 64, "precious.txt", "put-XXXXXX",
                                                     "old"])
        assert store_stats(c)["gc_refused"] == before + 1
        assert os.path.islink(path)
        assert get(c, key_of("x"))[0] == "hit"
    finally:
        c.close()
        shutil.rmtree(victim)


def tmpfs_daemon(where):
    home = os.path.join(where, "home")
    os.mkdir(home, 0o700)
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write("[discovery]\nlan = false\n")
    d = Daemon(home=home)
    d.log = tempfile.mkstemp(prefix="irh-fs-log-", dir="/tmp")[1]     # off the full disk
    return d


def test_full_filesystem_evicts_and_keeps_working():
    with tmpfs("16m") as where:
        d = tmpfs_daemon(where)
        try:
            d.start()
            c = d.client()
            try:
                # 40 results of 1 MiB into 16 MiB: the store makes room by
                # evicting the least recently used on ENOSPC.
                for i in range(40):
                    st, frames = put(c, key_of("big%d" % i), os.urandom(1 << 20), fn="rel.big")
                    assert st == "OK", (i, frames, d.read_log())
                stats = store_stats(c)
                assert stats["no_space"] >= 1 and stats["evictions"] >= 1, stats
                assert get(c, key_of("big39"))[0] == "hit"
                # Now fill the disk from outside: deleting must still work.
                filler = fill(where)
                st, frames = c.call("store", "evict", fn="rel.big")
                assert st == "OK", (frames, d.read_log())
                from irohds import _proto
                assert _proto.decode(frames[0], "evicted")[1]["count"] >= 1
                st, frames = c.call("store", "gc")
                assert st == "OK", (frames, d.read_log())
                os.unlink(filler)
                assert put(c, key_of("after"), os.urandom(1 << 20))[0] == "OK"
                assert status(c)["store"]["restarts"] == 0
            finally:
                c.close()
        finally:
            try:
                d.stop()
            finally:
                d.cleanup()
                os.unlink(d.log)


def test_pidfile_failure_is_reported():
    with tmpfs("4m") as where:
        d = tmpfs_daemon(where)
        try:
            d.start()           # lays out the home
            d.stop()
            filler = fill(where)
            d.proc = None
            d.start()
            c = d.client()
            try:
                assert broker_stats(c)["pidfile_errors"] == 1
            finally:
                c.close()
            assert "cannot write pidfile" in d.read_log()
            assert not os.path.exists(os.path.join(d.home, "run", "irohds-daemon.pid"))
            os.unlink(filler)
        finally:
            try:
                d.stop()
            finally:
                d.cleanup()
                os.unlink(d.log)
