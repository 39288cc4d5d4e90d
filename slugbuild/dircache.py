"""A directory kept in the build cache between builds (node_modules): one entry per key, each stored in a
temporary directory and renamed into place with a sealed manifest of its content, and checked against
that manifest every time it is restored.

Builds of different apps sharing one cache get entries under different keys, so neither replaces what
the other is reading; builds with the same key store equal entries, and the first rename wins. An entry
is never changed in place: a damaged one is renamed aside and removed, then built again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from slugbuild.fetch import manifest
from slugbuild.fetch.cache import discard, prune_stale
from slugbuild.log import BuildLog

KEEP_ENTRIES = 4  # per cache: a few apps (or branches) sharing one cache each keep theirs
_COPY = "dir"


class DirCache:
    """Saved copies of one directory of an app (`what`, e.g. "node_modules") under `root`.

    A damaged entry is discarded, then `on_damage` is told which path changed; by default it warns that
    the directory is installed again.
    """

    def __init__(self, root: Path, log: BuildLog, what: str, keep: int = KEEP_ENTRIES,
                 on_damage: Callable[[str], None] | None = None) -> None:
        self.root, self.log, self.what, self.keep = Path(root), log, what, keep
        self.on_damage = on_damage or self._warn_damaged

    def restore(self, key: str, dest: Path) -> bool:
        """Copy the entry for `key` to `dest` (which must not exist) and check the copy; False, with `dest`
        absent, when there is no intact entry (a damaged one is discarded with one warning)."""
        entry = self._entry(key)
        entries = manifest.read(entry / manifest.MANIFEST, key)
        if entries is None:
            if entry.is_dir():
                self._damaged(entry, manifest.MANIFEST)
            return False
        try:
            # The listing first (cheap, and nothing planted is copied), then every byte of the copy made.
            changed = manifest.first_change(entry / _COPY, entries, content=False)
            if changed is None:
                shutil.copytree(entry / _COPY, dest, symlinks=True)
                changed = manifest.first_change(dest, entries)
        except OSError:
            changed = "unreadable"
        if changed is not None:
            shutil.rmtree(dest, ignore_errors=True)
            if entry.is_dir():  # else pruned or cleared by another build meanwhile: simply not cached
                self._damaged(entry, str(changed))
            return False
        with contextlib.suppress(OSError):
            os.utime(entry)  # recently used: pruned last
        return True

    def save(self, key: str, source: Path, copy: Callable[[Path, Path], object] | None = None) -> None:
        """Store a copy of `source` under `key`, replacing an older one; when another build stores that key
        at the same moment, one of the two whole copies stays. `copy(source, dest)` makes the copy (dest
        does not exist yet) when not all of `source` is kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        prune_stale(self.root, ".partial.")
        prune_stale(self.root, ".discard.")
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".partial."))
        try:
            if copy is None:
                shutil.copytree(source, staging / _COPY, symlinks=True)
            else:
                copy(source, staging / _COPY)
            manifest.write(staging / manifest.MANIFEST, manifest.scan(staging / _COPY), key)
            self._rename_into_place(staging, self._entry(key))
        except OSError as exc:  # a FIFO or socket in it, a full disk: the build itself is fine
            why = exc.strerror or "a file that is not a regular file, directory or link"
            self.log.warn(f"could not keep {self.what} in the cache ({why}); the next build installs it "
                          "again")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._prune()

    @staticmethod
    def _rename_into_place(staging: Path, entry: Path) -> None:
        for attempt in range(2):
            try:
                os.rename(staging, entry)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            if attempt == 0:
                discard(entry)  # the older copy goes aside whole; a build reading it just misses

    def clear(self) -> None:
        """Discard every entry."""
        for entry in self._entries():
            discard(entry)

    def _entry(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:32]

    def _entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if not p.name.startswith(".")]

    def _prune(self) -> None:
        """Keep the `keep` most recently used entries."""
        def last_used(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        for entry in sorted(self._entries(), key=last_used, reverse=True)[self.keep:]:
            discard(entry)

    def _damaged(self, entry: Path, changed: str) -> None:
        discard(entry)
        self.on_damage(changed)

    def _warn_damaged(self, changed: str) -> None:
        self.log.warn(f"the cached {self.what} was changed after it was stored ({changed}); discarding it "
                      "and installing again")
