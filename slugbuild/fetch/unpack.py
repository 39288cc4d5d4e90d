"""The one set of unpacking rules, for runtimes, classic buildpacks and `slugbuild run`: a tar archive into
a new directory, refusing any member that would land or point outside it."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import zstandard
from zlib_ng import gzip_ng, zlib_ng

from slugbuild.config import parse_size
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch.target import Refused, Target, data_mode

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # Heroku's Python archives are .tar.zst; tarfile reads no zstd before 3.14
UNPACK_BUFFERED_MAX_B = 4 << 20  # larger members are written by the reading thread, never held whole
# Enough for any runtime (node 192 MiB in 4,766 members, Go 180 MiB in 11,057) and most slugs; a 1 MB
# archive cannot fill a disk (gzip, bzip2 and xz bombs, sparse members by their apparent size).
MAX_SIZE_ENV, MAX_FILES_ENV = "SLUGBUILD_UNPACK_MAX_SIZE", "SLUGBUILD_UNPACK_MAX_FILES"
DEFAULT_MAX_SIZE_B = 2 << 30
DEFAULT_MAX_FILES = 200_000
MAX_DEPTH = 800  # deeper than any real tree, and a slug of a 600-level tree still runs; the unpacking and its
# clean-up recurse once a level, so this stays well within Python's recursion limit of 1,000

# (member name as in the archive, link target) -> the link target to use
Relink = Callable[[str, str], str]


@dataclass(frozen=True)
class Limits:
    """How much one archive may unpack to."""

    max_size_b: int = DEFAULT_MAX_SIZE_B
    max_files: int = DEFAULT_MAX_FILES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """SLUGBUILD_UNPACK_MAX_SIZE (500M, 8G) and SLUGBUILD_UNPACK_MAX_FILES when set, else defaults."""
        env = os.environ if environ is None else environ
        size = env.get(MAX_SIZE_ENV, "").strip()
        files = env.get(MAX_FILES_ENV, "").strip()
        if files and not (files.isascii() and files.isdigit() and len(files) <= 12 and int(files) > 0):
            raise UsageError(f"{MAX_FILES_ENV}={files!r} is not a whole number above zero; fix or unset it")
        return cls(parse_size(size, MAX_SIZE_ENV) if size else DEFAULT_MAX_SIZE_B,
                   int(files) if files else DEFAULT_MAX_FILES)


class ArchiveTooLarge(DownloadFailed):
    """An archive that unpacks to more bytes or members than the limits allow."""


class _Budget:
    """Counts members and bytes (a sparse member by its apparent size) before any of them is written."""

    def __init__(self, archive: Path, limits: Limits) -> None:
        self.archive, self.limits = archive, limits
        self.files = self.size_b = 0

    def take(self, member: tarfile.TarInfo) -> None:
        self.files += 1
        self.size_b += member.size if member.isfile() else 0
        if self.files > self.limits.max_files:
            self._refuse(f"more than {self.limits.max_files:,} members", MAX_FILES_ENV)
        if self.size_b > self.limits.max_size_b:
            self._refuse(f"more than {_human(self.limits.max_size_b)}", MAX_SIZE_ENV)

    def made(self, entries: int) -> None:
        if entries > self.limits.max_files:
            self._refuse(f"more than {self.limits.max_files:,} members", MAX_FILES_ENV)

    def _refuse(self, what: str, variable: str) -> None:
        raise ArchiveTooLarge(f"refusing to extract {self.archive.name}: it unpacks to {what}; if you "
                              f"trust it, raise the limit with {variable}")


def _human(size_b: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size_b < 1024 or unit == "GiB":
            return f"{size_b:g} {unit}" if unit == "B" else f"{size_b:.4g} {unit}"
        size_b /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


class UnsafeArchive(DownloadFailed):
    """An archive member that would land or point outside the target directory."""

    def __init__(self, archive: Path, member: str, why: str) -> None:
        super().__init__(f"refusing to extract {archive.name}: member {member!r} {why}")


def extract(archive: Path, dest: Path, *, strip_components: int = 0, limits: Limits | None = None,
            relink: Relink | None = None) -> None:
    """Unpack a tar archive into `dest` (which must not exist yet), refusing any member that would land
    outside it: absolute paths, `..`, links pointing out or passed through, devices, and more than
    `limits` allow. A later member of the same name replaces an earlier file or link (last wins, as tar);
    nothing replaces a directory. `relink` may rewrite symlink targets first. `dest` appears only when
    complete; when another process completes the same `dest` first (a shared cache), its copy is kept."""
    dest = Path(dest)
    if dest.is_dir() and any(dest.iterdir()):
        raise DownloadFailed(f"cannot unpack {archive.name} into {dest}: it is not empty; remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial."))
    fill_and_move(archive, staging, dest,
                  functools.partial(extract_into, archive, strip_components, limits=limits, relink=relink))


def fill_and_move(archive: Path, staging: Path, dest: Path, fill: Callable[[Path], None]) -> bool:
    """`fill(staging)` with what `archive` holds, then rename staging to `dest`; False when another
    process completed `dest` first (its copy stays). Any failure is one DownloadFailed naming the archive,
    and the staging directory never outlives the call."""
    try:
        fill(staging)
        return _move_into_place(staging, dest)
    except (tarfile.TarError, EOFError, OSError, zlib_ng.error, zstandard.ZstdError) as exc:
        raise DownloadFailed(f"could not unpack {archive}: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def extract_into(archive: Path, strip_components: int, staging: Path, limits: Limits | None = None,
                 relink: Relink | None = None) -> dict[str, str]:
    """Unpack `archive` into the existing, empty directory `staging`; the sha256 of every file."""
    budget = _Budget(archive, limits or Limits.from_env())
    links: dict[str, str] = {}  # symlinks: name unpacked -> name in the archive, for messages
    with _open_tar(archive) as tf, Target(staging) as target:
        for member in tf:
            name = _stripped(member.name, strip_components)
            if name is None:
                continue
            budget.take(member)
            if relink is not None and member.issym():
                member.linkname = relink(member.name, member.linkname)
            _check_member(archive, member, name, strip_components)
            try:
                _place(tf, member, name, target)
            except Refused as exc:
                other = repr(_unstripped(exc.other, member.name, strip_components))
                raise UnsafeArchive(archive, member.name, exc.why.format(other)) from None
            budget.made(len(target.kinds) - 1)  # directories a member implies count too
            if member.issym():
                links[name] = member.name
        if (escaping := target.escaping_link()) is not None:
            raise UnsafeArchive(archive, links[escaping], "links outside the target through other links")
    return target.digests


def _place(tf: tarfile.TarFile, member: tarfile.TarInfo, name: str, target: Target) -> None:
    if member.isdir():
        target.directory(name)
    elif member.issym():
        target.symlink(name, member.linkname)
    elif member.islnk():
        target.hard_link(name, member.linkname)
    else:
        source = tf.extractfile(member)
        assert source is not None  # a regular file always has data
        mode, mtime = data_mode(member.mode), member.mtime
        if member.size <= UNPACK_BUFFERED_MAX_B:
            target.small_file(name, source.read(), mode, mtime)
        else:
            target.large_file(name, source, mode, mtime)


def _stripped(name: str, strip_components: int) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) <= strip_components:
        return None
    return "/".join(parts[strip_components:])


def _unstripped(name: str, like: str, strip_components: int) -> str:
    """`name` with the leading directories `like` lost to --strip-components, as the archive spells it."""
    prefix: list[str] = []
    kept = 0
    for part in like.split("/"):
        if kept == strip_components:
            break
        prefix.append(part)
        kept += part not in ("", ".")
    return "/".join([*prefix, name])


def _check_member(archive: Path, member: tarfile.TarInfo, name: str, strip_components: int) -> None:
    """Refuse what could land outside the target; hard links are renamed like the member they point at."""
    if member.name.startswith("/") or ".." in member.name.split("/"):
        raise UnsafeArchive(archive, member.name, "would land outside the target directory")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchive(archive, member.name, "is not a regular file, directory or link")
    if name.count("/") >= MAX_DEPTH:
        shown = member.name[:80] + "..."
        raise UnsafeArchive(archive, shown, f"is nested deeper than {MAX_DEPTH} directories")
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise UnsafeArchive(archive, member.name, f"links outside the target ({member.linkname})")
    if member.islnk():
        target = _stripped(member.linkname, strip_components)
        if target is None or member.linkname.startswith("/") or ".." in member.linkname.split("/"):
            raise UnsafeArchive(archive, member.name, f"links outside the target ({member.linkname})")
        member.linkname = target


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    with open(archive, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic[:2] == b"\x1f\x8b":
            with gzip_ng.GzipFile(fileobj=raw, mode="rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tf:
                yield tf
        elif magic == ZSTD_MAGIC:
            with zstandard.ZstdDecompressor().stream_reader(raw) as zst, \
                    tarfile.open(fileobj=zst, mode="r|") as tf:
                yield tf
        else:
            with tarfile.open(fileobj=raw, mode="r|*") as tf:
                yield tf


def _move_into_place(staging: Path, dest: Path) -> bool:
    try:
        os.replace(staging, dest)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not dest.is_dir():
            raise
        return False
    return True
