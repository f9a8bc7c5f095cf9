"""Files of a memoized call: FileRef results, the call's scratch directory
(irohds.resolve) and staging (<home>/run/staging, where the client writes
what the store then moves into blobs/; proto/store-layout.md).
"""
import contextvars
import errno
import itertools
import os
import shutil
import stat
import uuid

from . import _config


class FileRef:
    """A result that is a file. Inside a memoized call, write the file at
    irohds.resolve(name) and return FileRef(that path) (or FileRef(name));
    the file is ingested into the store and every later call gets a
    FileRef whose .path is the stored, read-only file."""

    __slots__ = ("path",)

    def __init__(self, path: "str | os.PathLike[str]") -> None:
        path = os.fspath(path)
        scratch = _current.get()
        if scratch is not None and scratch.path and not os.path.isabs(path):
            path = os.path.join(scratch.path, path)
        self.path = os.path.abspath(path)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return "irohds.FileRef(%r)" % self.path

    def __eq__(self, other):
        return isinstance(other, FileRef) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def read_bytes(self) -> bytes:
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


def resolve(name: "str | os.PathLike[str]") -> str:
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


def _clone(src_fd, dst_fd, size):
    """Make dst an independent copy of src: a reflink where the filesystem
    has one (FICLONE: shares blocks copy-on-write, never an inode), else
    copy_file_range (in-kernel), else read/write."""
    try:
        import fcntl
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        return
    except (ImportError, OSError):
        pass
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src_fd, dst_fd, size - done)
            if n == 0:
                break
            done += n
        if done == size:
            return
    except (AttributeError, OSError) as e:
        if getattr(e, "errno", None) == errno.ENOSPC:
            raise
    os.lseek(src_fd, done, os.SEEK_SET)
    os.lseek(dst_fd, done, os.SEEK_SET)
    while True:
        chunk = os.read(src_fd, 1 << 20)
        if not chunk:
            break
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view):]


_FICLONE = 0x40049409       # linux/fs.h: _IOW(0x94, 9, int)


def stage_file(src, scratch=None):
    """Put a FileRef's file under staging; returns (staged path, moved).
    A file in this call's own scratch directory is ours and is renamed
    (moved=True: rename it back if the put fails). Any other file is the
    user's: the store gets an independent copy (reflink or copy, never a
    hard link: the store makes its blobs read-only and renames them, which
    must never touch a file the user can still write), and the user's
    file keeps its name, mode and content. None when src is not a regular
    file. OSError (ENOSPC, ...) propagates: the caller keeps the value."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if scratch is not None and scratch.owns(src) and not os.path.islink(src):
            dst = staging_name("file")
            os.rename(src, dst)
            return dst, True
        dst = staging_name("file")
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _clone(fd, out, st.st_size)
        except BaseException:
            os.close(out)
            unlink(dst)
            raise
        os.close(out)
        return dst, False
    finally:
        os.close(fd)


def unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
