"""Leases on shared cache entries, and pruning by least-recent use that never takes a leased entry.

An entry is a directory (a cached slug member, an unpacked runtime). A build that uses one holds a shared
`flock` on the entry's lease file until it is done; the kernel drops it when the build ends, however it
ends, so no marker is ever left stale. Taking a lease also stamps the lease file's mtime: that is the
entry's last use. Pruning removes an entry only after taking an exclusive lock on it without waiting, so an
entry some build holds is skipped, and renames it aside before deleting it, so nobody sees it half gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LEASE_FILE = ".lease"
SIZE_FILE = ".size"
DISCARD_PREFIX = ".discard."
STALE_LEFTOVER_S = 24 * 3600


class Lease:
    """A shared lock on one cache entry; release it (or let the process end) when done."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _open_lease(entry: Path) -> int | None:
    """The entry's lease file, created when missing; None when the entry itself is gone."""
    try:
        return os.open(entry / LEASE_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def take(entry: Path) -> Lease | None:
    """A lease on `entry`, which is marked as used now; None when it is not there or was removed while
    we waited. A cache nobody may write to gives an empty lease: it can be read, never pruned."""
    try:
        fd = _open_lease(entry)
    except PermissionError:
        return Lease(None) if entry.is_dir() else None
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        return Lease(None) if entry.is_dir() else None
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        if not _same_file(entry / LEASE_FILE, fd):  # pruned while we waited for the lock
            os.close(fd)
            return None
        os.utime(fd)
    except BaseException:
        os.close(fd)
        raise
    return Lease(fd)


def remove_unused(entry: Path) -> bool:
    """Remove `entry` unless a build holds a lease on it; True when it is gone."""
    fd = _open_lease(entry)
    if fd is None:
        return not entry.exists()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        aside = Path(tempfile.mkdtemp(dir=entry.parent, prefix=DISCARD_PREFIX))
        with contextlib.suppress(FileNotFoundError):  # --clear-cache took it first
            os.replace(entry, aside / entry.name)
    finally:
        os.close(fd)  # a build waiting for this lock now finds the lease file moved, and looks no further
    shutil.rmtree(aside, ignore_errors=True)
    return True


def last_use(entry: Path) -> float:
    """When a build last took a lease on `entry` (its creation, if never)."""
    for path in (entry / LEASE_FILE, entry):
        with contextlib.suppress(FileNotFoundError):
            return path.stat().st_mtime
    return 0.0


def _tree_size(entry: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(entry):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
    return total


def size_of(entry: Path) -> int:
    """Bytes `entry` takes on disk; counted once, then kept beside it (entries never change)."""
    record = entry / SIZE_FILE
    with contextlib.suppress(OSError, ValueError):
        return int(record.read_text())
    size = _tree_size(entry)
    with contextlib.suppress(OSError):
        record.write_text(str(size))
    return size


@dataclass(frozen=True)
class Pruned:
    """What a pruning pass did: entries removed, bytes freed, bytes left in use by running builds."""

    removed: int
    freed_b: int
    total_b: int


def prune(entries: Iterable[Path], limit_b: int) -> Pruned:
    """Remove the least recently used entries until they fit in `limit_b`, skipping those a build holds."""
    known = [(last_use(entry), entry, size_of(entry)) for entry in entries]
    total = sum(size for _, _, size in known)
    removed = freed = 0
    for _, entry, size in sorted(known, key=lambda item: item[0]):
        if total <= limit_b:
            break
        if remove_unused(entry):
            total -= size
            removed, freed = removed + 1, freed + size
    return Pruned(removed, freed, total)


def remove_stale_leftovers(directory: Path, prefixes: tuple[str, ...]) -> None:
    """Remove what killed builds left in `directory` (staging, entries set aside) a day ago or earlier."""
    cutoff = time.time() - STALE_LEFTOVER_S
    with contextlib.suppress(FileNotFoundError):
        for leftover in directory.iterdir():
            if leftover.name.startswith(prefixes) and leftover.lstat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
