"""The slug's tar stream: the app's entries in order, the one place their headers are set, and their bytes.

The stream is GNU tar, as `tar --sort=name` writes it. It is produced piecewise (the slug is several gzip
members), so every function here yields or writes the bytes of whole entries, never relying on an offset.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from slugbuild.errors import BuildFailed
from slugbuild.log import BuildLog

ROOT = "./app"
BLOCK_B = 512
RECORD_B = 20 * BLOCK_B  # GNU tar's default blocking: the stream ends on a 10 KiB record
NUL = b"\0"
GNU_MAGIC = b"ustar  \0"
REGTYPE, DIRTYPE, SYMTYPE = b"0", b"5", b"2"
GNUTYPE_LONGNAME, GNUTYPE_LONGLINK = b"L", b"K"
READ_CHUNK_B = 1 << 20

Write = Callable[[bytes], object]


class Entry(NamedTuple):
    """One member of the slug: its archive name, where it is read from, its lstat and a link's target."""

    arcname: str
    path: str
    st: os.stat_result
    linkname: str

    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    def estimated_size(self) -> int:
        """Its share of the tar stream but for long-name blocks, known without building the header."""
        return BLOCK_B + (-(-self.st.st_size // BLOCK_B) * BLOCK_B if self.is_file() else 0)


def _number(value: int, digits: int) -> bytes:
    """An octal field; a value too large for it in GNU's base-256 form (sizes above 8 GiB)."""
    if value < 8 ** (digits - 1):
        return b"%0*o\0" % (digits - 1, value)
    return b"\x80" + value.to_bytes(digits - 1, "big")


def _block(name: bytes, mode: int, size: int, mtime: int, kind: bytes, linkname: bytes = b"") -> bytes:
    """One GNU header block: owner 0/0 with no names, no device numbers, the checksum filled in."""
    fields = b"".join((name[:100].ljust(100, NUL), _number(mode, 8), _number(0, 8), _number(0, 8),
                       _number(size, 12), _number(mtime, 12), b" " * 8, kind, linkname[:100].ljust(100, NUL),
                       GNU_MAGIC))
    block = fields.ljust(BLOCK_B, NUL)
    return block[:148] + b"%06o\0" % sum(block) + block[155:]


def _long(value: bytes, kind: bytes) -> bytes:
    """GNU's `././@LongLink` entry carrying a name or link target longer than its 100-byte field."""
    payload = value + NUL
    return _block(b"././@LongLink", 0, len(payload), 0, kind) + payload.ljust(-(-len(payload) // BLOCK_B)
                                                                             * BLOCK_B, NUL)


def _kind_and_mode(st: os.stat_result) -> tuple[bytes, int, int]:
    if stat.S_ISDIR(st.st_mode):
        return DIRTYPE, 0o755, 0
    if stat.S_ISLNK(st.st_mode):
        return SYMTYPE, 0o777, 0
    executable = st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return REGTYPE, 0o755 if executable else 0o644, st.st_size


def header_bytes(entry: Entry, epoch: int) -> bytes:
    """The only place slug headers are set: GNU format, as Python's tarfile writes it, with owner, time and
    mode depending on nothing but the file kind. Written here rather than by tarfile, whose GNU headers
    changed between 3.11 patch releases (device fields), so the bytes stay the same on every Python."""
    kind, mode, size = _kind_and_mode(entry.st)
    name = (entry.arcname + "/" if kind == DIRTYPE else entry.arcname).encode("utf-8", "surrogateescape")
    linkname = entry.linkname.encode("utf-8", "surrogateescape")
    head = _long(linkname, GNUTYPE_LONGLINK) if len(linkname) > 100 else b""
    if len(name) > 100:
        head += _long(name, GNUTYPE_LONGNAME)
    return head + _block(name, mode, size, epoch, kind, linkname)


def _points_outside(arcname: str, target: str) -> bool:
    if target.startswith("/"):
        return not (target == "/app" or target.startswith("/app/"))
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(arcname), target))
    return not (resolved == ROOT[2:] or resolved.startswith(ROOT[2:] + "/"))


def _entry(arcname: str, path: str, st: os.stat_result, log: BuildLog) -> Entry:
    if not stat.S_ISLNK(st.st_mode):
        return Entry(arcname, path, st, "")
    target = os.readlink(path)
    if _points_outside(arcname, target):
        log.warn(f"{arcname[2:]} -> {target}: symlink points outside the app; it will dangle on a dyno")
    return Entry(arcname, path, st, target)


def _children(directory: str, arc_dir: str, log: BuildLog) -> list[Entry]:
    children = []
    with os.scandir(directory) as found:
        listing = sorted(found, key=lambda e: e.name)
    for item in listing:
        st = item.stat(follow_symlinks=False)
        arcname = f"{arc_dir}/{item.name}"
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            children.append(_entry(arcname, item.path, st, log))
        else:
            log.warn(f"{arcname[2:]}: not a regular file, directory or symlink; left out of the slug")
    return children


def entries(root: Path, log: BuildLog, arcname: str = ROOT) -> Iterator[Entry]:
    """Every entry from `root` (named `arcname` in the slug) depth first, sorted by name in each directory,
    as `tar --sort=name`; each directory's subtree follows it without a gap, which is what lets a subtree
    be a gzip member of its own."""
    yield Entry(arcname, str(root), os.lstat(root), "")
    pending = [iter(_children(str(root), arcname, log))]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            continue
        yield item
        if stat.S_ISDIR(item.st.st_mode):
            pending.append(iter(_children(item.path, item.arcname, log)))


def _open(entry: Entry) -> int:
    try:
        return os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise BuildFailed(f"could not read {entry.arcname[2:]}: {exc.strerror}; make it readable or leave it "
                          "out with .slugignore") from None


def _data(entry: Entry) -> Iterator[bytes]:
    """Exactly the size the header names: a file that grew is cut there, one that shrank is an error."""
    remaining = entry.st.st_size
    fd = _open(entry)
    try:
        while remaining:
            chunk = os.read(fd, min(remaining, READ_CHUNK_B))
            if not chunk:
                raise BuildFailed(f"{entry.arcname[2:]} shrank while the slug was written; build again when "
                                  "nothing writes into the app")
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def write_entry(entry: Entry, epoch: int, write: Write | None = None) -> tuple[bytes, int]:
    """Hand the entry's tar bytes to `write` (none: only read them); return its digest (`entry_digest`)
    and the length of its tar bytes."""
    head = header_bytes(entry, epoch)
    if write:
        write(head)
    if not entry.is_file():
        return entry_digest(head, None), len(head)
    content = hashlib.sha256()
    size = len(head)
    for chunk in _data(entry):
        content.update(chunk)
        if write:
            write(chunk)
        size += len(chunk)
    if (pad := -size % BLOCK_B) and write:
        write(b"\0" * pad)
    return entry_digest(head, content.digest()), size + pad


def digest_of_content(entry: Entry, epoch: int, content_sha256: bytes) -> tuple[bytes, int]:
    """What `write_entry` returns for a file whose content is known to have `content_sha256`, unread."""
    head = header_bytes(entry, epoch)
    size = len(head) + entry.st.st_size
    return entry_digest(head, content_sha256), size + -size % BLOCK_B


def entry_digest(head: bytes, content_sha256: bytes | None) -> bytes:
    """An entry's digest: the sha256 of its header and, for a file, of its content's sha256. It follows
    every byte of both, and a file's content digest may come from an earlier reading of it."""
    return hashlib.sha256(head + (content_sha256 or b"")).digest()


def end_of_archive(tar_size: int) -> bytes:
    """Two zero blocks, then zeros up to the end of the record, as tar ends an archive `tar_size` long."""
    size = tar_size + 2 * BLOCK_B
    return b"\0" * (2 * BLOCK_B + -size % RECORD_B)
