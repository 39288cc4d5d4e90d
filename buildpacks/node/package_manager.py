"""npm, yarn or pnpm: which one an app uses (by its lockfile), its environment and its commands."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slugbuild.buildpacks.node.package_json import PackageJson

from slugbuild import app_files
from slugbuild.errors import BuildFailed

LOCKFILES = {"package-lock.json": "npm", "npm-shrinkwrap.json": "npm", "yarn.lock": "yarn",
             "pnpm-lock.yaml": "pnpm"}
HEROKU_LOCKFILES = ("package-lock.json", "yarn.lock", "pnpm-lock.yaml")  # the ones Heroku counts
LEADING_MAJOR = re.compile(r"^[\s^~=v>]*(\d+)")
DEFAULT_VERSIONS = {"yarn": "1.22.x", "pnpm": "latest"}
# Heroku's export_env_dir: config vars that never reach the build's environment.
DENIED_CONFIG = re.compile(r"^(PATH|GIT_DIR|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LANG|BUILD_DIR)$")
BUILD_DEFAULTS = {
    "NODE_ENV": "production",
    "NPM_CONFIG_LOGLEVEL": "error",
    "NODE_MODULES_CACHE": "true",
    "NODE_VERBOSE": "false",
    "NODE_OPTIONS": "--max_old_space_size=2560",
    # Not Heroku's: keep builds from talking to the registry for anything but packages.
    "NPM_CONFIG_AUDIT": "false",
    "NPM_CONFIG_FUND": "false",
    "NPM_CONFIG_UPDATE_NOTIFIER": "false",
}
# --offline: npm (and pnpm, which reads npm's variables) and Yarn 2+ use only their caches.
OFFLINE_ENV = {"NPM_CONFIG_OFFLINE": "true", "YARN_ENABLE_NETWORK": "0"}


class MultipleLockfiles(BuildFailed):
    def __init__(self, found: list[str]) -> None:
        keep, *drop = found
        super().__init__(f"Multiple lockfiles found: {', '.join(found)}; keep the one of the "
                         f"package manager you use and delete the others (`git rm {' '.join(drop)}` "
                         f"to keep {keep})")


@dataclass(frozen=True)
class PackageManager:
    """The package manager an app uses and the lockfile that chose it (None: npm without a lockfile)."""

    name: str
    lockfile: str | None
    requested: str | None = None  # packageManager or engines.<name>
    berry: bool = False  # Yarn 2+, told apart by the `__metadata` key of yarn.lock

    def version_spec(self) -> str:
        return self.requested or DEFAULT_VERSIONS.get(self.name, "")

    def npm_package(self) -> str:
        """What `npm install --global` installs: Yarn 2+ is published as @yarnpkg/cli-dist, not as yarn."""
        spec = self.version_spec()
        major = LEADING_MAJOR.match(spec)
        if self.name == "yarn" and major and int(major.group(1)) >= 2:
            return f"@yarnpkg/cli-dist@{spec}"
        return f"{self.name}@{spec}"

    def install(self, production_only: bool, force_npm_install: bool = False) -> list[str]:
        """The dependency install command: devDependencies too, unless NPM_CONFIG_PRODUCTION says no;
        `npm ci` when there is an npm lockfile, unless USE_NPM_INSTALL forces `npm install`."""
        if self.name == "yarn":
            if self.berry:
                return ["yarn", "install", "--immutable"]
            return ["yarn", "install", f"--production={str(production_only).lower()}", "--frozen-lockfile",
                    "--ignore-engines", "--prefer-offline", "--non-interactive"]
        if self.name == "pnpm":
            return ["pnpm", "install", f"--prod={str(production_only).lower()}", "--frozen-lockfile"]
        verb = "ci" if self.lockfile and not force_npm_install else "install"
        return ["npm", verb, "--omit=dev" if production_only else "--include=dev"]

    def prune(self) -> list[str] | None:
        """The command that drops devDependencies, or None where Heroku's needs its own Yarn plugin."""
        if self.name == "yarn":
            if self.berry:
                return None
            return ["yarn", "install", "--production=true", "--frozen-lockfile", "--ignore-engines",
                    "--ignore-scripts", "--prefer-offline", "--non-interactive"]
        if self.name == "pnpm":
            return ["pnpm", "prune", "--prod"]
        return ["npm", "prune", "--omit=dev"]

    def offline_flags(self) -> list[str]:
        """What an install needs under --offline beyond OFFLINE_ENV: Yarn 1 reads no variable for it."""
        return ["--offline"] if self.name == "pnpm" or (self.name == "yarn" and not self.berry) else []

    def run_script(self, script: str, args: Sequence[str] = ()) -> list[str]:
        """`<pm> run <script>`, with `args` passed on to the script (npm needs `--` before them)."""
        if not args:
            return [self.name, "run", script]
        return [self.name, "run", script, *(["--"] if self.name == "npm" else []), *args]


