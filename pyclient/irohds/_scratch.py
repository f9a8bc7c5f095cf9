"""Files of a memoized call: FileRef results, the call's scratch directory
(irohds.resolve) and staging (<home>/run/staging, where the client writes
what the store then moves into blobs/; proto/store-layout.md).
"""
import contextvars
import itertools
import os
import shutil
import uuid

from . import _config


class FileRef:
    """A result that is a file. Inside a memoized call, write the file at
    irohds.resolve(name) and return FileRef(that path) (or FileRef(name));
    the file is ingested into the store and every later call gets a
    FileRef whose .path is the stored, read-only file."""

    __slots__ = ("path",)

    def __init__(self, path):
        path = os.fspath(path)
        scratch = _current.get()
        if scratch is not None and scratch.path and not os.path.isabs(path):
            path = os.path.join(scratch.path, path)
        self.path = os.path.abspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return "irohds.FileRef(%r)" % self.path

    def __eq__(self, other):
        return isinstance(other, FileRef) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def read_bytes(self):
        with open(self.path, "rb") as f:
            return f.read()


class Scratch:
    """The running call's scratch directory, made on first resolve()."""

    __slots__ = ("path",)

    def __init__(self):
        self.path = None

    def get(self):
        if self.path is None:
            self.path = new_scratch()
        return self.path

    def remove(self):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def owns(self, path):
        """True when path is inside this call's scratch directory."""
        return self.path is not None and os.path.abspath(path).startswith(self.path + os.sep)


_current = contextvars.ContextVar("irohds_scratch", default=None)


def enter(scratch):
    return _current.set(scratch)


def leave(token):
    _current.reset(token)


def resolve(name):
    """A scratch path for `name` private to the running memoized call."""
    scratch = _current.get()
    if scratch is None:
        raise RuntimeError("irohds.resolve(%r) must be called inside an "
                           "@irohds.memo function" % (name,))
    name = os.fspath(name)
    if os.path.isabs(name) or ".." in name.split(os.sep):
        raise ValueError("irohds.resolve: %r must be a relative name" % (name,))
    path = os.path.join(scratch.get(), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


# ---------------------------------------------------------------- staging

_seq = itertools.count()


def staging_dir():
    h = _config.home()
    d = os.path.join(h, "run", "staging")
    if not os.path.isdir(d):
        for sub in (h, os.path.join(h, "run"), d):
            try:
                os.mkdir(sub, 0o700)
            except FileExistsError:
                pass
    return d


def staging_name(kind):
    """A fresh path under staging: <kind>-<pid>-<seq>-<random>."""
    return os.path.join(staging_dir(), "%s-%d-%d-%s" % (kind, os.getpid(), next(_seq),
                                                        uuid.uuid4().hex[:8]))


def new_scratch():
    d = staging_name("call")
    os.mkdir(d, 0o700)
    return d


def stage_encoded(enc):
    """Write an encoded result to a fresh staging file; its path."""
    path = staging_name("put")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        enc.write_fd(fd)
    except BaseException:
        os.close(fd)
        unlink(path)
        raise
    os.close(fd)
    return path


def stage_file(src):
    """Put a FileRef's file under staging (rename when it is already in
    our scratch, else hard link or copy); returns the staged path."""
    if not os.path.isfile(src):
        return None
    dst = staging_name("file")
    try:
        if os.path.abspath(src).startswith(os.path.dirname(dst) + os.sep):
            os.rename(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    except OSError:
        return None
    return dst


def unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
