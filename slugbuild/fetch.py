"""Downloads for buildpacks: a verified cache keyed by URL and checksum, retries with resume, offline use,
safe extraction, and runtimes unpacked once in the cache then hard-linked into each app."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import posixpath
import random
import shutil
import stat
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import requests
import zstandard
from zlib_ng import gzip_ng, zlib_ng

from slugbuild import USER_AGENT
from slugbuild.errors import DownloadFailed
from slugbuild.log import BuildLog

CHUNK_B = 1 << 20
TIMEOUT_S = 30
RETRIES = 5
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
STALE_PARTIAL_S = 24 * 3600
MANIFEST = "manifest.json"
# Unpacking a runtime is mostly file creation, system time that does not hold the GIL: a few threads write
# the small members while the main thread decompresses (node's 4,760 files: 5.4 s on one thread, 2.1 s on 4).
UNPACK_THREADS = 4
UNPACK_IN_FLIGHT = 16  # members read but not yet written, so memory stays bounded
UNPACK_BUFFERED_MAX_B = 4 << 20  # larger members are written by the reading thread, never held whole
# Link failures that mean "not here", not "broken": another filesystem, no hard links, too many links.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # Heroku's Python archives are .tar.zst; tarfile reads no zstd before 3.14
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP)
_KINDS = {"d": stat.S_ISDIR, "f": stat.S_ISREG, "l": stat.S_ISLNK}


@dataclass(frozen=True)
class Download:
    """A file in the cache whose sha256 is known; `verified` is False when it was pinned, not checked."""

    path: Path
    sha256: str
    verified: bool


class Entry(NamedTuple):
    """One line of an unpacked tree's manifest: kind is "d", "f" or "l"; a link's target is in `target`."""

    kind: str
    path: str
    size: int
    mtime_ns: int
    mode: int
    target: str


@dataclass(frozen=True)
class Tree:
    """An archive unpacked in the cache, shared by every build using that cache, with its manifest;
    `reused` is False when this build unpacked it."""

    path: Path
    sha256: str
    verified: bool
    entries: tuple[Entry, ...]
    reused: bool


class NotFound(DownloadFailed):
    """The server (or the mirror directory) says the file does not exist: a 404, not a transient failure."""


class _Retryable(Exception):
    """A transient failure (connection, 5xx, short body) worth another attempt."""


def url_key(url: str) -> str:
    """A short, file-name-safe key for `url` in the cache."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_B):
            digest.update(chunk)
    return digest.hexdigest()


