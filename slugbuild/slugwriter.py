"""Writing the slug's gzip stream: one member per stable subtree, copied from the member cache when its
content is there (its sha256 checked on the way), and one member for each run of other entries; the last
member holds the end of the archive. Hashed and counted as it is written."""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from slugbuild import compressor, tarstream
from slugbuild import subtree as subtree_
from slugbuild.log import BuildLog
from slugbuild.members import MemberCache, entry_key

# A stable subtree smaller than this is a member of its own but never cached: it is quicker to compress.
CACHED_MIN_B = 1 << 20
COPY_CHUNK_B = 1 << 20
COPY_IN_FLIGHT = 4


@dataclass(frozen=True)
class _Mark:
    size: int
    digest: hashlib._Hash
    position: int


class HashingWriter:
    """A write-only file that hashes and counts what passes through. Past `limit` bytes it stops writing
    to disk and only counts, so an oversized slug costs no disk space yet its size is still known."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.limit = raw, limit
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        self.size += n
        if self.size <= self.limit:
            self.digest.update(data)
            self.raw.write(data)
        return n

    def flush(self) -> None:
        self.raw.flush()

    def mark(self) -> _Mark:
        """Where the slug stands now, to come back to with `rollback`."""
        return _Mark(self.size, self.digest.copy(), self.raw.tell())

    def rollback(self, mark: _Mark) -> None:
        """Forget everything written since `mark`, on disk and in the running hash."""
        self.raw.seek(mark.position)
        self.raw.truncate()
        self.size, self.digest = mark.size, mark.digest.copy()


class Prepacked(Protocol):
    """What was read of stable subtrees ahead of the pack (prepack.Prepacker)."""

    def known(self, arcname: str) -> Mapping[str, subtree_.Known]: ...


class _Cancelled(KeyboardInterrupt):
    """Ctrl-C reached the caller while the slug was written in its own thread."""


class _Writer:
    """Writes the tar stream as gzip members into `sink`: one member per stable subtree, taken from the
    cache when its content is there, and one for each run of other entries; the last holds the end."""

    def __init__(self, sink: HashingWriter, epoch: int, members: MemberCache | None, log: BuildLog,
                 cancel: threading.Event, prepacked: Prepacked | None = None) -> None:
        self.sink, self.epoch, self.members, self.log, self.cancel = sink, epoch, members, log, cancel
        self.prepacked = prepacked
        self.tar_size = 0
        self.reused: list[str] = []
        self._rest: compressor.MemberWriter | None = None

    def _check(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled

    def add(self, entry: tarstream.Entry) -> None:
        self._check()
        if self._rest is None:
            self._rest = compressor.MemberWriter(self.sink)
        self.tar_size += tarstream.write_entry(entry, self.epoch, self._rest.write)[1]

    def finish(self) -> None:
        if self._rest is None:
            self._rest = compressor.MemberWriter(self.sink)
        self._rest.write(tarstream.end_of_archive(self.tar_size))
        self._close_rest()

    def abandon(self) -> None:
        if self._rest is not None:
            self._rest.abandon()

    def _close_rest(self) -> None:
        if self._rest is not None:
            self._rest.close()
            self._rest = None

    def add_subtree(self, subtree: list[tarstream.Entry]) -> None:
        self._close_rest()
        estimate = sum(entry.estimated_size() for entry in subtree)
        name = subtree[0].arcname
        if self.members is None or estimate < CACHED_MIN_B:
            digests = subtree_.compress(subtree, self.epoch, self.sink, self._check)
            self.tar_size += subtree_.combined(digests)[1]
            return
        known = self.prepacked.known(name) if self.prepacked else {}
        if not known and not self.members.has_seen(name):  # a first build: hashing first would be wasted
            self._compress_and_store(subtree, None)
            return
        digest, tar_size = subtree_.combined(subtree_.digest(subtree, self.epoch, self._check, known))
        key = entry_key(digest)
        if not self._copy_cached(key, tar_size, name):
            self._compress_and_store(subtree, key)
            return
        self.tar_size += tar_size
        self.reused.append(subtree_.relative(subtree[0]))

    def _compress_and_store(self, subtree: list[tarstream.Entry], key: str | None) -> None:
        """Compress the subtree into the slug and the cache; it is stored under the key of what was read,
        unless that differs from `key` (a file changed since it was hashed: better not cache it at all)."""
        assert self.members is not None
        staged = self.members.stage()
        sink = self.sink if staged is None else subtree_.Tee(self.sink, staged)
        try:
            digest, tar_size = subtree_.combined(subtree_.compress(subtree, self.epoch, sink, self._check))
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        self.tar_size += tar_size
        if staged is not None and key in (None, entry_key(digest)):
            self.members.store(staged, entry_key(digest), tar_size, subtree[0].arcname)
        elif staged is not None:
            staged.discard()

    def _copy_cached(self, key: str, tar_size: int, arcname: str) -> bool:
        """Copy the cached member under `key` into the slug, checking its sha256 on the way; a damaged one
        is taken back out of the slug, removed from the cache, and False returned (as for a miss)."""
        assert self.members is not None
        cached = self.members.take(key)
        if cached is None:
            return False
        with cached.lease:
            mark = self.sink.mark()
            if cached.tar_size == tar_size and _copy_checked(cached.path, self.sink) == cached.sha256:
                return True
            self.sink.rollback(mark)
        self.log.warn(f"the cached compressed {arcname[2:]} is damaged (its sha256 does not match); "
                      "compressing it again")
        self.members.discard(key)
        return False


def _copy_checked(path: Path, sink: HashingWriter) -> str | None:
    """Copy the file at `path` into `sink`; the sha256 of what was copied (None: it could not be read).
    That sha256 is computed on a second thread while `sink` hashes the same chunks for the slug's."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh, ThreadPoolExecutor(1, thread_name_prefix="slug-check") as hasher:
            pending: deque[Future[None]] = deque()
            while chunk := fh.read(COPY_CHUNK_B):
                pending.append(hasher.submit(digest.update, chunk))
                sink.write(chunk)
                if len(pending) > COPY_IN_FLIGHT:  # memory stays bounded whichever hash is slower
                    pending.popleft().result()
    except OSError:
        return None
    return digest.hexdigest()


def write_slug(app_dir: Path, sink: HashingWriter, epoch: int, members: MemberCache | None, log: BuildLog,
                cancel: threading.Event, prepacked: Prepacked | None) -> list[str]:
    writer = _Writer(sink, epoch, members, log, cancel, prepacked)
    try:
        for run in subtree_.runs(tarstream.entries(app_dir, log)):
            if isinstance(run, list):
                writer.add_subtree(run)
            else:
                writer.add(run)
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return writer.reused


