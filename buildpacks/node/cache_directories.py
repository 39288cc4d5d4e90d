"""package.json's cacheDirectories (or cache_directories): the directories Heroku keeps between builds in
place of its default cache (lib/cache.sh), restored before the install while node, npm, the package manager
and the stack are unchanged, and saved after the build."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from slugbuild.buildpacks.node.package_json import PackageJson

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed

FIELDS = ("cacheDirectories", "cache_directories")  # Heroku reads the first that names any


class BadCacheDirectory(BuildFailed):
    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} in package.json: {value!r} is not a directory inside the app; list "
                         "relative paths such as \"node_modules\" or \".next/cache\"")


def declared(pkg: PackageJson) -> tuple[str, list[str]] | None:
    """The field and the paths it lists, checked; None when package.json sets neither field."""
    for field in FIELDS:
        value = pkg.data.get(field)
        if value is None or value == []:
            continue
        if not isinstance(value, list):
            raise BadCacheDirectory(field, value)
        return field, [_checked(field, entry) for entry in value]
    return None


def _checked(field: str, entry: object) -> str:
    path = PurePosixPath(entry) if isinstance(entry, str) and entry.strip() else None
    if path is None or path.is_absolute() or ".." in path.parts or path.as_posix() == ".":
        raise BadCacheDirectory(field, entry)
    return path.as_posix()


def _inside(app_dir: Path, rel: str) -> bool:
    """No part of `rel` is a link: copying it in or out never reads or writes outside the app."""
    path = app_dir
    for part in PurePosixPath(rel).parts:
        path = path / part
        if path.is_symlink():
            return False
    return True


def _copy(source: Path, target: Path) -> None:
    """A directory (links inside kept as links, merged with what is there) or a file."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def for_app(cache_dir: Path, pkg: PackageJson, package_manager: str) -> CacheDirectories | None:
    """The app's cacheDirectories, or None when it keeps Heroku's default cache."""
    found = declared(pkg)
    if found is None:
        return None
    return CacheDirectories(cache_dir, found[0], found[1], skip_node_modules=package_manager == "pnpm")


class CacheDirectories:
    """The listed directories, kept in the buildpack's cache beside the signature they were saved with."""

    def __init__(self, cache_dir: Path, field: str, paths: list[str], skip_node_modules: bool) -> None:
        self.root = cache_dir / "directories"
        self.signature_file = cache_dir / "directories.signature"
        self.field, self.paths, self.skip_node_modules = field, paths, skip_node_modules

    def _skipped(self, rel: str) -> bool:
        # As Heroku: pnpm's node_modules is links into its store, which is cached instead.
        return self.skip_node_modules and PurePosixPath(rel).parts[0] == "node_modules"

    def restore(self, ctx: BuildContext, sig: str) -> None:
        """Put each saved directory back, unless the app has it; nothing when the signature changed."""
        ctx.log.info(f"Loading from {self.field} (package.json):")
        saved = self.signature_file.read_text().strip() if self.signature_file.is_file() else None
        if saved != sig.strip():
            why = ("nothing saved yet" if saved is None
                   else "node, npm, the package manager or the stack changed")
            ctx.log.info(f"- not restored: {why}")
            return
        for rel in self.paths:
            target, kept = ctx.app_dir / rel, self.root / rel
            if self._skipped(rel):
                ctx.log.info(f"- {rel} (skipping because pnpm is used)")
            elif target.exists() or target.is_symlink():
                ctx.log.info(f"- {rel} (exists - skipping)")
            elif not kept.exists() or not _inside(ctx.app_dir, str(PurePosixPath(rel).parent)):
                ctx.log.info(f"- {rel} (not cached - skipping)")
            else:
                ctx.log.info(f"- {rel}")
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(kept, target)

    def save(self, ctx: BuildContext, sig: str) -> None:
        """Replace what is saved with the app's directories as they are now."""
        ctx.log.info(f"Saving {self.field} (package.json):")
        self.signature_file.unlink(missing_ok=True)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root.parent, prefix=".directories."))
        try:
            for rel in self.paths:
                self._save_one(ctx, rel, staging)
            shutil.rmtree(self.root, ignore_errors=True)
            os.replace(staging, self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.signature_file.write_text(sig.strip() + "\n")

    def _save_one(self, ctx: BuildContext, rel: str, staging: Path) -> None:
        source = ctx.app_dir / rel
        if self._skipped(rel):
            ctx.log.info(f"- {rel} (skipping because pnpm is used)")
        elif not _inside(ctx.app_dir, rel) or not (source.is_dir() or source.is_file()):
            ctx.log.info(f"- {rel} (nothing to cache)")
        else:
            ctx.log.info(f"- {rel}")
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            _copy(source, staging / rel)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.signature_file.unlink(missing_ok=True)