class Fetcher:
    """Fetches runtimes into `cache_dir`, never leaving a partial or unverified file there.

    Files live at downloads/<url key>-<sha256>/<name>: keyed by URL and checksum, written to a temporary
    file in the same directory and renamed once verified, so concurrent builds sharing a cache are safe.
    """

    def __init__(self, cache_dir: Path, log: BuildLog, *, offline: bool = False, retries: int = RETRIES,
                 backoff_s: float = BACKOFF_S, timeout_s: float = TIMEOUT_S) -> None:
        self.cache_dir = Path(cache_dir)
        self.log = log
        self.offline = offline
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # The bytes on disk must be the bytes the checksum names; a transparently decoded body is not.
        self.session.headers["Accept-Encoding"] = "identity"

    # -- public -------------------------------------------------------------------------------------

    def fetch(self, url: str, sha256: str | None, *, label: str | None = None) -> Download:
        """The cached, verified file for `url`. Without a sha256 the first download's digest is pinned
        and every later use is checked against it."""
        expected = (sha256 or self._pinned(url) or "").lower() or None
        if expected and (cached := self._cached(url, expected)):
            return Download(cached, expected, sha256 is not None)
        if self.offline:
            raise self._not_cached(url)
        staging = self.cache_dir / "downloads" / ".partial"
        staging.mkdir(parents=True, exist_ok=True)
        _prune_stale(staging)
        fd, tmp_name = tempfile.mkstemp(dir=staging, prefix=self._name(url) + ".")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._download_with_retries(url, tmp, label or self._name(url))
            actual = file_sha256(tmp)
            if expected and actual != expected:
                pinned = "" if sha256 else " (pinned at its first download)"
                raise DownloadFailed(f"checksum mismatch for {url}: expected sha256 {expected}{pinned}, "
                                     f"got {actual}; the download or the mirror is corrupt")
            slot = self._slot(url, actual)
            slot.mkdir(parents=True, exist_ok=True)
            final = slot / self._name(url)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        if sha256 is None:
            self._pin(url, actual)
        return Download(final, actual, sha256 is not None)

    def fetch_text(self, url: str, *, label: str | None = None) -> str:
        """An index file (JSON, SHASUMS256.txt): fresh when online, the cached copy with --offline."""
        cached = self.cache_dir / "index" / url_key(url)
        if self.offline:
            if cached.is_file():
                return cached.read_text()
            raise self._not_cached(url)
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=cached.parent, prefix=".partial.")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._download_with_retries(url, tmp, label, quiet=True)
            os.replace(tmp, cached)
        except NotFound:
            raise
        except DownloadFailed as exc:
            if not cached.is_file():
                raise
            self.log.warn(f"{exc}; using the copy cached earlier")
        finally:
            tmp.unlink(missing_ok=True)
        return cached.read_text()

    def install(self, url: str, sha256: str | None, dest: Path, *, strip_components: int = 0,
                label: str | None = None) -> Tree:
        """Put the files of the archive at `url` at `dest` (which must not exist): hard links into the tree
        unpacked in the cache, copies where links cannot be made. Return that cached tree."""
        dest = Path(dest)
        if dest.exists() or dest.is_symlink():
            raise DownloadFailed(f"cannot install {url} into {dest}: it exists; remove it first")
        tree = self.tree(url, sha256, strip_components=strip_components, label=label)
        try:
            try:
                _link_tree(tree, dest)
            except FileNotFoundError:  # the cached tree went away meanwhile (--clear-cache): once more
                shutil.rmtree(dest, ignore_errors=True)
                tree = self.tree(url, sha256, strip_components=strip_components, label=label)
                _link_tree(tree, dest)
        except OSError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise DownloadFailed(f"could not install {url} into {dest}: {exc.strerror}; check the "
                                 "directory and the free space") from None
        return tree

    def tree(self, url: str, sha256: str | None, *, strip_components: int = 0,
             label: str | None = None) -> Tree:
        """The archive at `url` unpacked in the cache, downloaded and unpacked only when no intact copy is
        there. Buildpacks must not write into it; `install` gives an app its own view of it."""
        expected = (sha256 or self._pinned(url) or "").lower() or None
        name = label or self._name(url)
        if expected:
            slot = self._tree_dir(expected, strip_components)
            if (entries := self._intact(slot, name)) is not None:
                return Tree(slot / "tree", expected, sha256 is not None, entries, reused=True)
        download = self.fetch(url, sha256, label=label)
        slot = self._tree_dir(download.sha256, strip_components)
        _unpack_tree(download.path, slot, strip_components)
        entries = self._intact(slot, name)
        if entries is None:
            raise DownloadFailed(f"{slot} changed while it was unpacked; build again")
        return Tree(slot / "tree", download.sha256, download.verified, entries, reused=False)

    def _not_cached(self, url: str) -> DownloadFailed:
        return DownloadFailed(f"--offline: {url} is not in the cache {self.cache_dir}; "
                              "run the build once online or drop --offline")

    def _tree_dir(self, sha256: str, strip_components: int) -> Path:
        return self.cache_dir / "unpacked" / f"{sha256}-strip{strip_components}"

    def _intact(self, slot: Path, name: str) -> tuple[Entry, ...] | None:
        """The manifest of the tree in `slot` when every entry still matches it; otherwise the slot is
        discarded (renamed aside, then removed) and None is returned."""
        if not slot.is_dir():
            return None
        entries = _read_manifest(slot / MANIFEST)
        changed = MANIFEST if entries is None else _first_change(slot / "tree", entries)
        if changed is None:
            return entries
        self.log.warn(f"the cache's unpacked {name} changed since it was unpacked ({changed}): a build "
                      "wrote into it; unpacking it again")
        _discard(slot)
        return None

    # -- cache layout -------------------------------------------------------------------------------

    def _cached(self, url: str, sha256: str) -> Path | None:
        """The cached file if it still has the digest it was stored under; a damaged one is removed."""
        path = self._slot(url, sha256) / self._name(url)
        if not path.is_file():
            return None
        if file_sha256(path) == sha256:
            return path
        self.log.warn(f"cached {path.name} no longer matches its sha256; downloading it again")
        path.unlink(missing_ok=True)
        return None

    def _slot(self, url: str, sha256: str) -> Path:
        return self.cache_dir / "downloads" / f"{url_key(url)}-{sha256}"

    def _name(self, url: str) -> str:
        return posixpath.basename(urllib.parse.urlsplit(url).path) or "download"

    def _pin_file(self, url: str) -> Path:
        return self.cache_dir / "pins" / url_key(url)

    def _pinned(self, url: str) -> str | None:
        pin = self._pin_file(url)
        return pin.read_text().strip() if pin.is_file() else None

    def _pin(self, url: str, sha256: str) -> None:
        pin = self._pin_file(url)
        pin.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=pin.parent, prefix=".pin.")
        with os.fdopen(fd, "w") as fh:
            fh.write(sha256 + "\n")
        os.replace(tmp, pin)

    # -- transfer -----------------------------------------------------------------------------------

    def _download_with_retries(self, url: str, dest: Path, label: str | None, quiet: bool = False) -> None:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(BACKOFF_MAX_S, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                time.sleep(delay)
            try:
                self._download_once(url, dest, label, quiet)
                return
            except _Retryable as exc:
                last = str(exc)
        raise DownloadFailed(f"could not download {url} after {self.retries + 1} attempts: {last}")

    def _download_once(self, url: str, dest: Path, label: str | None, quiet: bool) -> None:
        """One attempt; a partial file left by an earlier attempt is resumed with a Range request."""
        if urllib.parse.urlsplit(url).scheme == "file":
            _copy_local(url, dest)
            return
        have = dest.stat().st_size
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout_s, headers=headers)
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        with response:
            start = have if response.status_code == 206 and _range_start(response) == have else 0
            if response.status_code != 200 and not start:
                dest.write_bytes(b"")  # whatever the server meant, the next attempt starts afresh
                _refuse(url, response.status_code)
            length = response.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else None
            written = self._stream(response, dest, label, start, total, quiet)
        if total is not None and written != total:
            raise _Retryable(f"body ended after {written} of {total} bytes")

    def _stream(self, response: requests.Response, dest: Path, label: str | None, start: int,
                total: int | None, quiet: bool) -> int:
        written = start
        progress = contextlib.nullcontext(lambda n: None) if quiet else self.log.progress(label or "", total)
        try:
            with open(dest, "ab" if start else "wb") as fh, progress as advance:
                advance(start)
                for chunk in response.iter_content(CHUNK_B):
                    fh.write(chunk)
                    written += len(chunk)
                    advance(len(chunk))
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        return written


