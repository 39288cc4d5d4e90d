"""Heroku's pre-flight checks: an app that cannot be built right fails before anything is installed."""

from __future__ import annotations

from pathlib import Path

from slugbuild.buildpacks.node import package_manager
from slugbuild.buildpacks.node.package_json import PackageJson

from slugbuild.errors import BuildFailed

SHRINKWRAP = "npm-shrinkwrap.json"
ENGINE_MANAGERS = ("npm", "yarn", "pnpm")
CORE_PACKAGE_MANAGERS = ("yarn", "pnpm")  # the packageManager names Heroku counts; npm there is ignored


class ShrinkwrapConflict(BuildFailed):
    def __init__(self, lockfile: str) -> None:
        super().__init__(f"{SHRINKWRAP} and {lockfile} are both committed, but only one lockfile can "
                         f"decide what is installed; delete the one you do not use (`git rm {SHRINKWRAP}` "
                         f"to keep {lockfile})")


class IojsRequested(BuildFailed):
    def __init__(self, requested: str) -> None:
        super().__init__(f"engines.iojs {requested!r} in package.json: io.js merged back into Node.js and "
                         "is no longer built; remove engines.iojs and set engines.node, such as \"24.x\"")


class ConflictingPackageManagers(BuildFailed):
    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"package.json declares more than one package manager ({'; '.join(fields)}); "
                         "keep the one you use and remove the others")


def check(app_dir: Path, pkg: PackageJson) -> None:
    """Raise the first of Heroku's pre-flight failures that applies to the app, if any."""
    package_manager.check_lockfiles(app_dir)
    check_shrinkwrap(app_dir)
    check_iojs(pkg)
    check_declared_managers(pkg)


def check_shrinkwrap(app_dir: Path) -> None:
    """npm-shrinkwrap.json beside a modern lockfile: npm, yarn or pnpm would each read a different one."""
    if not (app_dir / SHRINKWRAP).is_file():
        return
    found = next((name for name in package_manager.HEROKU_LOCKFILES if (app_dir / name).is_file()), None)
    if found:
        raise ShrinkwrapConflict(found)


def check_iojs(pkg: PackageJson) -> None:
    requested = pkg.engine("iojs")
    if requested:
        raise IojsRequested(requested)


def declared_managers(pkg: PackageJson) -> dict[str, list[str]]:
    """Package manager name -> the package.json fields that declare it (engines.* and packageManager)."""
    declared: dict[str, list[str]] = {}
    for name in ENGINE_MANAGERS:
        value = pkg.engine(name)
        if value:
            declared.setdefault(name, []).append(f"engines.{name} {value!r}")
    named = pkg.package_manager
    if named and named[0] in CORE_PACKAGE_MANAGERS:
        declared.setdefault(named[0], []).append(f"packageManager '{named[0]}@{named[1]}'")
    return declared


def check_declared_managers(pkg: PackageJson) -> None:
    declared = declared_managers(pkg)
    if len(declared) > 1:
        raise ConflictingPackageManagers([field for fields in declared.values() for field in fields])


IGNORE_FILES = {
    ".slugignore": "the '.slugignore' file is removing it before the build begins; remove that line "
                   "(https://devcenter.heroku.com/articles/slug-compiler#ignoring-files-with-slugignore)",
    ".gitignore": "the '.gitignore' file is preventing it from being checked in; remove that line and commit "
                  "package.json (https://devcenter.heroku.com/articles/gitignore)",
}


def ignored_package_json(app_dir: Path) -> str | None:
    """Why package.json is missing, when .slugignore or .gitignore has a line that is exactly its name."""
    if (app_dir / "package.json").exists():
        return None
    for name, why in IGNORE_FILES.items():
        path = app_dir / name
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        if "package.json" in lines:
            return f"'package.json' listed in '{name}' file: no package.json was found because {why}"
    return None
