"""What buildpacks call: a verified file for a URL, an index, or a runtime unpacked once and linked in."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slugbuild import leases
from slugbuild.errors import DownloadFailed
from slugbuild.fetch import manifest
from slugbuild.fetch.cache import DownloadCache, discard, file_name, file_sha256
from slugbuild.fetch.download import BACKOFF_S, RETRIES, TIMEOUT_S, Downloader, NotFound
from slugbuild.fetch.manifest import MANIFEST, Entry
from slugbuild.fetch.trees import Checked, Tree, link_tree, unpack_tree
from slugbuild.log import BuildLog

UNPACKED_DIR = "unpacked"


@dataclass(frozen=True)
class Download:
    """A file in the cache whose sha256 is known; `verified` is False when it was pinned, not checked."""

    path: Path
    sha256: str
    verified: bool


class Fetcher:
    """Fetches runtimes into `cache_dir`, never leaving a partial or unverified file there.

    Downloads are keyed by URL and checksum, written to a temporary file and renamed once verified, so
    concurrent builds sharing a cache are safe.
    """

    def __init__(self, cache_dir: Path, log: BuildLog, *, offline: bool = False, retries: int = RETRIES,
                 backoff_s: float = BACKOFF_S, timeout_s: float = TIMEOUT_S, stall_s: float | None = None,
                 on_install: Callable[[Path, Checked | None], None] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.log = log
        self.offline = offline
        # Told where each runtime went (and what its check read), so the slug can start packing it.
        self.on_install = on_install
        self._leases: list[leases.Lease] = []
        self.cache = DownloadCache(self.cache_dir, log)
        self.downloader = Downloader(log, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
                                     stall_s=stall_s)

    def fetch(self, url: str, sha256: str | None, *, label: str | None = None,
              mirror: str | None = None) -> Download:
        """The cached, verified file for `url`. Without a sha256 the first download's digest is pinned
        and every later use is checked against it. `mirror` names the variable that points elsewhere."""
        expected = (sha256 or self.cache.pinned(url) or "").lower() or None
        if expected and (cached := self.cache.cached(url, expected)):
            return Download(cached, expected, sha256 is not None)
        if self.offline:
            raise self._not_cached(url)
        tmp = self.cache.partial(url)
        try:
            self.downloader.download(url, tmp, label or file_name(url), mirror=mirror)
            actual = file_sha256(tmp)
            if expected and actual != expected:
                pinned = "" if sha256 else " (pinned at its first download)"
                raise DownloadFailed(f"checksum mismatch for {url}: expected sha256 {expected}{pinned}, "
                                     f"got {actual}; the download or the mirror is corrupt")
            final = self.cache.store(tmp, url, actual)
        finally:
            tmp.unlink(missing_ok=True)
        if sha256 is None:
            self.cache.pin(url, actual)
        return Download(final, actual, sha256 is not None)

    def fetch_text(self, url: str, *, label: str | None = None, mirror: str | None = None) -> str:
        """An index file (JSON, SHASUMS256.txt): fresh when online, the cached copy with --offline or when
        the download fails, and only while that copy is as it was downloaded."""
        if self.offline:
            if (kept := self.cache.index_copy(url)) is not None:
                return kept
            raise self._not_cached(url)
        tmp = self.cache.partial(url, beside=self.cache.index_file(url))
        try:
            self.downloader.download(url, tmp, label, quiet=True, mirror=mirror)
            return self.cache.keep_index(url, tmp)
        except NotFound:
            raise
        except DownloadFailed as exc:
            if (kept := self.cache.index_copy(url)) is None:
                raise
            self.log.warn(f"{exc}; using the copy cached earlier")
            return kept
        finally:
            tmp.unlink(missing_ok=True)

    def install(self, url: str, sha256: str | None, dest: Path, *, strip_components: int = 0,
                label: str | None = None, mirror: str | None = None) -> Tree:
        """Put the files of the archive at `url` at `dest` (which must not exist): hard links into the tree
        unpacked in the cache, copies where links cannot be made. Return that cached tree."""
        dest = Path(dest)
        if dest.exists() or dest.is_symlink():
            raise DownloadFailed(f"cannot install {url} into {dest}: it exists; remove it first")
        try:
            tree, checked = self._reuse_into(url, sha256, dest, strip_components, label or file_name(url))
            if tree is None:
                tree = self.tree(url, sha256, strip_components=strip_components, label=label, mirror=mirror)
                link_tree(tree, dest)
        except OSError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise DownloadFailed(f"could not install {url} into {dest}: {exc.strerror}; check the "
                                 "directory and the free space") from None
        if self.on_install is not None:
            self.on_install(dest, checked)
        return tree

    def _reuse_into(self, url: str, sha256: str | None, dest: Path, strip_components: int,
                    name: str) -> tuple[Tree | None, Checked | None]:
        """The intact cached tree for `url`, linked at `dest`, and what its check read; (None, None), with
        nothing at `dest`, when there is none. The links are made first and the content checked through
        them (neither runs anything), so the caller gets the tree only once it has passed."""
        expected = (sha256 or self.cache.pinned(url) or "").lower() or None
        if not expected:
            return None, None
        slot = self._tree_dir(expected, strip_components)
        if not self._hold(slot) or (entries := self._intact(slot, name, content=False)) is None:
            return None, None
        tree = Tree(slot / "tree", expected, sha256 is not None, entries, reused=True)
        try:
            link_tree(tree, dest)
        except FileNotFoundError:  # the cached tree went away meanwhile (--clear-cache)
            shutil.rmtree(dest, ignore_errors=True)
            return None, None
        # Read through the links: the very files the build will run and the slug will hold, so that the
        # slug need not read them again (trees.Checked).
        check = manifest.check_content(dest, entries)
        if check.changed is None:
            return tree, Checked.of(entries, check.inodes)
        shutil.rmtree(dest, ignore_errors=True)
        self._discard(slot, name, check.changed)
        return None, None

    def tree(self, url: str, sha256: str | None, *, strip_components: int = 0,
             label: str | None = None, mirror: str | None = None) -> Tree:
        """The archive at `url` unpacked in the cache, downloaded and unpacked only when no intact copy is
        there. Buildpacks must not write into it; `install` gives an app its own view of it."""
        expected = (sha256 or self.cache.pinned(url) or "").lower() or None
        name = label or file_name(url)
        if expected:
            slot = self._tree_dir(expected, strip_components)
            if self._hold(slot) and (entries := self._intact(slot, name)) is not None:
                return Tree(slot / "tree", expected, sha256 is not None, entries, reused=True)
        download = self.fetch(url, sha256, label=label, mirror=mirror)
        slot = self._tree_dir(download.sha256, strip_components)
        for _ in range(3):  # another build that found the old copy damaged may discard ours: unpack again
            # What this build unpacked was hashed as it was written: its listing is all there is to check.
            placed = unpack_tree(download.path, slot, strip_components)
            entries = self._intact(slot, name, content=not placed) if self._hold(slot) else None
            if entries is not None:
                return Tree(slot / "tree", download.sha256, download.verified, entries, reused=False)
        raise DownloadFailed(f"{slot} changed each time it was unpacked; check what else writes the cache")

    def close(self) -> None:
        """Let go of the unpacked trees this build used: pruning may remove them from now on."""
        for lease in self._leases:
            lease.release()
        self._leases.clear()

    def unpacked(self) -> list[Path]:
        """Every unpacked tree in the cache (for pruning)."""
        with contextlib.suppress(FileNotFoundError):
            return [p for p in (self.cache_dir / UNPACKED_DIR).iterdir() if not p.name.startswith(".")]
        return []

    def _hold(self, slot: Path) -> bool:
        """Lease `slot` until this process ends (a Go toolchain runs from it), so that pruning never
        removes a tree a build uses; False when the slot is not there."""
        lease = leases.take(slot)
        if lease is not None:
            self._leases.append(lease)
        return lease is not None

    def _not_cached(self, url: str) -> DownloadFailed:
        return DownloadFailed(f"--offline: {url} is not in the cache {self.cache_dir}; "
                              "run the build once online or drop --offline")

    def _tree_dir(self, sha256: str, strip_components: int) -> Path:
        return self.cache_dir / UNPACKED_DIR / f"{sha256}-strip{strip_components}"

    def _intact(self, slot: Path, name: str, *, content: bool = True) -> tuple[Entry, ...] | None:
        """The manifest of the tree in `slot` when every entry (and, with `content`, every file's content)
        still matches it; otherwise the slot is discarded (renamed aside, then removed) and None is
        returned."""
        if not slot.is_dir():
            return None
        entries = manifest.read(slot / MANIFEST)
        changed = MANIFEST if entries is None else manifest.first_change(slot / "tree", entries,
                                                                          content=content)
        if changed is None:
            return entries
        self._discard(slot, name, changed)
        return None

    def _discard(self, slot: Path, name: str, changed: str) -> None:
        self.log.warn(f"the cache's unpacked {name} changed since it was unpacked ({changed}): a build "
                      "wrote into it; unpacking it again")
        discard(slot)
