"""The Node.js buildpack: package.json apps, node from the upstream index, npm, yarn or pnpm."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from slugbuild.buildpacks.node import (
    cache_directories,
    concurrency,
    failures,
    inventory,
    notices,
    npm,
    package_json,
    package_manager,
    preflight,
    runtime,
    versions,
    yarn,
)
from slugbuild.buildpacks.node.cache import ModulesCache, signature
from slugbuild.buildpacks.node.cache_directories import CacheDirectories
from slugbuild.buildpacks.node.package_json import PackageJson
from slugbuild.buildpacks.node.package_manager import PackageManager

from slugbuild import app_files
from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo
from slugbuild.errors import BuildFailed, CommandFailed
from slugbuild.inventory import Inventory

MCP_LINE = re.compile(r"^[^\S\n]*mcp.*:", re.MULTILINE)
SECRET_HINTS = ("TOKEN", "AUTH", "PASSWORD", "SECRET", "KEY")
SHOWN_PREFIXES = ("NPM_CONFIG_", "YARN_", "NODE_")
CACHE_PATH_VARS = ("NPM_CONFIG_CACHE", "YARN_CACHE_FOLDER", "NPM_CONFIG_STORE_DIR")
NO_START_WARNING = ("This app may not specify any way to start a node process: add a start script to "
                    "package.json, a server.js, or a Procfile")


class ScriptFailed(BuildFailed):
    def __init__(self, script: str, status: int, output: Sequence[str] = ()) -> None:
        cause = failures.explain_script(output)
        super().__init__(f"the {script!r} script failed. {cause}" if cause else
                         f"the {script!r} script in package.json failed with exit status {status}; its "
                         "output is above: fix the script and build again")


class InstallFailed(BuildFailed):
    def __init__(self, argv: list[str], status: int, output: Sequence[str] = ()) -> None:
        cause, command = failures.explain_install(output), " ".join(argv)
        super().__init__(f"`{command}` failed. {cause}" if cause else
                         f"`{command}` failed with exit status {status}; its output is above: fix the "
                         "dependencies and build again")


class NodeBuildpack:
    """Heroku's Node.js buildpack, in Python: same detection, versions, scripts, pruning and defaults."""

    name = "node"
    aliases = ("heroku/nodejs",)

    def detect(self, app_dir: Path) -> Detection | None:
        if not (app_dir / "package.json").is_file():
            return None
        try:
            preflight.check(app_dir, package_json.read(app_dir))
        except BuildFailed as exc:
            return Detection("Node.js", error=str(exc))
        return Detection("Node.js")

    def why_not_detected(self, app_dir: Path) -> str | None:
        """Heroku's bin/detect words when package.json is missing because an ignore file lists it."""
        return preflight.ignored_package_json(app_dir)

    def compile(self, ctx: BuildContext) -> None:
        pkg = package_json.read(ctx.app_dir)
        preflight.check(ctx.app_dir, pkg)
        runtime.check_node_home(ctx.app_dir)
        pm = package_manager.choose(ctx.app_dir, pkg)
        release = yarn.check_berry(ctx.app_dir, pkg, ctx.config) if pm.berry else None
        build_flags = package_manager.build_flags(ctx.config)
        if warning := notices.checked_in_modules(ctx.app_dir):
            ctx.log.warn(warning)
        env = self._runtime_environment(ctx)
        if pm.berry:
            env.update(yarn.berry_env(ctx.app_dir, ctx.config))
        node_version, node_home = self._install_node(ctx, pkg, env)
        npm_version = npm.ensure(ctx, pkg, node_home, env)
        self._install_package_manager(ctx, pkg, pm, env, release)
        runtime.write_profile(ctx.app_dir)
        concurrency.write_profile(ctx.app_dir)
        self._run_script(ctx, pkg, pm, "heroku-prebuild", env)
        tools = [ctx.stack, f"node {node_version}", f"npm {npm_version}", f"{pm.name} {pm.version_spec()}"]
        sig = signature(ctx.app_dir, [*tools, " ".join(install_command(pm, env))])
        custom = cache_directories.for_app(ctx.cache_dir, pkg, pm.name)
        if custom is not None and env.get("NODE_MODULES_CACHE") != "false":
            ctx.log.step("Restoring cache")
            custom.restore(ctx, "; ".join(tools))
        restored = self._install_dependencies(ctx, pkg, pm, env, sig, modules_cache=custom is None)
        self._build(ctx, pkg, pm, env, build_flags)
        self._save_cache(ctx, env, sig, restored, custom, "; ".join(tools))
        self._prune(ctx, pm, env)
        self._run_script(ctx, pkg, pm, "heroku-cleanup", env)
        if not has_start(ctx.app_dir, pkg) and not (ctx.app_dir / "Procfile").is_file():
            ctx.log.warn(NO_START_WARNING)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        # As Heroku's bin/release: `npm start` always (npm falls back to server.js), none when the
        # Procfile declares an MCP server, which is started by its client, not as a web dyno.
        web = {} if has_mcp_process(ctx.app_dir) else {"web": "npm start"}
        return ReleaseInfo(process_types=web, description="Node.js")

    def inventory(self, ctx: BuildContext) -> Inventory:
        """What the lockfile put into node_modules, for the SBOM."""
        return inventory.read(ctx.app_dir)

    # -- the steps of compile -------------------------------------------------------------------------

    def _runtime_environment(self, ctx: BuildContext) -> dict[str, str]:
        ctx.log.step("Creating runtime environment")
        env = package_manager.build_env(ctx.config, ctx.cache_dir, offline=ctx.offline)
        for key in sorted(shown_variables(env)):
            ctx.log.info(f"{key}={env[key]}")
        return env

    def _install_node(self, ctx: BuildContext, pkg: PackageJson, env: Mapping[str, str]) -> tuple[str, Path]:
        ctx.log.step("Installing binaries")
        requested = pkg.engine("node")
        ctx.log.info(f"engines.node (package.json): {requested if requested is not None else 'unspecified'}")
        wide = env.get("NODEJS_ALLOW_WIDE_RANGE", "").lower() == "true"
        return self.install_node(ctx, requested, allow_wide_range=wide)

    def install_node(self, ctx: BuildContext, requested: str | None = None, *,
                     allow_wide_range: bool = False) -> tuple[str, Path]:
        """Resolve `requested` (None: the newest LTS) and install it into .heroku/node as this buildpack
        does, verified and recorded; the version and NODE_HOME. Other buildpacks (Ruby, for its assets)
        call it with their context rather than carrying a Node.js installer of their own."""
        runtime.check_node_home(ctx.app_dir)
        base = runtime.mirror_base(ctx)
        resolution = runtime.pinned(ctx)  # `slugbuild verify`: the report names the release, no index needed
        if resolution is None:
            index = runtime.index(ctx, base)
            try:
                resolution = versions.resolve(requested, index, allow_wide_range=allow_wide_range)
            except versions.NodeVersionNotFound:
                if base == runtime.UPSTREAM:
                    raise
                raise runtime.MissingFromMirror(requested, base, index.suggestion()) from None
            self._warn_about_version(ctx, resolution, index)
        why = (f"{requested} from {versions.ENGINES_SOURCE}" if resolution.source == versions.ENGINES_SOURCE
               else resolution.source)
        ctx.log.step(f"Installing node {resolution.version} ({why})")
        node_home = runtime.install(ctx, resolution, base)
        # As Heroku's export: the app's own tools are on PATH for later steps and buildpacks, last.
        ctx.export("PATH", f"{ctx.env['PATH']}{os.pathsep}{ctx.app_dir / 'node_modules' / '.bin'}")
        return resolution.version, node_home

    def _warn_about_version(self, ctx: BuildContext, resolution: versions.Resolution,
                            index: versions.NodeIndex) -> None:
        """Heroku's warnings on the chosen node: capped at the LTS, a range over majors, end-of-life."""
        requested = resolution.requested
        if resolution.capped_from:
            ctx.log.warn(f"engines.node {requested!r} in package.json also matches {resolution.capped_from}, "
                         f"above the newest LTS; using {resolution.version} (pin a major such as "
                         f"\"{index.suggestion()}\", or set NODEJS_ALLOW_WIDE_RANGE=true)")
        for warning in (notices.wide_range(requested, index),
                        notices.end_of_life(resolution.version, index)):
            if warning:
                ctx.log.warn(warning)

    def _install_package_manager(self, ctx: BuildContext, pkg: PackageJson, pm: PackageManager,
                                 env: Mapping[str, str], release: str | None) -> None:
        extra = yarn.extra_yarn(pkg, pm)
        if extra is not None:  # as Heroku: installed, though npm or pnpm installs the dependencies
            self._npm_global(ctx, extra.npm_package(), env)
        if pm.name == "npm":
            return
        if release is not None:
            if pkg.package_manager and pkg.package_manager[0] == "yarn":
                ctx.log.warn(f"packageManager {'@'.join(pkg.package_manager)!r} in package.json is not what "
                             f"runs: yarnPath in .yarnrc.yml ({release}) does; keep only one of them")
            yarn.install_release_shim(ctx, release)
            return
        if pm.name == "pnpm" and pm.requested is None:
            ctx.log.warn("No pnpm version in packageManager or engines.pnpm; installing the latest pnpm "
                         "(pin one with \"packageManager\": \"pnpm@<version>\")")
        self._npm_global(ctx, pm.npm_package(), env)

    def _npm_global(self, ctx: BuildContext, spec: str, env: Mapping[str, str]) -> None:
        ctx.log.info(f"Installing {spec} with npm")
        ctx.run(["npm", "install", "--global", spec], env=env)

    def _install_dependencies(self, ctx: BuildContext, pkg: PackageJson, pm: PackageManager,
                              env: Mapping[str, str], sig: str, modules_cache: bool = True) -> bool:
        """Install, or restore node_modules from the cache (True) when its signature still holds."""
        ctx.log.step("Installing dependencies")
        cache = ModulesCache(ctx.cache_dir, ctx.log)
        committed = (ctx.app_dir / "node_modules").exists()
        usable = modules_cache and not committed and env.get("NODE_MODULES_CACHE") != "false"
        if usable and cache.restore(ctx.app_dir, sig):
            what = pm.lockfile or "package.json"
            ctx.log.info(f"Restored node_modules from the cache ({what}, node, npm and stack unchanged)")
            return True
        if not (pm.lockfile or committed or pkg.has_dependencies() or pkg.has_install_scripts()):
            ctx.log.info("No dependencies and no install scripts in package.json: nothing to install")
            return False
        argv = install_command(pm, env) + (pm.offline_flags() if ctx.offline else [])
        ctx.log.info(f"Running {' '.join(argv)}")
        self._run_tool(ctx, argv, env)
        return False

    @staticmethod
    def _run_tool(ctx: BuildContext, argv: list[str], env: Mapping[str, str]) -> None:
        """Run a package manager; its failure is explained as Heroku explains it, when it is a known one."""
        try:
            ctx.run(argv, env=env)
        except CommandFailed as exc:
            raise InstallFailed(exc.argv, exc.status, exc.tail) from None

    def _build(self, ctx: BuildContext, pkg: PackageJson, pm: PackageManager, env: Mapping[str, str],
               build_flags: list[str]) -> None:
        ctx.log.step("Build")
        script = next((s for s in ("heroku-postbuild", "build") if pkg.has_script(s)), None)
        if script is None:
            ctx.log.info("No build script (heroku-postbuild or build) in package.json")
            return
        # As on Heroku, NODE_BUILD_FLAGS reach `build` only: heroku-postbuild is the app's own command.
        self._run_script(ctx, pkg, pm, script, env, build_flags if script == "build" else [])

    def _run_script(self, ctx: BuildContext, pkg: PackageJson, pm: PackageManager, script: str,
                    env: Mapping[str, str], args: list[str] | None = None) -> None:
        if not pkg.has_script(script):
            return
        argv = pm.run_script(script, args or [])
        ctx.log.info(f"Running {' '.join(argv[1:]) if args else script}")
        try:
            ctx.run(argv, env=env)
        except CommandFailed as exc:
            raise ScriptFailed(script, exc.status, exc.tail) from None

    def _save_cache(self, ctx: BuildContext, env: Mapping[str, str], sig: str, restored: bool,
                    custom: CacheDirectories | None, tools_sig: str) -> None:
        ctx.log.step("Caching build")
        cache = ModulesCache(ctx.cache_dir, ctx.log)
        if env.get("NODE_MODULES_CACHE") == "false":
            cache.clear()
            if custom is not None:
                custom.clear(ctx)
            ctx.log.info("Skipped: NODE_MODULES_CACHE is false")
        elif custom is not None:  # as Heroku: the app's list replaces the default cache
            cache.clear()
            custom.save(ctx, tools_sig)
        elif restored:
            ctx.log.info("Skipped: the cached node_modules is already this build's")
        else:
            cache.save(ctx.app_dir, sig)

    def _prune(self, ctx: BuildContext, pm: PackageManager, env: Mapping[str, str]) -> None:
        ctx.log.step("Pruning devDependencies")
        argv = pm.prune()
        if not package_manager.should_prune(env):
            ctx.log.info("Skipped: NODE_ENV is not production, or NPM_CONFIG_PRODUCTION is set")
        elif pm.berry:
            self._prune_berry(ctx, env)
        elif not (ctx.app_dir / "node_modules").is_dir():
            ctx.log.info("Skipped: no node_modules")
        elif argv is not None:
            self._run_tool(ctx, argv + (pm.offline_flags() if ctx.offline else []), env)

    def _prune_berry(self, ctx: BuildContext, env: Mapping[str, str]) -> None:
        if env.get("YARN2_SKIP_PRUNING") == "true":
            ctx.log.info("Skipped: YARN2_SKIP_PRUNING is true")
            return
        ctx.log.info("Running yarn slugbuild prune")
        self._run_tool(ctx, ["yarn", "slugbuild", "prune"], {**env, **yarn.prune_env()})
        if yarn.uses_node_modules(ctx.app_dir):  # the packages are in node_modules: the zips are not needed
            ctx.log.info("Removing the local yarn cache to keep the slug small")
            shutil.rmtree(ctx.app_dir / ".yarn" / "cache", ignore_errors=True)


def install_command(pm: PackageManager, env: Mapping[str, str]) -> list[str]:
    return pm.install(package_manager.is_production_only(env), package_manager.forces_npm_install(env))


def has_mcp_process(app_dir: Path) -> bool:
    """The Procfile has a line Heroku's bin/release reads as an `mcp` process type (`^\\s*mcp.*:`)."""
    text = app_files.read_text(app_dir, "Procfile") or ""
    return MCP_LINE.search(text) is not None


def has_start(app_dir: Path, pkg: PackageJson) -> bool:
    """npm start works: a start script, or a server.js that npm falls back to."""
    return pkg.has_script("start") or (app_dir / "server.js").is_file()


def shown_variables(env: Mapping[str, str]) -> list[str]:
    """The variables Heroku prints under "Creating runtime environment", secrets and cache paths left out."""
    return [k for k in env if k.startswith(SHOWN_PREFIXES) and k not in CACHE_PATH_VARS
            and not any(hint in k for hint in SECRET_HINTS)]
