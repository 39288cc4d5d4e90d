"""Installed packages kept between builds: what the package manager added to .heroku/python (everything
the runtime archive did not hold) is stored under a key made of the lockfile, Python, the stack and the
tool's version, and put back when a build has the same key, as Heroku's lib/cache.sh restores
.heroku/python when none of those changed. The cache is shared by every app built with it, so entries
are kept per key (the newest few) rather than one per app."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from slugbuild.buildpacks.python.install import LOCKFILES

from slugbuild.buildpack import BuildContext

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


def _entries(ctx: BuildContext) -> Path:
    return ctx.cache_dir / ctx.stack / "installed"


def restore(ctx: BuildContext, cache_key: str, python_home: Path) -> bool:
    """Copy the packages stored under `cache_key` into `python_home`; False when there are none."""
    stored = _entries(ctx) / cache_key
    if not stored.is_dir():
        ctx.log.step("No cached packages for this lockfile, Python and stack: installing them all")
        return False
    ctx.log.step("Restoring cache")
    shutil.copytree(stored, python_home, symlinks=True, dirs_exist_ok=True)
    os.utime(stored)  # most recently used: kept longest
    return True


def store(ctx: BuildContext, cache_key: str, python_home: Path, runtime_paths: Iterable[str]) -> None:
    """Keep what the install added to `python_home` under `cache_key`, replacing it atomically."""
    ctx.log.step("Saving cache")
    entries = _entries(ctx)
    entries.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entries, prefix=".partial-"))
    try:
        _copy_added(python_home, staging, set(runtime_paths))
        target = entries / cache_key
        old = target.with_name(f".old-{cache_key}-{os.getpid()}")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(entries)


def _copy_added(root: Path, dest: Path, runtime_paths: set[str]) -> None:
    """Copy every file and link under `root` whose path the runtime archive does not have."""
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


def _prune(entries: Path) -> None:
    stored = sorted((p for p in entries.iterdir() if not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[KEEP_ENTRIES:]:
        shutil.rmtree(old, ignore_errors=True)
