"""Downloads for buildpacks: a verified cache keyed by URL and checksum, retries, offline use, safe extraction."""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import random
import shutil
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from zlib_ng import gzip_ng

from slugbuild import __version__
from slugbuild.errors import DownloadFailed
from slugbuild.log import BuildLog

CHUNK_B = 1 << 20
TIMEOUT_S = 30
RETRIES = 5
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
USER_AGENT = f"slugbuild/{__version__}"


@dataclass(frozen=True)
class Download:
    """A file in the cache whose sha256 is known; `verified` is False when it was pinned, not checked."""

    path: Path
    sha256: str
    verified: bool


class NotFound(DownloadFailed):
    """The server (or the mirror directory) says the file does not exist: a 404, not a transient failure."""


class _Retryable(Exception):
    """A transient failure (connection, 5xx, short body) worth another attempt."""


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def file_sha256(path: Path) -> str:
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

    # -- public -------------------------------------------------------------------------------------

    def fetch(self, url: str, sha256: str | None, *, label: str | None = None) -> Download:
        """The cached, verified file for `url`. Without a sha256 the first download's digest is pinned
        and every later use is checked against it."""
        expected = (sha256 or self._pinned(url) or "").lower() or None
        if expected:
            cached = self._slot(url, expected) / self._name(url)
            if cached.is_file():
                return Download(cached, expected, sha256 is not None)
        if self.offline:
            raise DownloadFailed(f"--offline: {url} is not in the cache {self.cache_dir}; "
                                 "run the build once online or drop --offline")
        staging = self.cache_dir / "downloads" / ".partial"
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=staging, prefix=self._name(url) + ".")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._download_with_retries(url, tmp, label or self._name(url))
            actual = file_sha256(tmp)
            if expected and actual != expected:
                raise DownloadFailed(f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                                     "the download or the mirror is corrupt")
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
            raise DownloadFailed(f"--offline: {url} is not in the cache {self.cache_dir}; "
                                 "run the build once online or drop --offline")
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=cached.parent, prefix=".partial.")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._download_with_retries(url, tmp, label, quiet=True)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)
        return cached.read_text()

    # -- cache layout -------------------------------------------------------------------------------

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
        if urllib.parse.urlsplit(url).scheme == "file":
            source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
            if not source.is_file():
                raise NotFound(f"{url} does not exist; check the mirror directory")
            shutil.copyfile(source, dest)
            return
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        with response:
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code == 404:
                raise NotFound(f"could not download {url}: HTTP 404; check the version and the mirror")
            if response.status_code != 200:
                raise DownloadFailed(f"could not download {url}: HTTP {response.status_code}; "
                                     "check the version and the mirror")
            total = int(response.headers["Content-Length"]) if "Content-Length" in response.headers else None
            written = self._stream(response, dest, label, total, quiet)
        if total is not None and written != total:
            raise _Retryable(f"body ended after {written} of {total} bytes")

    def _stream(self, response: requests.Response, dest: Path, label: str | None, total: int | None,
                quiet: bool) -> int:
        written = 0
        progress = contextlib.nullcontext(lambda n: None) if quiet else self.log.progress(label or "", total)
        try:
            with open(dest, "wb") as fh, progress as advance:
                for chunk in response.iter_content(CHUNK_B):
                    fh.write(chunk)
                    written += len(chunk)
                    advance(len(chunk))
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        return written


class UnsafeArchive(DownloadFailed):
    def __init__(self, archive: Path, member: str, why: str) -> None:
        super().__init__(f"refusing to extract {archive.name}: member {member!r} {why}")


def _stripped(name: str, strip_components: int) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) <= strip_components:
        return None
    return "/".join(parts[strip_components:])


def _check_member(archive: Path, member: tarfile.TarInfo, name: str) -> None:
    if member.name.startswith("/") or ".." in member.name.split("/"):
        raise UnsafeArchive(archive, member.name, "would land outside the target directory")
    if not (member.isfile() or member.isdir() or member.issym()):
        raise UnsafeArchive(archive, member.name, "is not a regular file, directory or symlink")
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise UnsafeArchive(archive, member.name, f"links outside the target ({member.linkname})")


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    with open(archive, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b"\x1f\x8b":
            with gzip_ng.GzipFile(fileobj=raw, mode="rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tf:
                yield tf
        else:
            with tarfile.open(fileobj=raw, mode="r|*") as tf:
                yield tf


def extract(archive: Path, dest: Path, *, strip_components: int = 0) -> None:
    """Unpack a tar archive into `dest` (which must not exist yet), refusing any member that would land
    outside it: absolute paths, `..`, links pointing out, devices. `dest` appears only when complete."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial."))
    try:
        with _open_tar(archive) as tf:
            for member in tf:
                name = _stripped(member.name, strip_components)
                if name is None:
                    continue
                _check_member(archive, member, name)
                member.name = name
                tf.extract(member, staging, set_attrs=not member.issym(), filter="data")
        os.replace(staging, dest)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadFailed(f"could not unpack {archive}: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
