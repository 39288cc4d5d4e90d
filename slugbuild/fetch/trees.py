"""Archives unpacked once in the cache (runtimes), each with a manifest, handed to apps as hard links.

Hard links share bytes with the cache, so a build that rewrites a linked file in place (`npm i -g` into
.heroku/node, say) rewrites the cached copy too. Breaking links on write cannot be done for the programs a
buildpack runs, so instead each tree keeps a manifest (slugbuild.fetch.manifest: every entry and every
file's sha256) written when it was unpacked and checked before every reuse; any difference discards the
tree and the archive is unpacked again. Files that are replaced
(unlink, then create) never touch the cache. Left open: a build that rewrites a file while another build
is linking and checking the same tree (that other build may then run the rewritten file, and its slug,
which takes the checked files' digests from the check, may hold the bytes as they were checked).
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from slugbuild.fetch import manifest
from slugbuild.fetch.cache import prune_stale
from slugbuild.fetch.manifest import MANIFEST, Entry
from slugbuild.fetch.unpack import extract_into, fill_and_move

# Link failures that mean "not here", not "broken": another filesystem, no hard links, too many links.
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP)
MKDIR_THREADS = 4


@dataclass(frozen=True)
class Tree:
    """An archive unpacked in the cache, shared by every build using that cache, with its manifest;
    `reused` is False when this build unpacked it."""

    path: Path
    sha256: str
    verified: bool
    entries: tuple[Entry, ...]
    reused: bool


@dataclass(frozen=True)
class Checked:
    """The files of a tree whose content a check just read and found as listed, for whoever reads them
    next: by path in the tree, the (device, inode) read and its sha256; `done_ns` when the check ended.
    Nothing this build runs wrote to them before then; what anyone writes later changes their ctime."""

    files: Mapping[str, tuple[tuple[int, int], str]]
    done_ns: int

    @classmethod
    def of(cls, entries: tuple[Entry, ...], inodes: Mapping[str, tuple[int, int]]) -> Checked:
        return cls({e.path: (inodes[e.path], e.sha256) for e in entries if e.path in inodes}, time.time_ns())


def unpack_tree(archive: Path, final: Path, strip_components: int) -> bool:
    """Unpack `archive` into final/tree with final/manifest.json, in a temporary directory renamed into
    place, so no build ever sees a half-unpacked tree; when another build wins the race, its tree stays
    (and False is returned)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    prune_stale(final.parent, ".partial.")
    prune_stale(final.parent, ".discard.")
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".partial."))
    return fill_and_move(archive, staging, final, functools.partial(_fill_tree, archive, strip_components))


def _fill_tree(archive: Path, strip_components: int, staging: Path) -> None:
    (staging / "tree").mkdir()
    digests = extract_into(archive, strip_components, staging / "tree")
    manifest.write(staging / MANIFEST, manifest.scan(staging / "tree", digests))


def link_tree(tree: Tree, dest: Path) -> None:
    """Recreate `tree` at `dest`: directories and symlinks are new, files are hard links (or copies)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.mkdir()
    levels: dict[int, list[Entry]] = {}
    for entry in tree.entries:
        levels.setdefault(entry.path.count("/"), []).append(entry)
    # A level at a time, so that each parent is there first. mkdir waits on the filesystem more than on
    # the CPU (ext4: 0.3 ms each), so several go at once. The files of a level are linked before the
    # next level's directories are made: the big ones near the top (bin/node) get their ctime early, and
    # whoever reads them soon after finds them settled (subtree.is_settled).
    with ThreadPoolExecutor(MKDIR_THREADS, thread_name_prefix="mkdir") as pool:
        for depth in sorted(levels):
            dirs = [os.path.join(dest, e.path) for e in levels[depth] if e.kind == "d"]
            list(pool.map(os.mkdir, dirs, chunksize=4))
            for entry in levels[depth]:
                _place(tree.path, dest, entry)
    for entry in reversed(tree.entries):  # last, so a read-only directory is filled first
        if entry.kind == "d":
            os.chmod(os.path.join(dest, entry.path), entry.mode)


def _place(source_root: Path, dest: Path, entry: Entry) -> None:
    target = os.path.join(dest, entry.path)
    if entry.kind == "l":
        os.symlink(entry.target, target)
    elif entry.kind == "f":
        _link_or_copy(os.path.join(source_root, entry.path), target)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copy2(source, target)
