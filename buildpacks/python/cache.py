"""Installed packages kept between builds: what the package manager added to .heroku/python (everything
the runtime archive did not hold) is stored under a key made of the lockfile, Python, the stack and the
tool's version, and put back when a build has the same key, as Heroku's lib/cache.sh restores
.heroku/python when none of those changed. The cache is shared by every app built with it, so entries
are kept per key (the newest few) rather than one per app. Each is a slugbuild.dircache entry: sealed with a
manifest of its content when stored and checked against it, byte for byte, when put back."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from slugbuild.buildpacks.python.install import LOCKFILES

from slugbuild.buildpack import BuildContext
from slugbuild.dircache import DirCache

KEEP_ENTRIES = 8  # the newest installs kept; older ones are pruned when a new one is stored


def key(app_dir: Path, manager: str, tool_version: str, python_sha256: str, stack: str) -> str:
    """A digest of everything that decides what gets installed."""
    digest = hashlib.sha256()
    for part in (manager, tool_version, python_sha256, stack):
        digest.update(part.encode() + b"\0")
    for name in (LOCKFILES[manager], "pyproject.toml"):
        path = app_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _entries(ctx: BuildContext) -> DirCache:
    def damaged(changed: str) -> None:
        ctx.log.warn(f"the cached packages for this lockfile, Python and stack were changed after they were "
                     f"stored ({changed}); discarding them and installing again")

    return DirCache(ctx.cache_dir / ctx.stack / "installed", ctx.log, "the installed packages", KEEP_ENTRIES,
                    on_damage=damaged)


def restore(ctx: BuildContext, cache_key: str, python_home: Path) -> bool:
    """Put the packages stored under `cache_key` into `python_home`; False when there is no intact copy."""
    with tempfile.TemporaryDirectory(dir=python_home.parent, prefix=".restoring-") as scratch:
        packages = Path(scratch) / "packages"
        if not _entries(ctx).restore(cache_key, packages):
            ctx.log.step("No cached packages for this lockfile, Python and stack: installing them all")
            return False
        ctx.log.step("Restoring cache")
        _move_into(packages, python_home)
    return True


def store(ctx: BuildContext, cache_key: str, python_home: Path, runtime_paths: Iterable[str]) -> None:
    """Keep what the install added to `python_home` under `cache_key`, replacing it atomically."""
    ctx.log.step("Saving cache")
    added = functools.partial(_copy_added, runtime_paths=set(runtime_paths))
    _entries(ctx).save(cache_key, python_home, copy=added)


def _move_into(source: Path, dest: Path) -> None:
    """Move everything under `source` into `dest`, merging the directories both have. A file is renamed
    over, never written into: the runtime's files are hard links into the cache."""
    for item in os.scandir(source):
        target = dest / item.name
        if item.is_dir(follow_symlinks=False) and target.is_dir() and not target.is_symlink():
            _move_into(Path(item.path), target)
        else:
            os.replace(item.path, target)


def _copy_added(root: Path, dest: Path, runtime_paths: set[str]) -> None:
    """Copy every file and link under `root` whose path the runtime archive does not have."""
    dest.mkdir()
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in runtime_paths:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            source = Path(directory) / name
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copy2(source, target)
