"""Yarn as Heroku sets it up: the app's own Yarn 2+ release (`yarnPath` in .yarnrc.yml), the yarn that
engines.yarn asks for even without a yarn.lock, and Yarn 2+'s devDependency pruning."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml
from slugbuild.buildpacks.node.package_json import PackageJson
from slugbuild.buildpacks.node.package_manager import LEADING_MAJOR, PackageManager

from slugbuild import app_files
from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed

YARNRC = ".yarnrc.yml"
YARN_HOME = Path(".heroku") / "yarn"  # on PATH in .profile.d/nodejs.sh, as Heroku's
PRUNE_PLUGIN = "prune_dev_dependencies.js"
# The shim finds the app from its own place (.heroku/yarn/bin), so it works in the build and on a dyno.
SHIM = """#!/bin/sh
# The app's own Yarn release ({path} in .yarnrc.yml), run by the node on PATH.
exec node "$(dirname "$0")/../../../{path}" "$@"
"""


class YarnSetupFailed(BuildFailed):
    """Yarn 2+ cannot be set up the way the app describes it."""


def settings(app_dir: Path) -> dict[str, object]:
    """.yarnrc.yml as a mapping ({} when absent); YarnSetupFailed naming the file when it is not YAML."""
    text = app_files.read_text(app_dir, YARNRC)
    if text is None:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise YarnSetupFailed(f"{YARNRC} is not valid YAML{at}; fix it (`yarn config` shows what Yarn "
                              "reads)") from None
    return data if isinstance(data, dict) else {}


def release_path(app_dir: Path) -> str | None:
    """The app's `yarnPath`, checked to name a file inside the app; None when .yarnrc.yml sets none."""
    value = settings(app_dir).get("yarnPath")
    if value is None:
        return None
    path = PurePosixPath(str(value))
    if path.is_absolute() or ".." in path.parts or not _is_plain(str(value)):
        raise YarnSetupFailed(f"yarnPath {value!r} in {YARNRC} must be a plain path inside the app, such "
                              "as \".yarn/releases/yarn-4.5.0.cjs\"; run `yarn set version <version>` and "
                              "commit it")
    if not (app_dir / path).is_file():
        raise YarnSetupFailed(f"Yarn was not found: yarnPath {value!r} in {YARNRC} is not in the app; commit "
                              "the .yarn directory (`yarn set version <version>` writes it)")
    return path.as_posix()


def declared_major(pkg: PackageJson) -> int | None:
    """The Yarn major packageManager or engines.yarn asks for, as Heroku's get_major_version reads them."""
    named = pkg.package_manager
    spec = named[1] if named and named[0] == "yarn" else pkg.engine("yarn")
    match = LEADING_MAJOR.match(spec or "")
    return int(match.group(1)) if match else None


def check_berry(app_dir: Path, pkg: PackageJson, env: Mapping[str, str]) -> str | None:
    """Heroku's Yarn 2+ pre-flight; the app's yarnPath, or None when a declared Yarn 2+ is to be installed."""
    if "YARN_PRODUCTION" in env:
        keep = "false" if env["YARN_PRODUCTION"] == "true" else "true"
        raise YarnSetupFailed("Unsupported Yarn configuration: YARN_PRODUCTION stops Yarn 2+ while it loads "
                              f"its settings; unset it and set YARN2_SKIP_PRUNING={keep} instead")
    major = declared_major(pkg)
    if major is None or major < 2:  # yarn 1 would only hand over to a vendored release: it must be there
        if not (app_dir / YARNRC).is_file():
            raise YarnSetupFailed(f"The 'yarnrc.yml' file is not found: yarn.lock is Yarn 2+'s, which needs "
                                  f"{YARNRC} to name its release; run `yarn set version berry` and commit "
                                  ".yarnrc.yml and .yarn/releases")
        if settings(app_dir).get("yarnPath") is None:
            raise YarnSetupFailed(f"The 'yarnPath' could not be read from the 'yarnrc.yml' file ({YARNRC}); "
                                  "run `yarn set version berry` and commit .yarnrc.yml and .yarn/releases, "
                                  "or name a Yarn 2+ in packageManager")
    return release_path(app_dir)


def install_release_shim(ctx: BuildContext, release: str) -> None:
    """Put a `yarn` that runs the app's release first on PATH, for the build and for the dyno."""
    bin_dir = ctx.app_dir / YARN_HOME / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "yarn"
    shim.write_text(SHIM.format(path=release))
    shim.chmod(0o755)
    ctx.prepend_path(bin_dir)
    ctx.log.info(f"Using the app's own Yarn release {release} (yarnPath in {YARNRC})")


def _is_plain(path: str) -> bool:
    """Letters, digits and `._-/+@` only: the path is written into a shell script as it is."""
    return bool(path) and all(c.isascii() and (c.isalnum() or c in "._-/+@") for c in path)


def extra_yarn(pkg: PackageJson, pm: PackageManager) -> PackageManager | None:
    """The yarn Heroku installs although yarn does not install the dependencies: engines.yarn or a yarn
    packageManager without a yarn.lock (bin/compile: "Download yarn if ... the user has specified")."""
    if pm.name == "yarn":
        return None
    named = pkg.package_manager
    requested = named[1] if named and named[0] == "yarn" else pkg.engine("yarn")
    return PackageManager("yarn", None, requested) if requested else None


def berry_env(app_dir: Path, config: Mapping[str, str]) -> dict[str, str]:
    """Where Yarn 2+ keeps its cache, as Heroku decides: inside the app when the cache is committed or
    Plug'n'Play needs it at runtime (the config var wins), else the build cache's."""
    cache = app_dir / ".yarn" / "cache"
    committed = cache.is_dir() and any(cache.iterdir())
    out: dict[str, str] = {}
    if (committed or not uses_node_modules(app_dir)) and "YARN_CACHE_FOLDER" not in config:
        out["YARN_CACHE_FOLDER"] = str(cache)
    if committed:
        out["YARN_ENABLE_IMMUTABLE_CACHE"] = config.get("YARN_ENABLE_IMMUTABLE_CACHE", "true")
    return out


def prune_env() -> dict[str, str]:
    """YARN_PLUGINS for `yarn slugbuild prune`: slugbuild's own plugin, which drops every workspace's
    devDependencies and reinstalls without touching package.json, as Heroku's plugin does."""
    plugin = resources.files("slugbuild.buildpacks.node").joinpath(PRUNE_PLUGIN)
    return {"YARN_PLUGINS": str(plugin)}


def uses_node_modules(app_dir: Path) -> bool:
    """nodeLinker node-modules: the packages live in node_modules, so .yarn/cache is not needed at runtime."""
    return settings(app_dir).get("nodeLinker") == "node-modules"
