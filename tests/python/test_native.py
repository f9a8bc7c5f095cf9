"""irohds._native: the one BLAKE3 binding (the extension irohds._b3) hashes
every kind of buffer, stream and file as the C-order bytes, matches the
BLAKE3 test vectors, and a package without it refuses to import with a
clear message (there is no second, slower binding to drift)."""
import os
import subprocess
import tempfile
import threading

import numpy as np
import pytest

from irohds import _native

PY = "/usr/bin/python3"
# BLAKE3 test vector: the empty input and b"abc".
EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"


@pytest.fixture(scope="module")
def ext():
    from irohds import _b3
    return _b3


def test_extension_is_the_backend(ext):
    assert _native.BACKEND == "extension"
    assert _native.blake3 is ext.blake3 and _native.Hasher is ext.Hasher


def inputs():
    big = os.urandom(3 * 1024 * 1024 + 17)        # past the GIL-release size
    a = np.arange(2000, dtype=np.float64).reshape(40, 50)
    return [b"", b"abc", bytearray(b"abc"), memoryview(b"xabcx")[1:4], big,
            memoryview(big), a, a[:, ::3], a.T, np.asfortranarray(a),
            np.frombuffer(b"read-only!", dtype=np.uint8), memoryview(a).cast("B"),
            np.zeros((0, 3)), a[::2]]


def test_same_digests_as_the_c_order_bytes(ext):
    for data in inputs():
        # the bytes hashed are the C-order bytes, copy or not
        want = ext.blake3(memoryview(data).tobytes() if not isinstance(data, np.ndarray)
                          else data.tobytes(order="C"))
        assert ext.blake3(data) == want
        assert ext.Hasher(data).digest() == want
    assert ext.blake3(b"").hex() == EMPTY
    assert ext.blake3(b"abc").hex() == ABC


def test_many_and_hasher(ext):
    pieces = inputs()
    flat = b"".join(memoryview(p).tobytes() if not isinstance(p, np.ndarray)
                    else p.tobytes(order="C") for p in pieces)
    want = ext.blake3(flat)
    assert ext.blake3_many(pieces) == want == ext.blake3_many([flat])
    assert ext.blake3_many(tuple(pieces)) == want
    assert ext.blake3_many([]).hex() == EMPTY
    for mod in (ext,):
        h = mod.Hasher(pieces[0])
        for p in pieces[1:]:
            assert h.update(p) is h
        assert h.digest() == want
        assert h.hexdigest() == want.hex()      # digest() does not end the stream
        h.update(b"more")
        assert h.digest() == ext.blake3(flat + b"more")
        h.reset()
        assert h.digest().hex() == EMPTY
        h.close()
        with pytest.raises(ValueError):
            h.update(b"x")
        with pytest.raises(ValueError):
            h.digest()


def test_bad_input(ext):
    for mod in (ext,):
        with pytest.raises(TypeError, match="int"):
            mod.blake3(5)
        with pytest.raises(TypeError):
            mod.Hasher().update("text")
    with pytest.raises(TypeError):
        ext.blake3_many([b"a", 3])
    with pytest.raises(TypeError):
        ext.blake3_many(7)


def test_files(ext, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 5)
    p = tmp_path / "blob"
    p.write_bytes(data)
    want = (ext.blake3(data), len(data))
    assert ext.blake3_file_size(str(p)) == want
    assert ext.blake3_file_size(p) == want
    assert _native.blake3_file(os.fsencode(p)) == want[0]
    for mod in (ext,):
        with pytest.raises(FileNotFoundError):
            mod.blake3_file_size(str(tmp_path / "missing"))
        with pytest.raises(ValueError):
            mod.blake3_file_size("a\0b")


def test_threads_share_a_hasher_and_hash_concurrently(ext):
    # Large updates release the GIL; concurrent use must stay correct.
    chunk = os.urandom(1 << 20)
    results = []

    def work():
        for _ in range(8):
            results.append(ext.blake3(chunk))
            ext.blake3_many([chunk, chunk])
    shared = ext.Hasher()

    def feed():
        for _ in range(8):
            shared.update(chunk)
    threads = [threading.Thread(target=work) for _ in range(3)]
    threads += [threading.Thread(target=feed) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {ext.blake3(chunk)}
    assert shared.digest() == ext.blake3(chunk * 16)


def run_child(code, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([PY, "-c", code], env=e, capture_output=True, text=True,
                          check=True).stdout.split()


def test_one_binding_in_a_fresh_process():
    code = ("from irohds import _native, _keys\n"
            "print(_native.BACKEND, _native.blake3(b'abc').hex(),"
            " hasattr(_native, 'load_ctypes'))")
    assert run_child(code, IROHDS_NATIVE="ctypes") == ["extension", ABC, "False"]


def test_missing_extension_is_a_clear_import_error():
    # A copy of the package without the extension module cannot hash:
    # importing _native says what is missing instead of hashing slowly.
    src = os.path.dirname(_native.__file__)
    with tempfile.TemporaryDirectory(prefix="irh-native-") as d:
        pkg = os.path.join(d, "irohds")
        os.mkdir(pkg)
        for name in os.listdir(src):
            if name.startswith("_b3") or name == "__pycache__":
                continue
            path = os.path.join(src, name)
            os.symlink(path, os.path.join(pkg, name))
        e = dict(os.environ, PYTHONPATH=d)
        r = subprocess.run([PY, "-c", "import irohds._native"], env=e,
                           capture_output=True, text=True)
    assert r.returncode != 0
    assert "irohds._b3 is missing" in r.stderr
