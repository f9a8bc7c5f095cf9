"""Hostile staging entries for a put by path (issue 8 items 1, 8, 16):
hard links, FIFOs, directories, files of another user; and a stored blob
that is still linked to a user's file. Each must be refused (counted in
bad_paths, the store keeps serving, the user's file keeps its mode) or,
for the blob, never be deduplicated against.
"""
import os
import stat
import time

from faults import broker_stats, get, key_of, put, put_path, status, store_stats


def staging(d):
    return os.path.join(d.home, "run", "staging")


def refused(c, path):
    before = store_stats(c)["bad_paths"]
    st, frames = put_path(c, key_of(path), path)
    assert st == "ERR" and frames[0] == b"bad-request", (st, frames)
    assert store_stats(c)["bad_paths"] == before + 1
    return frames[1].decode()


def test_hard_link_refused_and_user_file_untouched(daemon):
    c = daemon.client()
    try:
        user = os.path.join(daemon.home, "report.txt")
        with open(user, "w") as f:
            f.write("jan")
        os.chmod(user, 0o600)
        link = os.path.join(staging(daemon), "link")
        os.link(user, link)
        text = refused(c, link)
        assert "link" in text
        # The user's file is as it was: writable, private, same content.
        st = os.stat(user)
        assert stat.S_IMODE(st.st_mode) == 0o600
        with open(user, "a") as f:
            f.write("-more")
        # Nothing under blobs/ shares the user's inode.
        for root, _, files in os.walk(os.path.join(daemon.home, "blobs")):
            for name in files:
                assert os.stat(os.path.join(root, name)).st_ino != st.st_ino
    finally:
        c.close()


def test_fifo_refused_without_blocking(daemon):
    c = daemon.client()
    try:
        fifo = os.path.join(staging(daemon), "fifo")
        os.mkfifo(fifo)
        pid = status(c)["store"]["pid"]
        for _ in range(6):
            started = time.monotonic()
            assert "FIFO" in refused(c, fifo)
            assert time.monotonic() - started < 3.0
        # Same process, never killed for missing heartbeats.
        row = status(c)["store"]
        assert row["pid"] == pid and row["state"] == "running" and row["restarts"] == 0
    finally:
        c.close()


def test_directory_symlink_and_foreign_owner_refused(daemon):
    c = daemon.client()
    try:
        d = os.path.join(staging(daemon), "adir")
        os.mkdir(d)
        refused(c, d)
        outside = os.path.join(daemon.home, "outside.txt")
        with open(outside, "w") as f:
            f.write("secret")
        sl = os.path.join(staging(daemon), "sl")
        os.symlink(outside, sl)
        refused(c, sl)
        if os.geteuid() == 0:
            foreign = os.path.join(staging(daemon), "foreign")
            with open(foreign, "w") as f:
                f.write("theirs")
            os.chown(foreign, 65534, 65534)
            assert "another user" in refused(c, foreign)
            assert os.stat(foreign).st_uid == 65534
            assert stat.S_IMODE(os.stat(foreign).st_mode) != 0o444
        # A proper single-link file of ours is taken.
        good = os.path.join(staging(daemon), "good")
        with open(good, "wb") as f:
            f.write(os.urandom(200000))
        st, frames = put_path(c, key_of("good"), good)
        assert st == "OK", frames
        assert not os.path.exists(good)
        # The first refusal of the kind is in the log, with its counter.
        assert "refused (bad_paths" in daemon.read_log()
    finally:
        c.close()


def test_no_dedup_against_a_blob_linked_elsewhere(daemon):
    """A blob file that has a second link (left by an older store, or made
    by someone) can change under the store: a put of the same content
    must install a fresh copy rather than count on it."""
    c = daemon.client()
    try:
        content = os.urandom(100000)
        st, frames = put(c, key_of("a"), content)
        assert st == "OK", frames
        blobs = []
        for root, _, files in os.walk(os.path.join(daemon.home, "blobs")):
            blobs += [os.path.join(root, n) for n in files if len(n) == 64]
        assert len(blobs) == 1
        outside = os.path.join(daemon.home, "user-copy")
        os.link(blobs[0], outside)
        st, frames = put(c, key_of("b"), content)
        assert st == "OK", frames
        assert os.stat(blobs[0]).st_ino != os.stat(outside).st_ino
        assert os.stat(blobs[0]).st_nlink == 1
        # Changing the user's file now changes nothing stored.
        os.chmod(outside, 0o600)
        with open(outside, "r+b") as f:
            f.write(b"X" * 10)
        assert get(c, key_of("a")) == ("hit", content)
        assert get(c, key_of("b")) == ("hit", content)
        assert broker_stats(c)["actor_down"] == 0
    finally:
        c.close()