def _prune_stale(staging: Path, prefix: str = "") -> None:
    """Remove what builds killed mid-download (or mid-unpack) left behind; a running one's is younger."""
    cutoff = time.time() - STALE_PARTIAL_S
    for leftover in staging.glob(f"{prefix}*"):
        with contextlib.suppress(OSError):  # another build may remove it first
            if leftover.lstat().st_mtime < cutoff:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()


def _range_start(response: requests.Response) -> int | None:
    """The first byte a 206 response carries, from `Content-Range: bytes START-END/TOTAL`."""
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    first = rest.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _refuse(url: str, status: int) -> None:
    if status >= 500 or status in (206, 416, 429):  # 206/416: a resume gone wrong
        raise _Retryable(f"HTTP {status}")
    if status == 404:
        raise NotFound(f"could not download {url}: HTTP 404; check the version and the mirror")
    raise DownloadFailed(f"could not download {url}: HTTP {status}; check the version and the mirror")


def _copy_local(url: str, dest: Path) -> None:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if not source.is_file():
        raise NotFound(f"{url} does not exist; check the mirror directory")
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise DownloadFailed(f"could not read {url}: {exc.strerror}; check the mirror directory") from None


class UnsafeArchive(DownloadFailed):
    """An archive member that would land or point outside the target directory."""

    def __init__(self, archive: Path, member: str, why: str) -> None:
        super().__init__(f"refusing to extract {archive.name}: member {member!r} {why}")


