"""How this format-1 store was made (tests/integration/test_store_migrate.py
opens it): the irohds-store of the last format-1 commit, run standalone in
a temp home through the harness of tests/integration/test_store.py, given
three puts; then the environment compacted with mdb_copy -c and the blob
files copied. Run with IROHDS_BUILD and PYTHONPATH of a format-1 build:

    IROHDS_BUILD=B IROHDS_SOURCE=S PYTHONPATH=B/python python3 make_fixture.py OUT
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from test_store import Standalone  # noqa: E402

home = Standalone().start()
c = home.client()


def put(key, data, fn, origin=bytes(32), flags=0, ns=""):
    r = c.call("store", "put", extra=[data], key=key, src=0, codec="raw", fn=fn, ns=ns,
               flops=1000, wall_us=123456, origin=origin, flags=flags)
    assert r[0] == "OK", r


put(bytes([1]) * 32, b"small inline result", "fixture.small")
put(bytes([2]) * 32, bytes(range(256)) * 400, "fixture.big", ns="team")     # 100 KiB: a file
put(bytes([3]) * 32, b"from a peer, before signing", "fixture.peer", origin=bytes([0xab]) * 32)
c.close()
home.stop()
out = sys.argv[1]
os.makedirs(out + "/store", exist_ok=True)
subprocess.check_call(["mdb_copy", "-c", home.home + "/store", out + "/store"])
shutil.copytree(home.home + "/blobs", out + "/blobs", dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("tmp"))
shutil.rmtree(home.home)
