"""Packing a stable subtree ahead of the pack, while the build goes on.

As soon as a runtime is in place in the app (a buildpack just installed it), a background thread reads it:
on a first build it compresses it into the member cache, otherwise it hashes it and finds it there. The
pack then needs neither to compress it nor to read it again: every entry whose lstat (ctime included) is
the same as when it was read, and was settled then, keeps the digest taken in the background; anything
the build changed meanwhile is read again, so a changed file always changes the key.

A runtime reused from the cache was just read whole by its check (every file's sha256 against its manifest,
through the links in the app): its files are not read a second time. Their digests are built from the
sha256 the check confirmed (tarstream.entry_digest), for the very files it read, while their ctime says
nothing changed them since.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from slugbuild import subtree, tarstream
from slugbuild.log import RecordingLog
from slugbuild.members import MemberCache, entry_key


class Checked(Protocol):
    """What a check read of a subtree's files (fetch.trees.Checked)."""

    @property
    def files(self) -> Mapping[str, tuple[tuple[int, int], str]]: ...

    @property
    def done_ns(self) -> int: ...


class _Cancelled(Exception):
    """The build ended before the pack needed this subtree."""


class Prepacker:
    """Stable subtrees of the app at `app_dir`, read in the background, one at a time."""

    def __init__(self, app_dir: Path, members: MemberCache | None, epoch: int) -> None:
        self.app_dir, self.members, self.epoch = Path(app_dir), members, epoch
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="slug-prepack")
        self._jobs: dict[str, Future[dict[str, subtree.Known]]] = {}
        self._cancel = threading.Event()

    def start(self, path: Path, checked: Checked | None = None) -> None:
        """Begin on the subtree at `path` when it is one the slug keeps as a member of its own (and there is
        a member cache to put it in); `checked` is what a check just read of its files, not read again."""
        if self.members is None:
            return
        try:
            rel = Path(path).relative_to(self.app_dir).as_posix()
        except ValueError:
            return
        arcname = f"{tarstream.ROOT}/{rel}"
        try:
            head = tarstream.Entry(arcname, str(path), Path(path).lstat(), "")
        except OSError:  # gone already: the pack will see what is there
            return
        if subtree.is_stable_root(head) and arcname not in self._jobs and not self._cancel.is_set():
            self._jobs[arcname] = self._pool.submit(self._read, head, checked)

    def known(self, arcname: str) -> Mapping[str, subtree.Known]:
        """What was read of the subtree `arcname`, once its reading is done; empty when it was not read."""
        job = self._jobs.get(arcname)
        try:
            return job.result() if job is not None else {}
        except Exception:  # a failed head start only means that the pack reads the subtree itself
            return {}

    def close(self) -> None:
        """Stop reading (the build is over or failed) and wait for the thread."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prepacker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def _read(self, head: tarstream.Entry, checked: Checked | None) -> dict[str, subtree.Known]:
        assert self.members is not None  # start() begins nothing without one
        read_ns = time.time_ns()
        entries = list(tarstream.entries(Path(head.path), RecordingLog(), head.arcname))
        unread = _unread(head, entries, checked, self.epoch)
        if self.members.has_seen(head.arcname):
            digests = subtree.digest(entries, self.epoch, self._check, unread)
            if self.members.contains(entry_key(subtree.combined(digests)[0])):
                return {**_known(entries, digests, [read_ns] * len(entries)), **unread}
        staged = self.members.stage()
        if staged is None:
            return {}
        started_ns: list[int] = []
        try:
            digests = subtree.compress(entries, self.epoch, staged, self._check, started_ns)
        except BaseException:
            staged.discard()
            raise
        digest, tar_size = subtree.combined(digests)
        self.members.store(staged, entry_key(digest), tar_size, head.arcname)
        return {**_known(entries, digests, started_ns), **unread}


def _known(entries: list[tarstream.Entry], digests: subtree.Digests,
           read_ns: list[int]) -> dict[str, subtree.Known]:
    """What was read, for each entry settled by the time its reading began: whatever changes it after
    that gives it another ctime than the one in its signature, and what changed it before was read.
    (A runtime linked a moment before the compression began is settled for most of its files.)"""
    return {entry.arcname: subtree.Known(subtree.signature(entry), digest, size)
            for entry, (digest, size), began in zip(entries, digests, read_ns, strict=True)
            if subtree.is_settled(entry.st, began)}


def _unread(head: tarstream.Entry, entries: list[tarstream.Entry], checked: Checked | None,
            epoch: int) -> dict[str, subtree.Known]:
    """The digests of the files whose content `checked` read, known without reading them again: the same
    file (device and inode) as was read, with a ctime from before the check ended (a later change gives
    another ctime; nothing this build runs wrote to them before)."""
    if checked is None:
        return {}
    unread = {}
    for entry in entries:
        found = checked.files.get(entry.arcname[len(head.arcname) + 1:])
        if (found is None or not entry.is_file() or found[0] != (entry.st.st_dev, entry.st.st_ino)
                or not subtree.is_settled(entry.st, checked.done_ns)):
            continue
        digest, size = tarstream.digest_of_content(entry, epoch, bytes.fromhex(found[1]))
        unread[entry.arcname] = subtree.Known(subtree.signature(entry), digest, size)
    return unread
