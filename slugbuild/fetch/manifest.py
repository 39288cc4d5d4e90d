"""What a directory in the cache held when it was stored: every entry with its kind, mode and, for a file,
size, mtime and sha256, sealed with a digest of the whole list. Checking a directory against it compares
the listing and re-hashes every file, so a file rewritten with its size and mtime put back, an entry added
or removed, or a manifest edited by hand (`[]`) is caught."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

MANIFEST = "manifest.json"
FORMAT = 2
# Hashing is reading and hashlib, which both let go of the GIL: a few threads keep two cores busy.
HASH_THREADS = 3
HASH_BATCH = 64
READ_CHUNK_B = 1 << 20


class Entry(NamedTuple):
    """One entry: kind "d", "f" or "l"; a link's target is in `target`, a file's digest in `sha256`."""

    kind: str
    path: str
    size: int
    mtime_ns: int
    mode: int
    target: str
    sha256: str = ""


def scan(root: Path, digests: Mapping[str, str] | None = None) -> list[Entry]:
    """Every entry under `root`, each directory before what it holds; file digests come from `digests`
    where known (computed while unpacking), else they are read here."""
    entries = _listing(root)
    known = digests or {}
    missing = [e.path for e in entries if e.kind == "f" and e.path not in known]
    computed = {path: digest for path, (digest, _) in zip(missing, _hash_all(root, missing), strict=True)}
    return [e._replace(sha256=known.get(e.path) or computed[e.path]) if e.kind == "f" else e for e in entries]


def write(path: Path, entries: Iterable[Entry], key: str = "") -> None:
    """Write the sealed manifest to `path` through a temporary file renamed into place."""
    rows = [list(entry) for entry in entries]
    body = {"format": FORMAT, "key": key, "entries": rows, "seal": _seal(key, rows)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.")
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    os.replace(tmp, path)


def read(path: Path, key: str = "") -> tuple[Entry, ...] | None:
    """The entries, or None when the file is missing, not a manifest, for another key or not sealed."""
    try:
        body = json.loads(path.read_text())
        rows = body["entries"]
        if body["format"] != FORMAT or body["key"] != key or body["seal"] != _seal(key, rows):
            return None
        entries = tuple(Entry(*row) for row in rows)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return entries if all(entry.kind in ("d", "f", "l") for entry in entries) else None


def first_change(root: Path, entries: tuple[Entry, ...], *, content: bool = True) -> str | None:
    """The first path where `root` no longer matches `entries` (added, removed, another kind, mode, size,
    mtime, link target or, unless `content` is False, content), or None when it is exactly as stored.
    Something that cannot be read is a change too."""
    try:
        changed = _first_listed_change(root, entries)
    except OSError as exc:
        return _unreadable(root, exc)
    return check_content(root, entries).changed if changed is None and content else changed


class ContentCheck(NamedTuple):
    """What reading every file of a tree found: the first that changed (None: none did), and the
    (device, inode) of each file read, by its path."""

    changed: str | None
    inodes: Mapping[str, tuple[int, int]]


def check_content(root: Path, entries: tuple[Entry, ...]) -> ContentCheck:
    """Read every file of `entries` under `root`: which is the first whose sha256 is no longer the one
    listed (a file that cannot be read is a change too), and which files were read. Compare the listing
    first with `first_change(content=False)`."""
    files = [e for e in entries if e.kind == "f"]
    inodes = {}
    try:
        for entry, (digest, inode) in zip(files, _hash_all(root, [e.path for e in files]), strict=True):
            if digest != entry.sha256:
                return ContentCheck(entry.path, {})
            inodes[entry.path] = inode
    except OSError as exc:
        return ContentCheck(_unreadable(root, exc), {})
    return ContentCheck(None, inodes)


def _unreadable(root: Path, exc: OSError) -> str:
    return os.path.relpath(exc.filename, root) if isinstance(exc.filename, str) else "unreadable"


def _first_listed_change(root: Path, entries: tuple[Entry, ...]) -> str | None:
    now = {e.path: e for e in _listing(root)}
    for entry in entries:
        seen = now.pop(entry.path, None)
        if seen is None or seen._replace(sha256=entry.sha256) != entry:
            return entry.path
    return min(now) if now else None  # something added since


def _listing(root: Path) -> list[Entry]:
    """Every entry under `root` without digests, each directory before what it holds."""
    entries = []
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for item in sorted(it, key=lambda e: e.name):
                path = f"{rel}/{item.name}" if rel else item.name
                st = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    entries.append(Entry("d", path, 0, 0, stat.S_IMODE(st.st_mode), ""))
                    pending.append(path)
                elif stat.S_ISLNK(st.st_mode):
                    entries.append(Entry("l", path, 0, 0, 0, os.readlink(item.path)))
                else:  # "?" (a FIFO, a socket) never matches, and is never opened to be hashed
                    kind, mode = "f" if stat.S_ISREG(st.st_mode) else "?", stat.S_IMODE(st.st_mode)
                    entries.append(Entry(kind, path, st.st_size, st.st_mtime_ns, mode, ""))
    return entries


def _hash_all(root: Path, paths: list[str]) -> list[tuple[str, tuple[int, int]]]:
    if not paths:
        return []
    # In batches: most files of a runtime are a few KB, and a future per file cost more than hashing it.
    batches = [paths[i:i + HASH_BATCH] for i in range(0, len(paths), HASH_BATCH)]
    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hash") as pool:
        done = pool.map(lambda batch: [_hashed(os.path.join(root, rel)) for rel in batch], batches)
        return [hashed for batch in done for hashed in batch]


def _hashed(path: str) -> tuple[str, tuple[int, int]]:
    """The sha256 of the file at `path`, and the (device, inode) of the very file read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        digest = hashlib.sha256()
        while chunk := os.read(fd, READ_CHUNK_B):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), (st.st_dev, st.st_ino)


def _seal(key: str, rows: object) -> str:
    return hashlib.sha256(json.dumps([FORMAT, key, rows], separators=(",", ":")).encode()).hexdigest()
