"""The download cache's layout: files keyed by URL and sha256, pins, index copies, and the clean-up of
what killed builds leave behind. Every write is a temporary file renamed into place, so builds sharing a
cache never see half a file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Collection
from pathlib import Path

from slugbuild.log import BuildLog

CHUNK_B = 1 << 20
STALE_PARTIAL_S = 24 * 3600


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


def file_name(url: str) -> str:
    """The last part of the URL's path: the name a download keeps in the cache."""
    return posixpath.basename(urllib.parse.urlsplit(url).path) or "download"


class DownloadCache:
    """Files at downloads/<url key>-<sha256>/<name>, pins at pins/<url key>, indexes at
    index/<url key>.sealed."""

    def __init__(self, root: Path, log: BuildLog) -> None:
        self.root = Path(root)
        self.log = log

    def cached(self, url: str, sha256: str) -> Path | None:
        """The cached file if it still has the digest it was stored under; a damaged one is removed."""
        path = self.slot(url, sha256) / file_name(url)
        if not path.is_file():
            return None
        if file_sha256(path) == sha256:
            return path
        self.log.warn(f"cached {path.name} no longer matches its sha256; downloading it again")
        path.unlink(missing_ok=True)
        return None

    def slot(self, url: str, sha256: str) -> Path:
        return self.root / "downloads" / f"{url_key(url)}-{sha256}"

    def partial(self, url: str, beside: Path | None = None) -> Path:
        """A new empty temporary file for a download of `url`, in the staging directory or `beside` the
        file it will replace; stale ones of killed builds are removed."""
        if beside is not None:
            beside.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=beside.parent, prefix=".partial.")
            os.close(fd)
            return Path(tmp_name)
        staging = self.root / "downloads" / ".partial"
        staging.mkdir(parents=True, exist_ok=True)
        prune_stale(staging)
        fd, tmp_name = tempfile.mkstemp(dir=staging, prefix=file_name(url) + ".")
        os.close(fd)
        return Path(tmp_name)

    def store(self, tmp: Path, url: str, sha256: str) -> Path:
        """Rename the verified download `tmp` into its slot; return where it now is."""
        slot = self.slot(url, sha256)
        slot.mkdir(parents=True, exist_ok=True)
        final = slot / file_name(url)
        os.replace(tmp, final)
        return final

    def index_file(self, url: str) -> Path:
        """Where the copy of the index at `url` is kept: its sha256 on the first line, then its text."""
        return self.root / "index" / f"{url_key(url)}.sealed"

    def keep_index(self, url: str, download: Path) -> str:
        """Keep the index just downloaded to `download` as the copy of `url`; return its text."""
        body = download.read_bytes()
        path = self.index_file(url)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"sha256 " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
        os.replace(tmp, path)
        return body.decode(errors="replace")

    def index_copy(self, url: str) -> str | None:
        """The text kept by `keep_index` for `url`, or None when there is none or it changed since it was
        kept (then it is removed, with one warning)."""
        path = self.index_file(url)
        try:
            header, _, body = path.read_bytes().partition(b"\n")
        except FileNotFoundError:
            return None
        if header == b"sha256 " + hashlib.sha256(body).hexdigest().encode():
            return body.decode(errors="replace")
        self.log.warn(f"the cached copy of {url} was changed after it was downloaded; discarding it")
        path.unlink(missing_ok=True)
        return None

    def pinned(self, url: str) -> str | None:
        pin = self._pin_file(url)
        return pin.read_text().strip() if pin.is_file() else None

    def pin(self, url: str, sha256: str) -> None:
        pin = self._pin_file(url)
        pin.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=pin.parent, prefix=".pin.")
        with os.fdopen(fd, "w") as fh:
            fh.write(sha256 + "\n")
        os.replace(tmp, pin)

    def _pin_file(self, url: str) -> Path:
        return self.root / "pins" / url_key(url)


def prune_stale(staging: Path, prefix: str = "") -> None:
    """Remove what builds killed mid-download (or mid-unpack) left behind; a running one's is younger."""
    cutoff = time.time() - STALE_PARTIAL_S
    for leftover in staging.glob(f"{prefix}*"):
        with contextlib.suppress(OSError):  # another build may remove it first
            if leftover.lstat().st_mtime < cutoff:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()


def discard(slot: Path) -> None:
    """Rename `slot` aside (atomic: no build sees it half-removed), then remove it."""
    aside = Path(tempfile.mkdtemp(dir=slot.parent, prefix=".discard."))
    with contextlib.suppress(FileNotFoundError):  # another build discarded it first
        os.replace(slot, aside)
    shutil.rmtree(aside, ignore_errors=True)


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
