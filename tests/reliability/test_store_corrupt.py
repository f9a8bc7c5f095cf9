"""A damaged LMDB environment (issue 8 items 4, 6, 16): data.mdb cut
short, random bytes in pages 20-60, garbage meta pages, and a data.mdb
cut short under a running store. Each time the store must set the
environment aside as store.corrupt-<time>/, start empty, keep serving
(never marked failed), and show it in stats (store_reset) and info
(reset_reason).
"""
import glob
import os
import time

import pytest

from faults import (PAGE, Daemon, corrupt_pages, get, key_of, put, status, store_info,
                    store_stats, wait_for)

ENTRIES = 1500


def filled_home():
    """A home whose store holds ENTRIES small results (hundreds of pages
    of manifests and inline blobs), stopped cleanly."""
    d = Daemon()
    try:
        d.start()
        c = d.client()
        try:
            for i in range(ENTRIES):
                st, frames = put(c, key_of("k%d" % i), b"value %d " % i * 8, fn="rel.f%d" % (i % 7))
                assert st == "OK", frames
        finally:
            c.close()
        d.stop()
    except BaseException:
        d.cleanup()
        raise
    return d


def data_mdb(d):
    return os.path.join(d.home, "store", "data.mdb")


def check_reset(d, reason_part):
    """Start d; the store must be up at once with an empty, working
    environment and the damage recorded."""
    d.proc = None
    d.start(timeout=20.0)
    c = d.client()
    try:
        stats = store_stats(c)
        assert stats["store_reset"] == 1, (stats, d.read_log())
        assert stats["entries"] == 0
        reason = store_info(c)["reset_reason"]
        assert reason_part in reason, reason
        aside = glob.glob(os.path.join(d.home, "store.corrupt-*"))
        assert len(aside) == 1 and os.path.exists(os.path.join(aside[0], "data.mdb"))
        assert reason.endswith("(moved to %s)" % aside[0])
        # Works: put and get, and the store was never restarted.
        st, frames = put(c, key_of("after"), b"fresh")
        assert st == "OK", frames
        assert get(c, key_of("after")) == ("hit", b"fresh")
        row = status(c)["store"]
        assert row["state"] == "running" and row["restarts"] == 0, row
        log = d.read_log()
        assert log.count("is damaged") == 1, log
    finally:
        c.close()


@pytest.fixture
def home():
    d = filled_home()
    try:
        yield d
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def test_truncated_data_mdb(home):
    path = data_mdb(home)
    size = os.path.getsize(path)
    assert size > 100 * PAGE
    os.truncate(path, size // 2)
    check_reset(home, "truncated")


def test_random_bytes_in_pages_20_to_60(home):
    corrupt_pages(data_mdb(home), 20, 60)
    check_reset(home, "")


def test_garbage_meta_pages(home):
    corrupt_pages(data_mdb(home), 0, 1, seed=7)
    check_reset(home, "cannot open")


def test_cut_short_while_serving(home):
    """data.mdb truncated under a running store: the reads that fault kill
    it (SIGBUS), and the restarted store sets the environment aside
    instead of faulting again and again until it is marked failed."""
    home.proc = None
    home.start()
    c = home.client()
    try:
        os.truncate(data_mdb(home), 2 * PAGE)
        for i in range(0, ENTRIES, 50):
            try:
                get(c, key_of("k%d" % i), timeout=2.0)
            except TimeoutError:
                pass

        def reset_done():
            try:
                return store_stats(c).get("store_reset") == 1
            except (AssertionError, TimeoutError):
                return False
        wait_for(reset_done, 30.0, 0.3, "the store to come back on a fresh environment")
        row = status(c)["store"]
        assert row["state"] == "running", row
        st, frames = put(c, key_of("after"), b"fresh")
        assert st == "OK", frames
        assert get(c, key_of("after")) == ("hit", b"fresh")
    finally:
        c.close()


def test_suspect_marker_is_acted_on(home):
    """The store notes an LMDB assertion or a fault in <store>/suspect; the
    next start sets that environment aside."""
    with open(os.path.join(home.home, "store", "suspect"), "w") as f:
        f.write("LMDB assertion failed: test")
    check_reset(home, "LMDB assertion failed: test")


def test_repeated_deaths_while_opening(home):
    """A store that died three times in a row while opening (the opening
    marker says so) gives up on that environment."""
    with open(os.path.join(home.home, "store", "opening"), "w") as f:
        f.write("3\n")
    check_reset(home, "died 3 times")


def test_healthy_environment_kept(home):
    home.proc = None
    home.start()
    c = home.client()
    try:
        stats = store_stats(c)
        assert stats["store_reset"] == 0 and stats["entries"] == ENTRIES
        assert not glob.glob(os.path.join(home.home, "store.corrupt-*"))
        assert not os.path.exists(os.path.join(home.home, "store", "opening"))
    finally:
        c.close()