def lockfiles(app_dir: Path) -> list[str]:
    return [name for name in LOCKFILES if app_files.path(app_dir, name) is not None]


def check_lockfiles(app_dir: Path) -> None:
    """Heroku's pre-flight check: at most one of package-lock.json, yarn.lock and pnpm-lock.yaml."""
    found = [name for name in HEROKU_LOCKFILES if (app_dir / name).is_file()]
    if len(found) > 1:
        raise MultipleLockfiles(found)


def choose(app_dir: Path, package_json: PackageJson) -> PackageManager:
    """The package manager the app's lockfile names (yarn.lock, pnpm-lock.yaml), else npm; the caller has
    already run the pre-flight checks, so there is at most one of Heroku's lockfiles."""
    found = lockfiles(app_dir)
    name = LOCKFILES[found[0]] if found else "npm"
    lockfile = found[0] if found else None
    declared = package_json.package_manager
    requested = declared[1] if declared and declared[0] == name else package_json.engine(name)
    berry = name == "yarn" and _is_berry_lockfile(app_dir)
    return PackageManager(name, lockfile, requested, berry)


def _is_berry_lockfile(app_dir: Path) -> bool:
    text = app_files.read_text(app_dir, "yarn.lock") or ""
    return any(line.startswith("__metadata:") for line in text.splitlines())


def build_env(config: Mapping[str, str], cache_dir: Path, offline: bool = False) -> dict[str, str]:
    """The variables npm, yarn and pnpm run with: Heroku's defaults, then the app's config vars (minus
    Heroku's deny list), and the package managers' own caches kept in the buildpack's cache directory
    (so an --offline build can install from them)."""
    env = dict(BUILD_DEFAULTS)
    env.update({k: v for k, v in config.items() if not DENIED_CONFIG.match(k)})
    if offline:
        env.update(OFFLINE_ENV)
    env.setdefault("NPM_CONFIG_CACHE", str(cache_dir / "npm"))
    env.setdefault("YARN_CACHE_FOLDER", str(cache_dir / "yarn"))
    env.setdefault("NPM_CONFIG_STORE_DIR", str(cache_dir / "pnpm-store"))
    return env


def forces_npm_install(env: Mapping[str, str]) -> bool:
    """USE_NPM_INSTALL set (to anything but false) makes npm install even with a lockfile, as on Heroku."""
    return env.get("USE_NPM_INSTALL", "").strip().lower() not in ("", "false")


def build_flags(env: Mapping[str, str]) -> list[str]:
    """NODE_BUILD_FLAGS split as a shell would: the arguments Heroku passes to the `build` script."""
    try:
        return shlex.split(env.get("NODE_BUILD_FLAGS", ""))
    except ValueError as exc:
        raise BuildFailed(f"NODE_BUILD_FLAGS cannot be split into arguments ({exc}); "
                          "close the quote or escape it") from None


def is_production_only(env: Mapping[str, str]) -> bool:
    """NPM_CONFIG_PRODUCTION=true (or YARN_PRODUCTION=true) installs without devDependencies."""
    return any(env.get(k, "").lower() == "true" for k in ("NPM_CONFIG_PRODUCTION", "YARN_PRODUCTION"))


def should_prune(env: Mapping[str, str]) -> bool:
    """Heroku prunes devDependencies unless NODE_ENV is not production or *_PRODUCTION is set."""
    if env.get("NODE_ENV", "production") != "production":
        return False
    return not any(k in env for k in ("NPM_CONFIG_PRODUCTION", "YARN_PRODUCTION"))
