"""Stable subtrees of the app: the directories (runtimes, restored dependencies) that are usually the same
from one build to the next, each a gzip member of its own; their digest, and compressing one.

A subtree's digest is the sha256 of each entry's digest, in order (tarstream.entry_digest: its header and
its content's sha256): it follows every header and every byte of every file, and lets several threads read
and hash at once. An entry's digest
may be reused from an earlier reading when the entry provably did not change since (`Known`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from slugbuild import compressor, tarstream
from slugbuild.tarstream import Entry

# Relative to the app's root: runtimes under .heroku (Node.js, Python, yarn) and vendor/ruby-*, and the
# dependencies buildpacks restore from their cache.
STABLE_SUBTREES = (".heroku/*", "vendor/ruby-*", "vendor/bundle", "node_modules")
DIGEST_THREADS = 3  # reading and hashing release the GIL; measured best on two cores
# A change leaves a ctime the clock's granularity (a few ms, or whole seconds on some filesystems) may not
# tell from the one before it: only an entry whose ctime was this much older than when it was read is
# known not to have changed since, when its ctime is still the same (git's "racily clean" rule).
SETTLED_FINE_NS = 100_000_000
SETTLED_COARSE_NS = 2_000_000_000

Check = Callable[[], None]
Digests = list[tuple[bytes, int]]


class Known(NamedTuple):
    """An entry's digest and tar length, and what its lstat said when it was read."""

    signature: tuple[object, ...]
    digest: bytes
    size: int


def signature(entry: Entry) -> tuple[object, ...]:
    """What changes whenever the entry's tar bytes may have: the kernel sets ctime on every write, chmod
    and rename onto it, and nobody can set it back."""
    st = entry.st
    return (entry.linkname, st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def is_settled(st: os.stat_result, read_ns: int) -> bool:
    """Whether a change to this entry after `read_ns` (a time before its content was read, after its
    lstat or before) is sure to leave another ctime than the one it had."""
    margin = SETTLED_FINE_NS if st.st_ctime_ns % 1_000_000_000 else SETTLED_COARSE_NS
    return st.st_ctime_ns < read_ns - margin


def relative(entry: Entry) -> str:
    """The entry's path from the app's root (`.heroku/node`)."""
    return entry.arcname[len(tarstream.ROOT) + 1:]


def is_stable_root(entry: Entry) -> bool:
    """Whether `entry` is a directory heading one of the STABLE_SUBTREES."""
    if not stat.S_ISDIR(entry.st.st_mode) or not entry.arcname.startswith(tarstream.ROOT + "/"):
        return False
    rel = relative(entry)
    return any(fnmatch.fnmatchcase(rel, p) and rel.count("/") == p.count("/") for p in STABLE_SUBTREES)


def runs(entries: Iterable[Entry]) -> Iterator[Entry | list[Entry]]:
    """The entries in order, each stable subtree gathered into one list (its head directory first)."""
    subtree: list[Entry] | None = None
    for entry in entries:
        if subtree is not None:
            if entry.arcname.startswith(subtree[0].arcname + "/"):
                subtree.append(entry)
                continue
            yield subtree
            subtree = None
        if is_stable_root(entry):
            subtree = [entry]
        else:
            yield entry
    if subtree is not None:
        yield subtree


def combined(digests: Digests) -> tuple[bytes, int]:
    """The subtree's digest and tar length from its entries' digests and lengths."""
    total = hashlib.sha256()
    for digest, _ in digests:
        total.update(digest)
    return total.digest(), sum(size for _, size in digests)


def digest(entries: list[Entry], epoch: int, check: Check, known: Mapping[str, Known]) -> Digests:
    """Each entry's digest and length, taken from `known` or read on DIGEST_THREADS threads."""
    digests: list[tuple[bytes, int] | None] = []
    for entry in entries:  # here, not on the threads: handing thousands of known entries over costs more
        found = known.get(entry.arcname)
        digests.append((found.digest, found.size) if found and found.signature == signature(entry) else None)
    unread = [i for i, found in enumerate(digests) if found is None]

    def one(i: int) -> tuple[bytes, int]:
        check()
        return tarstream.write_entry(entries[i], epoch)

    check()
    if unread:
        with ThreadPoolExecutor(DIGEST_THREADS, thread_name_prefix="slug-digest") as pool:
            for i, read in zip(unread, pool.map(one, unread, chunksize=32), strict=True):
                digests[i] = read
    return [found for found in digests if found is not None]


def compress(entries: list[Entry], epoch: int, sink: compressor.Sink, check: Check,
             started_ns: list[int] | None = None) -> Digests:
    """Compress the entries as one gzip member into `sink`; each entry's digest and length, and in
    `started_ns` when the reading of each began."""
    member = compressor.MemberWriter(sink)
    digests = []

    def write(data: bytes) -> None:
        check()  # between chunks too: a 100 MB binary takes seconds to compress
        member.write(data)

    try:
        for entry in entries:
            if started_ns is not None:
                started_ns.append(time.time_ns())
            digests.append(tarstream.write_entry(entry, epoch, write))
        member.close()
    except BaseException:
        member.abandon()
        raise
    return digests


class Tee:
    """Several sinks written together: the slug and the cache's copy of a member."""

    def __init__(self, *sinks: compressor.Sink) -> None:
        self.sinks = sinks

    def write(self, data: bytes) -> int:
        for sink in self.sinks:
            sink.write(data)
        return len(data)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()
