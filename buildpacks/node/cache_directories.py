"""package.json's cacheDirectories (or cache_directories): the directories Heroku keeps between builds in
place of its default cache (lib/cache.sh), restored before the install while node, npm, the package manager
and the stack are unchanged, and saved after the build. They are kept as one slugbuild.dircache entry per
list and signature, checked byte for byte before anything is restored, and renamed into place whole."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from slugbuild.buildpacks.node.package_json import PackageJson

from slugbuild.buildpack import BuildContext
from slugbuild.dircache import DirCache
from slugbuild.errors import BuildFailed
from slugbuild.log import BuildLog

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
    """The listed directories, kept in the buildpack's cache under the signature they were saved with."""

    def __init__(self, cache_dir: Path, field: str, paths: list[str], skip_node_modules: bool) -> None:
        self.root = cache_dir / "directories"
        self.field, self.paths, self.skip_node_modules = field, paths, skip_node_modules

    def _skipped(self, rel: str) -> bool:
        # As Heroku: pnpm's node_modules is links into its store, which is cached instead.
        return self.skip_node_modules and PurePosixPath(rel).parts[0] == "node_modules"

    def _entries(self, ctx: BuildContext) -> DirCache:
        def damaged(changed: str) -> None:
            ctx.log.warn(f"the cached {self.field} directories were changed after they were saved "
                         f"({changed}); discarding them, the build makes them again")

        return DirCache(self.root, ctx.log, f"the {self.field} directories", on_damage=damaged)

    def _key(self, sig: str) -> str:
        return "\n".join([sig.strip(), *self.paths])

    def restore(self, ctx: BuildContext, sig: str) -> None:
        """Put each saved directory back, unless the app has it; nothing when the signature changed."""
        ctx.log.info(f"Loading from {self.field} (package.json):")
        with tempfile.TemporaryDirectory(dir=ctx.app_dir, prefix=".slugbuild-restoring-") as scratch:
            saved = Path(scratch) / "saved"
            if not self._entries(ctx).restore(self._key(sig), saved):
                ctx.log.info("- not restored: nothing saved for this node, npm, package manager and stack")
                return
            for rel in self.paths:
                self._restore_one(ctx, rel, saved / rel)

    def _restore_one(self, ctx: BuildContext, rel: str, kept: Path) -> None:
        target = ctx.app_dir / rel
        if self._skipped(rel):
            ctx.log.info(f"- {rel} (skipping because pnpm is used)")
        elif target.exists() or target.is_symlink():
            ctx.log.info(f"- {rel} (exists - skipping)")
        elif not kept.exists() or not _inside(ctx.app_dir, str(PurePosixPath(rel).parent)):
            ctx.log.info(f"- {rel} (not cached - skipping)")
        else:
            ctx.log.info(f"- {rel}")
            target.parent.mkdir(parents=True, exist_ok=True)
            kept.rename(target)

    def save(self, ctx: BuildContext, sig: str) -> None:
        """Keep the app's directories as they are now under this signature."""
        ctx.log.info(f"Saving {self.field} (package.json):")
        listed = functools.partial(self._copy_listed, ctx.log)
        self._entries(ctx).save(self._key(sig), ctx.app_dir, copy=listed)

    def _copy_listed(self, log: BuildLog, app_dir: Path, dest: Path) -> None:
        dest.mkdir()
        for rel in self.paths:
            self._save_one(log, app_dir, rel, dest)

    def _save_one(self, log: BuildLog, app_dir: Path, rel: str, staging: Path) -> None:
        source = app_dir / rel
        if self._skipped(rel):
            log.info(f"- {rel} (skipping because pnpm is used)")
        elif not _inside(app_dir, rel) or not (source.is_dir() or source.is_file()):
            log.info(f"- {rel} (nothing to cache)")
        else:
            log.info(f"- {rel}")
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            _copy(source, staging / rel)

    def clear(self, ctx: BuildContext) -> None:
        self._entries(ctx).clear()
