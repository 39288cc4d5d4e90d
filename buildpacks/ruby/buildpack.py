"""The Ruby buildpack: Gemfile.lock in; Ruby, the bundle and the app's defaults out."""

from __future__ import annotations

from pathlib import Path

from slugbuild.buildpacks.ruby import assets, bundler, framework, gemfile_lock, inventory, runtime
from slugbuild.buildpacks.ruby.versions import resolve

from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo, write_profile_script
from slugbuild.errors import BuildFailed
from slugbuild.inventory import Inventory

LOCK_MISSING = ("Gemfile.lock is missing: run `bundle install` (or `bundle lock`) and commit Gemfile.lock; "
                "the build installs exactly the gems it lists")


class RubyBuildpack:
    """Detects a Gemfile; installs the Ruby Gemfile.lock names and the bundle; Rails assets too."""

    name = "ruby"
    aliases = ("heroku/ruby",)

    def __init__(self) -> None:
        self._app: framework.Framework | None = None  # what compile found, rake tasks included

    def detect(self, app_dir: Path) -> Detection | None:
        if not (app_dir / "Gemfile").is_file():
            return None
        if not (app_dir / "Gemfile.lock").is_file():
            return Detection("Ruby", error=LOCK_MISSING)
        return Detection("Ruby")

    def compile(self, ctx: BuildContext) -> None:
        if not (ctx.app_dir / "Gemfile.lock").is_file():
            raise BuildFailed(LOCK_MISSING)
        lock = gemfile_lock.read(ctx.app_dir)
        request = resolve(ctx.app_dir, lock)
        for warning in request.warnings:
            ctx.log.warn(warning)
        ruby_dir = runtime.install(ctx, request)
        app = framework.detect(lock)
        env = bundler.bundle_env(ctx, request.version)
        self._export(ctx, ruby_dir, env)
        ctx.log.step("Installing dependencies using bundler")
        bundler.restore(ctx, request.version)
        bundler.install(ctx, env)
        bundler.store(ctx, request.version)
        if app.is_rails:
            tasks = assets.tasks_of(ctx, env, app)
            app = app.with_rake_tasks(tasks)
            assets.precompile(ctx, env, tasks)
        self._app = app
        write_profile(ctx.app_dir, ruby_dir.relative_to(ctx.app_dir), request.version, app)

    def inventory(self, ctx: BuildContext) -> Inventory:
        """The locked gems bundler installed, for the SBOM."""
        return inventory.read(ctx.app_dir)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        app = self._app
        if app is None:  # released without compiling here: what the lock alone says
            if not (ctx.app_dir / "Gemfile.lock").is_file():
                return ReleaseInfo(description="Ruby")
            app = framework.detect(gemfile_lock.read(ctx.app_dir))
        return ReleaseInfo(process_types=dict(app.process_types), config_vars=dict(app.env_defaults),
                           description=app.description)

    def _export(self, ctx: BuildContext, ruby_dir: Path, env: dict[str, str]) -> None:
        # Later buildpacks (and the assets step) run with this Ruby and this bundle.
        ctx.prepend_path(ruby_dir / "bin")
        ctx.prepend_path(ctx.app_dir / bundler.BUNDLE_DIR / "bin")
        for key in ("GEM_PATH", "GEM_HOME", "BUNDLE_PATH", "BUNDLE_WITHOUT", "BUNDLE_BIN",
                    "BUNDLE_DEPLOYMENT", "BUNDLE_GEMFILE"):
            ctx.export(key, env[key])


def profile_script(ruby_dir: Path, version: str, app: framework.Framework) -> str:
    """The .profile.d script a dyno sources before the app starts: paths, then the app's defaults."""
    gems = f"$HOME/{bundler.BUNDLE_DIR}/ruby/{bundler.ruby_api(version)}"
    lines = [
        f'export PATH="$HOME/bin:$HOME/{bundler.BUNDLE_DIR}/bin:{gems}/bin:$HOME/{ruby_dir}/bin:$PATH"',
        f'export GEM_PATH="{gems}${{GEM_PATH:+:$GEM_PATH}}"',
        f'export BUNDLE_PATH="${{BUNDLE_PATH:-{bundler.BUNDLE_DIR}}}"',
        f'export BUNDLE_BIN="${{BUNDLE_BIN:-{bundler.BUNDLE_DIR}/bin}}"',
        f'export BUNDLE_WITHOUT="${{BUNDLE_WITHOUT:-{bundler.DEFAULT_WITHOUT}}}"',
        'export BUNDLE_DEPLOYMENT="${BUNDLE_DEPLOYMENT:-1}"',
        'export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"',
        'export DISABLE_SPRING="1"',
    ]
    lines += [f'export {key}="${{{key}:-{value}}}"' for key, value in app.env_defaults.items()]
    return "\n".join(lines) + "\n"


def write_profile(app_dir: Path, ruby_dir: Path, version: str, app: framework.Framework) -> None:
    write_profile_script(app_dir, "ruby.sh", profile_script(ruby_dir, version, app))
