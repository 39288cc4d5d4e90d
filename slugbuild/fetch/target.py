"""The directory an archive is unpacked into, written only through descriptors of directories it made.

Every write names a directory descriptor (openat-style) and a single file name; a path is never resolved
again after it was checked, and no symlink is ever followed (O_NOFOLLOW, O_EXCL). Which name holds what
is kept in `kinds`, so a member that would pass through a link or a file, or replace a directory, is
refused before anything is written. Small files are written on a few threads: each gets its own
duplicate of its directory's descriptor, and any member that reuses a pending name waits for it first.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

# Unpacking a runtime is mostly file creation, system time that does not hold the GIL: a few threads write
# the small members while the main thread decompresses (node's 4,760 files: 5.4 s on one thread, 2.1 s on 4).
UNPACK_THREADS = 4
UNPACK_IN_FLIGHT = 16  # members read but not yet written, so memory stays bounded
OPEN_DIRS_MAX = 256  # directory descriptors kept open for reuse; beyond it they are closed and reopened
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Refused(Exception):
    """A member the target will not take; `why` completes "member 'x' ...", with `{}` where the name of
    the earlier member it collides with (`other`) goes."""

    def __init__(self, why: str, other: str = "") -> None:
        super().__init__(why)
        self.why, self.other = why, other


def data_mode(mode: int) -> int:
    """A regular file's mode as tarfile's "data" filter sets it: no setuid/sticky/group or other write,
    owner read and write, and executable only when the owner could execute it."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


class Target:
    """An empty directory being filled member by member; use it as a context manager."""

    def __init__(self, root: Path) -> None:
        self._root_real = os.path.realpath(root)
        self._root_fd = os.open(root, _DIR_FLAGS)
        self._dirs: dict[str, int] = {}  # directory name -> open descriptor ("" is the root)
        self.kinds: dict[str, str] = {"": "d"}  # every name made so far: "d", "f" or "l"
        self._writers = _Writers()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self._writers.close(wait_for_errors=exc_type is None)
        finally:
            self._close_dirs()
            os.close(self._root_fd)

    def directory(self, name: str) -> None:
        """A directory member: made unless there; a file or link of that name is replaced (last wins)."""
        if self.kinds.get(name) == "d":
            return
        parent, base = self._slot(name)
        os.mkdir(base, 0o777, dir_fd=parent)  # the default mode, as tarfile's data filter leaves it
        self.kinds[name] = "d"

    def symlink(self, name: str, target: str) -> None:
        parent, base = self._slot(name)
        os.symlink(target, base, dir_fd=parent)
        self.kinds[name] = "l"

    def hard_link(self, name: str, source: str) -> None:
        """A hard link to `source`, which must be a regular file unpacked before it."""
        if self.kinds.get(source) != "f":
            raise Refused("is a hard link to {}, which is not a file unpacked before it", source)
        if source == name:
            return
        self._writers.drain()  # its source may still be on its way to disk
        source_parent, source_base = self._existing(source)
        parent, base = self._slot(name)
        os.link(source_base, base, src_dir_fd=source_parent, dst_dir_fd=parent, follow_symlinks=False)
        self.kinds[name] = "f"

    def small_file(self, name: str, data: bytes, mode: int, mtime: float) -> None:
        """A file written on a worker thread."""
        parent, base = self._slot(name)
        self.kinds[name] = "f"
        self._writers.submit(name, os.dup(parent), base, data, mode, mtime)

    def large_file(self, name: str, source: BinaryIO, mode: int, mtime: float) -> None:
        """A file streamed on this thread, never held whole in memory."""
        parent, base = self._slot(name)
        self.kinds[name] = "f"
        fd = os.open(base, _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        with open(fd, "wb") as fh:
            shutil.copyfileobj(source, fh, 1 << 20)
            fh.flush()
            _set_attrs(fd, mode, mtime)

    def escaping_link(self) -> str | None:
        """The first symlink that, followed through the links made after it, resolves outside the target;
        each link was checked on its own as it came, but a later link can move where an earlier one ends."""
        for name, kind in self.kinds.items():
            if kind == "l":
                real = os.path.realpath(os.path.join(self._root_real, name))
                if real != self._root_real and not real.startswith(self._root_real + os.sep):
                    return name
        return None

    def _slot(self, name: str) -> tuple[int, str]:
        """The verified directory descriptor and file name where `name` goes, its parents made as needed;
        an earlier file or link of that name is removed first (last wins), a directory never is."""
        parent_name, _, base = name.rpartition("/")
        parent = self._dir(parent_name)
        earlier = self.kinds.get(name)
        if earlier == "d":
            raise Refused("would replace a directory of the same name")
        if earlier is not None:
            self._writers.wait_for(name)
            os.unlink(base, dir_fd=parent)
            del self.kinds[name]
        return parent, base

    def _existing(self, name: str) -> tuple[int, str]:
        parent_name, _, base = name.rpartition("/")
        return self._dir(parent_name), base

    def _dir(self, name: str) -> int:
        """An open descriptor of directory `name`, made (with its parents) when missing."""
        if not name:
            return self._root_fd
        if (fd := self._dirs.get(name)) is not None:
            return fd
        kind = self.kinds.get(name)
        if kind == "l":
            raise Refused("lies beneath {}, a symlink: writes never follow links", name)
        if kind == "f":
            raise Refused("lies beneath {}, a file", name)
        parent_name, _, base = name.rpartition("/")
        parent = self._dir(parent_name)
        if kind is None:
            os.mkdir(base, 0o777, dir_fd=parent)
            self.kinds[name] = "d"
        fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
        if len(self._dirs) >= OPEN_DIRS_MAX:
            self._close_dirs()  # workers hold their own duplicates, so this never pulls one from under them
        self._dirs[name] = fd
        return fd

    def _close_dirs(self) -> None:
        dirs, self._dirs = self._dirs, {}
        for fd in dirs.values():
            os.close(fd)


class _Writers:
    """Small members written on a few threads; `drain()` waits for all of them and raises their errors."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(UNPACK_THREADS, thread_name_prefix="unpack")
        self._slots = threading.BoundedSemaphore(UNPACK_IN_FLIGHT)
        self._pending: dict[str, Future[None]] = {}

    def submit(self, name: str, dir_fd: int, base: str, data: bytes, mode: int, mtime: float) -> None:
        self._slots.acquire()
        try:
            future = self._pool.submit(_write_member, dir_fd, base, data, mode, mtime)
        except BaseException:
            os.close(dir_fd)
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._pending[name] = future

    def wait_for(self, name: str) -> None:
        """A member is about to reuse `name`: everything written so far lands first, in archive order."""
        if name in self._pending:
            self.drain()

    def drain(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            future.result()

    def close(self, *, wait_for_errors: bool) -> None:
        self._pool.shutdown(wait=True)
        if wait_for_errors:
            self.drain()


def _write_member(dir_fd: int, base: str, data: bytes, mode: int, mtime: float) -> None:
    try:
        fd = os.open(base, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        _set_attrs(fd, mode, mtime)
    finally:
        os.close(fd)


def _set_attrs(fd: int, mode: int, mtime: float) -> None:
    os.fchmod(fd, stat.S_IMODE(mode))
    os.utime(fd, (mtime, mtime))
