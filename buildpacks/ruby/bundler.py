"""bundle install as Heroku runs it: deployment mode into vendor/bundle, kept in the cache between builds."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpack import BuildContext

DEFAULT_WITHOUT = "development:test"
# Heroku's ShellHelpers.blacklist?: config vars that never reach bundler or rake.
DENIED_CONFIG = ("PATH", "GEM_PATH", "GEM_HOME", "GIT_DIR", "JRUBY_OPTS", "JAVA_OPTS", "JAVA_TOOL_OPTIONS",
                 "RUBYOPT")
BUNDLE_DIR = "vendor/bundle"


def ruby_api(version: str) -> str:
    """The directory name gems of Ruby `version` install under: 3.1.2 -> 3.1.0."""
    major, minor = version.split(".")[:2]
    return f"{major}.{minor}.0"


def user_env(config: Mapping[str, str]) -> dict[str, str]:
    """The app's config vars as Heroku hands them to bundler and rake: stripped, the deny list left out.
    Bundler reads its own settings from them, private source credentials (BUNDLE_GEMS__EXAMPLE__COM) too."""
    return {key: value.strip() for key, value in config.items() if key not in DENIED_CONFIG}


def bundle_env(ctx: BuildContext, version: str) -> dict[str, str]:
    """Config vars, then bundler's settings for the build over them; a BUNDLE_WITHOUT config var replaces
    the default groups."""
    without = ctx.config.get("BUNDLE_WITHOUT", DEFAULT_WITHOUT).replace(" ", ":")
    gems = ctx.app_dir / BUNDLE_DIR / "ruby" / ruby_api(version)
    return {
        **user_env(ctx.config),
        "BUNDLE_WITHOUT": without,
        "BUNDLE_PATH": BUNDLE_DIR,
        "BUNDLE_BIN": f"{BUNDLE_DIR}/bin",
        "BUNDLE_DEPLOYMENT": "1",
        "BUNDLE_GEMFILE": str(ctx.app_dir / "Gemfile"),
        "BUNDLE_CONFIG": str(ctx.app_dir / ".bundle" / "config"),
        "BUNDLE_DISABLE_VERSION_CHECK": "true",
        "BUNDLE_SILENCE_ROOT_WARNING": "1",
        "NOKOGIRI_USE_SYSTEM_LIBRARIES": "true",
        "GEM_PATH": str(gems),
        "GEM_HOME": str(gems),
    }


def _cache_dirs(ctx: BuildContext) -> tuple[Path, Path]:
    base = ctx.cache_dir / ctx.stack
    return base / BUNDLE_DIR, base / "ruby-version"


def restore(ctx: BuildContext, version: str) -> None:
    """Put the cached vendor/bundle in place, unless Ruby changed since it was built."""
    app_bundle = ctx.app_dir / BUNDLE_DIR
    if app_bundle.exists():
        ctx.log.warn("Removing the committed vendor/bundle: gems are installed by the build; "
                     "remove vendor/bundle from the repository")
        shutil.rmtree(app_bundle)
    cached, stamp = _cache_dirs(ctx)
    if not cached.is_dir():
        return
    built_with = stamp.read_text().strip() if stamp.is_file() else None
    if built_with != version:
        ctx.log.info(f"Ruby changed ({built_with or 'unknown'} -> {version}): "
                     "clearing the cached vendor/bundle")
        shutil.rmtree(cached)
        return
    ctx.log.info("Restoring vendor/bundle from the cache")
    shutil.copytree(cached, app_bundle, symlinks=True)


def install(ctx: BuildContext, env: dict[str, str]) -> None:
    """`bundle install` then `bundle clean`, streamed into the build log."""
    shown = " ".join(f"{k}={env[k]}" for k in ("BUNDLE_WITHOUT", "BUNDLE_PATH", "BUNDLE_BIN",
                                                  "BUNDLE_DEPLOYMENT"))
    ctx.log.info(f"Running: {shown} bundle install -j4")
    local = ["--local"] if ctx.offline else []  # --offline: only gems already in vendor/bundle's cache
    ctx.run(["bundle", "install", "-j4", "--no-clean", *local], env=env)
    ctx.run(["bundle", "clean"], env=env)


def store(ctx: BuildContext, version: str) -> None:
    """Replace the cached vendor/bundle with this build's."""
    cached, stamp = _cache_dirs(ctx)
    shutil.rmtree(cached, ignore_errors=True)
    app_bundle = ctx.app_dir / BUNDLE_DIR
    if app_bundle.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(app_bundle, cached, symlinks=True)
        stamp.write_text(version + "\n")
