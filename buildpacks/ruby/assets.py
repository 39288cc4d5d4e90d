"""Rails asset precompilation: `rake assets:precompile` when the app defines the task."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import tempfile
from pathlib import Path

from slugbuild.buildpacks.ruby.framework import Framework

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed

SECRET_BYTES = 64
SECRET = re.compile(f"[0-9a-f]{{{2 * SECRET_BYTES}}}")
MANIFEST_GLOBS = ("public/assets/.sprockets-manifest-*.json", "public/assets/manifest-*.json")


def has_manifest(app_dir: Path) -> bool:
    """True when compiled assets are committed (Heroku then skips the step)."""
    return any(any(app_dir.glob(pattern)) for pattern in MANIFEST_GLOBS)


def rake_tasks(ctx: BuildContext, env: dict[str, str]) -> set[str]:
    """Task names `bundle exec rake -P` lists; a Rakefile that does not load is a BuildFailed."""
    proc = subprocess.run(["bundle", "exec", "rake", "-P"], cwd=ctx.app_dir, env={**ctx.env, **env},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise BuildFailed(f"could not list rake tasks ({last}); make sure `bundle exec rake -P` runs "
                          "with only the production gems (BUNDLE_WITHOUT=development:test)")
    return {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("rake ") and
            len(line.split()) > 1}


def secret_key_base(ctx: BuildContext) -> str:
    """SECRET_KEY_BASE for the build: the config var, else a random one kept in the cache (as Heroku)."""
    if ctx.config.get("SECRET_KEY_BASE"):
        return ctx.config["SECRET_KEY_BASE"]
    path = ctx.cache_dir / "secret_key_base"
    with contextlib.suppress(OSError):
        kept = path.read_text().strip()
        if SECRET.fullmatch(kept):
            return kept
    # None yet, or not one this code wrote (an older slugbuild could leave it empty): a new one, written
    # whole, so a build reading it meanwhile gets the old one or the new one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key_base.")
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(SECRET_BYTES))
    os.replace(tmp, path)
    return path.read_text().strip()


def rake_env(ctx: BuildContext, env: dict[str, str]) -> dict[str, str]:
    """What rake runs with: config vars, bundler's settings, SECRET_KEY_BASE and production by default."""
    merged = {**env, "SECRET_KEY_BASE": secret_key_base(ctx)}  # env holds the config vars (bundle_env)
    merged.setdefault("RAILS_ENV", "production")
    merged.setdefault("RACK_ENV", "production")
    return merged


def tasks_of(ctx: BuildContext, env: dict[str, str], app: Framework) -> set[str]:
    """The app's rake tasks; as on Heroku a Rakefile that does not load fails only Rails 3 and later."""
    ctx.log.step("Detecting rake tasks")
    try:
        return rake_tasks(ctx, rake_env(ctx, env))
    except BuildFailed as exc:
        if (app.rails_major or 0) >= 3:
            raise
        ctx.log.warn(f"{exc}; going on without the app's rake tasks, as Heroku does for Rails 2")
        return set()


def precompile(ctx: BuildContext, env: dict[str, str], tasks: set[str]) -> None:
    """Run assets:precompile (then assets:clean) if defined; skip when a manifest is committed."""
    ctx.log.step("Preparing app for Rails asset pipeline")
    if has_manifest(ctx.app_dir):
        ctx.log.info("Detected manifest file, assuming assets were compiled locally")
        return
    if "assets:precompile" not in tasks:
        ctx.log.info("Asset precompilation skipped: the app has no assets:precompile rake task")
        return
    ctx.log.info("Running: rake assets:precompile")
    ctx.run(["bundle", "exec", "rake", "assets:precompile"], env=rake_env(ctx, env))
    if "assets:clean" in tasks:
        ctx.log.info("Running: rake assets:clean")
        ctx.run(["bundle", "exec", "rake", "assets:clean"], env=rake_env(ctx, env))
