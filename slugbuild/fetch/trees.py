"""Archives unpacked once in the cache (runtimes), each with a manifest, handed to apps as hard links.

Hard links share bytes with the cache, so a build that rewrites a linked file in place (`npm i -g` into
.heroku/node, say) rewrites the cached copy too. Breaking links on write cannot be done for the programs a
buildpack runs, so instead each tree keeps a manifest written when it was unpacked and checked before
every reuse; any difference discards the tree and the archive is unpacked again. Files that are replaced
(unlink, then create) never touch the cache. Left open: a build that rewrites a file while another build
is linking the same tree.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from slugbuild.fetch.cache import prune_stale
from slugbuild.fetch.unpack import extract_into, fill_and_move

MANIFEST = "manifest.json"
# Link failures that mean "not here", not "broken": another filesystem, no hard links, too many links.
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP)
_KINDS = {"d": stat.S_ISDIR, "f": stat.S_ISREG, "l": stat.S_ISLNK}


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


def unpack_tree(archive: Path, final: Path, strip_components: int) -> None:
    """Unpack `archive` into final/tree with final/manifest.json, in a temporary directory renamed into
    place, so no build ever sees a half-unpacked tree; when another build wins the race, its tree stays."""
    final.parent.mkdir(parents=True, exist_ok=True)
    prune_stale(final.parent, ".partial.")
    prune_stale(final.parent, ".discard.")
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".partial."))
    fill_and_move(archive, staging, final, functools.partial(_fill_tree, archive, strip_components))


def _fill_tree(archive: Path, strip_components: int, staging: Path) -> None:
    (staging / "tree").mkdir()
    extract_into(archive, strip_components, staging / "tree")
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


def read_manifest(path: Path) -> tuple[Entry, ...] | None:
    """The entries of a manifest, or None when it cannot be read as one."""
    try:
        entries = tuple(Entry(*row) for row in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return entries if all(entry.kind in _KINDS for entry in entries) else None


def first_change(root: Path, entries: tuple[Entry, ...]) -> str | None:
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


def link_tree(tree: Tree, dest: Path) -> None:
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