def _stripped(name: str, strip_components: int) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) <= strip_components:
        return None
    return "/".join(parts[strip_components:])


def _check_member(archive: Path, member: tarfile.TarInfo, name: str, strip_components: int) -> None:
    """Refuse what could land outside the target; hard links are renamed like the member they point at."""
    if member.name.startswith("/") or ".." in member.name.split("/"):
        raise UnsafeArchive(archive, member.name, "would land outside the target directory")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchive(archive, member.name, "is not a regular file, directory or link")
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


def extract(archive: Path, dest: Path, *, strip_components: int = 0) -> None:
    """Unpack a tar archive into `dest` (which must not exist yet), refusing any member that would land
    outside it: absolute paths, `..`, links pointing out, devices. `dest` appears only when complete; when
    another process completes the same `dest` first (a shared cache), its copy is kept."""
    dest = Path(dest)
    if dest.is_dir() and any(dest.iterdir()):
        raise DownloadFailed(f"cannot unpack {archive.name} into {dest}: it is not empty; remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial."))
    _fill_and_move(archive, staging, dest, functools.partial(_extract_into, archive, strip_components))


def _fill_and_move(archive: Path, staging: Path, dest: Path, fill: Callable[[Path], None]) -> None:
    """`fill(staging)` with what `archive` holds, then rename staging to `dest`; any failure is one
    DownloadFailed naming the archive, and the staging directory never outlives the call."""
    try:
        fill(staging)
        _move_into_place(staging, dest)
    except (tarfile.TarError, EOFError, OSError, zlib_ng.error, zstandard.ZstdError) as exc:
        raise DownloadFailed(f"could not unpack {archive}: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _extract_into(archive: Path, strip_components: int, staging: Path) -> None:
    with _open_tar(archive) as tf, _Writers() as writers:
        for member in tf:
            name = _stripped(member.name, strip_components)
            if name is None:
                continue
            _check_member(archive, member, name, strip_components)
            member.name = name
            if member.isfile() and member.size <= UNPACK_BUFFERED_MAX_B:
                safe = tarfile.data_filter(member, str(staging))  # the checks tf.extract applies
                source = tf.extractfile(member)
                assert source is not None  # a regular file always has data
                writers.write(os.path.join(staging, safe.name), source.read(), safe.mode, safe.mtime)
                continue
            if member.islnk():
                writers.drain()  # its target may still be on its way to disk
            tf.extract(member, staging, set_attrs=not member.issym(), filter="data")


class _Writers:
    """Small archive members written on a few threads; `drain()` waits for them and raises their errors."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(UNPACK_THREADS, thread_name_prefix="unpack")
        self._slots = threading.BoundedSemaphore(UNPACK_IN_FLIGHT)
        self._pending: list[Future[None]] = []
        self._made: set[str] = set()

    def write(self, path: str, data: bytes, mode: int | None, mtime: float) -> None:
        parent = os.path.dirname(path)
        if parent not in self._made:  # created here, in archive order, never raced by two writers
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        self._slots.acquire()
        future = self._pool.submit(_write_member, path, data, mode, mtime)
        future.add_done_callback(lambda _: self._slots.release())
        self._pending.append(future)

    def drain(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._pool.shutdown(wait=True)
        if exc_type is None:
            self.drain()


def _write_member(path: str, data: bytes, mode: int | None, mtime: float) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
    if mode is not None:
        os.chmod(path, mode)
    os.utime(path, (mtime, mtime))


def _move_into_place(staging: Path, dest: Path) -> None:
    try:
        os.replace(staging, dest)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not dest.is_dir():
            raise


def clear_cache(directory: Path, *, keep: Collection[str] = ()) -> None:
    """Empty `directory`, a cache other builds may be using right now, but for the names in `keep`.

    Every entry is first renamed into one hidden directory (each rename is atomic), and only then is that
    directory removed. So a concurrent build never meets a half-deleted runtime: the files it already
    opened or hard-linked into its app stay intact, and whatever it looks up afterwards is simply not
    cached any more, so it downloads and unpacks it again. (A Go toolchain it is running from the cache
    goes away under it, and that build fails; build it again.)
    """
    directory = Path(directory)
    trash = Path(tempfile.mkdtemp(dir=directory, prefix=".clearing."))
    for name in os.listdir(directory):
        if name in keep or name == trash.name:
            continue
        with contextlib.suppress(FileNotFoundError):  # another --clear-cache moved it first
            os.replace(directory / name, trash / name)
    with contextlib.suppress(FileNotFoundError):  # a concurrent --clear-cache took our trash to delete
        shutil.rmtree(trash)


# -- unpacked trees ------------------------------------------------------------------------------------
#
# Hard links share bytes with the cache, so a build that rewrites a linked file in place (`npm i -g` into
# .heroku/node, say) rewrites the cached copy too. Breaking links on write cannot be done for the programs
# a buildpack runs, so instead each tree keeps a manifest (path, size, mtime_ns, mode) written when it was
# unpacked and checked (one lstat per entry) before every reuse; any difference discards the tree and the
# archive is unpacked again. Files that are replaced (unlink, then create) never touch the cache. Left
# open: a build that rewrites a file while another build is linking the same tree.

def _unpack_tree(archive: Path, final: Path, strip_components: int) -> None:
    """Unpack `archive` into final/tree with final/manifest.json, in a temporary directory renamed into
    place, so no build ever sees a half-unpacked tree; when another build wins the race, its tree stays."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _prune_stale(final.parent, ".partial.")
    _prune_stale(final.parent, ".discard.")
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".partial."))
    _fill_and_move(archive, staging, final, functools.partial(_fill_tree, archive, strip_components))


