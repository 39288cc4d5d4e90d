"""The slug: a deterministic gzip tar of the app under `./app/`, hashed and sized while it is written.

The gzip stream is several members: one per stable subtree (a runtime, restored dependencies), taken from
the member cache when that subtree's content was compressed before, and one per run of other entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from slugbuild import compressor, tarstream
from slugbuild import subtree as subtree_
from slugbuild.errors import BuildFailed, SlugbuildError
from slugbuild.log import BuildLog
from slugbuild.members import MemberCache, entry_key

SOFT_LIMIT_B = 300 * 1024 * 1024  # Heroku's soft limit, above which boot gets slower
JOIN_POLL_S = 0.2
# A stable subtree smaller than this is a member of its own but never cached: it is quicker to compress.
CACHED_MIN_B = 1 << 20
COPY_CHUNK_B = 1 << 20
COPY_IN_FLIGHT = 4


@dataclass(frozen=True)
class Slug:
    """A slug written to disk, with the sha256 and size computed while writing it; `reused` names the
    subtrees whose compressed bytes came from the cache."""

    path: Path
    sha256: str
    size: int
    reused: tuple[str, ...] = ()

    @property
    def checksum(self) -> str:
        """The checksum as the Platform API spells it: `SHA256:<hex>`."""
        return f"SHA256:{self.sha256}"


class SlugTooLarge(BuildFailed):
    """The compressed slug is over --max-size."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Compiled slug size: {human_size(size)} is too large (max is {human_size(limit)}); "
                         "leave files out with .slugignore or raise --max-size")


class MetadataMissing(SlugbuildError):
    """A slug's `<slug>.json` is missing or unreadable."""


def human_size(size: int) -> str:
    """`512B`, `12.3K`, `45.3M`, `1G`: Heroku's short form, 1024-based."""
    value, unit = float(size), "B"
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{size}B"
    return f"{value:.1f}".removesuffix(".0") + unit


def metadata_path(slug_path: Path) -> Path:
    """Where the build report of `slug_path` lives: `<slug>.json` beside it."""
    return Path(f"{slug_path}.json")


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


def _write_slug(app_dir: Path, sink: HashingWriter, epoch: int, members: MemberCache | None, log: BuildLog,
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


def _in_thread(work: Callable[[threading.Event], None]) -> None:
    """Run `work` in its own thread; the caller stays free to notice Ctrl-C and cancel it."""
    cancel = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work(cancel)
        except BaseException as exc:  # handed back to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target, name="slug-tar", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(JOIN_POLL_S)
    except BaseException:
        cancel.set()
        thread.join()
        raise
    if failure:
        raise failure[0]


def _compress(app_dir: Path, raw: BinaryIO, epoch: int, limit: int, members: MemberCache | None,
              log: BuildLog, prepacked: Prepacked | None) -> tuple[HashingWriter, list[str]]:
    sink = HashingWriter(raw, limit)
    reused: list[str] = []

    def work(cancel: threading.Event) -> None:
        reused.extend(_write_slug(app_dir, sink, epoch, members, log, cancel, prepacked))

    _in_thread(work)
    return sink, reused


def pack(app_dir: Path, output: Path, log: BuildLog, *, epoch: int = 0, max_size_b: int,
         members: MemberCache | None = None, prepacked: Prepacked | None = None) -> Slug:
    """Write `app_dir` as a slug at `output`, all or nothing: a failure leaves no file behind. With
    `members`, stable subtrees whose content is cached are copied, not compressed: the same bytes;
    `prepacked` saves reading again what was read (and cached) while the build went on."""
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    except OSError as exc:
        why = f"could not write the slug in {output.parent}: {exc.strerror}; choose another -o"
        raise BuildFailed(why) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink, reused = _compress(Path(app_dir), raw, epoch, max_size_b, members, log, prepacked)
        if sink.size > max_size_b:
            raise SlugTooLarge(sink.size, max_size_b)
        os.chmod(tmp, 0o644)
        metadata_path(output).unlink(missing_ok=True)  # never leave the old report beside a new slug
        os.replace(tmp, output)
    except OSError as exc:
        raise BuildFailed(f"could not write the slug {exc.filename or output}: {exc.strerror or exc}; "
                          "check the file and the free space") from None
    finally:
        tmp.unlink(missing_ok=True)
    if sink.size > SOFT_LIMIT_B:
        log.warn(f"Warning: Your slug size ({human_size(sink.size)}) exceeds our soft limit "
                 f"({human_size(SOFT_LIMIT_B)}) which may affect boot time.")
    return Slug(output, sink.digest.hexdigest(), sink.size, tuple(reused))


def write_metadata(slug_path: Path, data: dict[str, object]) -> Path:
    """Write `<slug>.json` atomically, keys sorted so the same build gives the same bytes."""
    path = metadata_path(slug_path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        why = f"could not write {path}: {exc.strerror}; check the directory and the free space"
        raise BuildFailed(why) from None
    return path


def read_metadata(slug_path: Path) -> dict[str, object]:
    """The build report written beside a slug (`<slug>.json`)."""
    path = metadata_path(slug_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MetadataMissing(f"{path} not found: rebuild the slug with `slugbuild build`, which writes it "
                              "beside the slug") from None
    except (OSError, ValueError) as exc:
        raise MetadataMissing(f"{path} is not readable JSON ({exc}); rebuild the slug with "
                              "`slugbuild build`") from None
    if not isinstance(data, dict):
        raise MetadataMissing(f"{path} is not a JSON object; rebuild the slug with `slugbuild build`")
    return data
