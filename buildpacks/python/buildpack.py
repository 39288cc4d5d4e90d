"""The Python buildpack: a lockfile in; Python, the app's packages and the dyno's profile out."""

from __future__ import annotations

from pathlib import Path

from slugbuild.buildpacks.python import (
    cache,
    django,
    install,
    inventory,
    package_manager,
    profile,
    relocate,
    runtime,
    tools,
    versions,
)

from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo
from slugbuild.errors import BuildFailed
from slugbuild.inventory import Inventory

VENV_DIRS = (".venv", "venv")
UV_NOTE = ("uv is now Heroku's recommended Python package manager: it supports lockfiles, is faster and "
           "gives more helpful errors (https://docs.astral.sh/uv/)")


class PythonBuildpack:
    """Detects a Python app; installs the Python it names and its locked packages; runs collectstatic."""

    name = "python"
    aliases = ("heroku/python",)

    def __init__(self) -> None:
        self.manager: str | None = None
        self.request: versions.PythonRequest | None = None

    def detect(self, app_dir: Path) -> Detection | None:
        if not package_manager.is_python_project(app_dir):
            return None
        try:
            package_manager.determine(app_dir)
        except BuildFailed as exc:
            return Detection("Python", error=str(exc))
        return Detection("Python")

    def compile(self, ctx: BuildContext) -> None:
        runtime.check_stack(ctx.stack)
        python_home = ctx.app_dir / runtime.PYTHON_HOME
        _check_app_dir(ctx.app_dir)
        self.manager = manager = package_manager.determine(ctx.app_dir)
        _check_venvs(ctx.app_dir)
        self.request = request = versions.request(ctx.app_dir, manager)
        install.check_lockfile(ctx.app_dir, manager)
        _announce(ctx, request)
        tree = runtime.install(ctx, request)
        ctx.prepend_path(python_home / "bin")
        env = {**tools.tool_env(ctx, python_home), **install.manager_env(manager, python_home)}
        key = cache.key(ctx.app_dir, manager, tools.VERSIONS[manager], tree.sha256, ctx.stack)
        restored = cache.restore(ctx, key, python_home)
        tool_bin = self._tools(ctx, tree.path, request.major, env)
        if tool_bin is not None:
            env["PATH"] = f"{tool_bin}:{env['PATH']}"
        install.install(ctx, manager, env, tool_bin)
        relocate.portable_scripts(python_home)
        django.collectstatic(ctx, python_home, env)
        relocate.editable_paths(python_home, ctx.app_dir)
        profile.write(ctx, manager)
        if not restored:  # the same key installs the same packages: what is stored stays right
            cache.store(ctx, key, python_home, (entry.path for entry in tree.entries))
        if manager != "uv":
            ctx.log.info(UV_NOTE)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        # Heroku's Python buildpack offers no default process types: the Procfile names them.
        return ReleaseInfo(description="Python")

    def inventory(self, ctx: BuildContext) -> Inventory:
        """What the package manager installed into .heroku/python, for the SBOM."""
        lockfile = install.LOCKFILES.get(self.manager or "", "requirements.txt")
        return inventory.read(ctx.app_dir, ctx.app_dir / runtime.PYTHON_HOME, lockfile)

    def _tools(self, ctx: BuildContext, runtime_tree: Path, major: str, env: dict[str, str]) -> Path | None:
        python_home = ctx.app_dir / runtime.PYTHON_HOME
        if self.manager == "pip":
            tools.install_pip(ctx, python_home, major, env)
            return None
        assert self.manager is not None
        return tools.install_tool(ctx, self.manager, runtime_tree, major, env)


def _announce(ctx: BuildContext, request: versions.PythonRequest) -> None:
    if request.source == "default":
        ctx.log.step("No Python version was specified. Using the buildpack default: "
                     f"Python {versions.DEFAULT_MAJOR}")
    else:
        ctx.log.step(f"Using Python {request.requested} specified in {request.source}")
    for warning in request.warnings:
        ctx.log.warn(warning)


def _check_app_dir(app_dir: Path) -> None:
    for name in (".heroku",):
        path = app_dir / name
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise BuildFailed(f"'{name}' in the app is a link or a file, but the build writes a directory "
                              f"there; remove '{name}' from the app")
    if (app_dir / runtime.PYTHON_HOME).exists():
        raise BuildFailed("Existing '.heroku/python/' directory found: the Python buildpack installs "
                          "Python there; delete it from the app (or from the step that created it)")


def _check_venvs(app_dir: Path) -> None:
    for name in VENV_DIRS:
        if (app_dir / name / "pyvenv.cfg").is_file():
            raise BuildFailed(f"Existing '{name}/' directory found: a virtual environment only works on "
                              f"the machine that made it; run 'git rm --cached -r {name}/' and add "
                              f"'{name}/' to .gitignore")