def _fill_tree(archive: Path, strip_components: int, staging: Path) -> None:
    (staging / "tree").mkdir()
    _extract_into(archive, strip_components, staging / "tree")
    (staging / MANIFEST).write_text(json.dumps(_scan(staging / "tree")))


def _scan(root: Path) -> list[Entry]:
    """Every entry under `root`, each directory before what it holds."""
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
                else:
                    entries.append(Entry("f", path, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), ""))
    return entries


def _read_manifest(path: Path) -> tuple[Entry, ...] | None:
    try:
        entries = tuple(Entry(*row) for row in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return entries if all(entry.kind in _KINDS for entry in entries) else None


def _first_change(root: Path, entries: tuple[Entry, ...]) -> str | None:
    """The first entry that no longer matches the manifest, or None when the tree is as unpacked."""
    for entry in entries:
        try:
            st = os.lstat(os.path.join(root, entry.path))
        except OSError:
            return entry.path
        if not _KINDS[entry.kind](st.st_mode):
            return entry.path
        if entry.kind == "f" and (st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode)) != (
                entry.size, entry.mtime_ns, entry.mode):
            return entry.path
    return None


def _discard(slot: Path) -> None:
    """Rename `slot` aside (atomic: no build sees it half-removed), then remove it."""
    aside = Path(tempfile.mkdtemp(dir=slot.parent, prefix=".discard."))
    with contextlib.suppress(FileNotFoundError):  # another build discarded it first
        os.replace(slot, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _link_tree(tree: Tree, dest: Path) -> None:
    """Recreate `tree` at `dest`: directories and symlinks are new, files are hard links (or copies)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.mkdir()
    for entry in tree.entries:
        target = os.path.join(dest, entry.path)
        if entry.kind == "d":
            os.mkdir(target)
        elif entry.kind == "l":
            os.symlink(entry.target, target)
        else:
            _link_or_copy(os.path.join(tree.path, entry.path), target)
    for entry in reversed(tree.entries):  # last, so a read-only directory is filled first
        if entry.kind == "d":
            os.chmod(os.path.join(dest, entry.path), entry.mode)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copy2(source, target)
