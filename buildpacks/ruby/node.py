"""Node.js (and yarn) for a Ruby app whose assets need them, when no earlier buildpack provided them: Heroku's
Ruby buildpack does this (lib/language_pack/ruby.rb add_node_js_binary, add_yarn_binary). The Node.js
buildpack resolves and installs it, handed this build's context: one installer, not two."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from slugbuild.buildpacks.node import NodeBuildpack, runtime
from slugbuild.buildpacks.ruby.gemfile_lock import GemfileLock

from slugbuild.buildpack import BuildContext

# Gems that run JavaScript at build time: Heroku's list (execjs, webpacker) and the Rails 7 bundlers.
NODE_GEMS = ("execjs", "webpacker", "jsbundling-rails", "cssbundling-rails")
YARN_GEMS = ("webpacker",)
YARN_VERSION = "1.22.22"  # Heroku's Nodebin::YARN_VERSION at the reference snapshot


def node_reason(app_dir: Path, lock: GemfileLock) -> str | None:
    """Why the app needs Node.js at build time (package.json, or a gem that runs JavaScript), or None."""
    if (app_dir / "package.json").is_file():
        return "package.json"
    return next((f"the {gem} gem" for gem in NODE_GEMS if lock.has_gem(gem)), None)


def provided(ctx: BuildContext, tool: str) -> bool:
    """An earlier buildpack put `tool` into the app (and on PATH): the build machine's own does not count,
    as it will not be on the dyno."""
    found = shutil.which(tool, path=ctx.env.get("PATH", os.defpath))
    return found is not None and Path(found).resolve().is_relative_to(ctx.app_dir.resolve())


def provide(ctx: BuildContext, lock: GemfileLock, env: dict[str, str]) -> None:
    """Install Node.js (and yarn when yarn.lock or webpacker asks) unless an earlier buildpack did."""
    reason = node_reason(ctx.app_dir, lock)
    if reason is None:
        return
    if not provided(ctx, "node"):
        version, _ = NodeBuildpack().install_node(ctx.for_buildpack("node"))
        runtime.write_profile(ctx.app_dir)
        ctx.log.warn(f"Installed a default version ({version}) of Node.js, for {reason}; it is not pinned "
                     "and can change over time: run the Node.js buildpack first (--buildpack node "
                     "--buildpack ruby) to choose one with engines.node")
    ctx.env.setdefault("UV_USE_IO_URING", "0")  # as Heroku, for rake's node and later buildpacks
    wants_yarn = (ctx.app_dir / "yarn.lock").is_file() or any(lock.has_gem(g) for g in YARN_GEMS)
    if wants_yarn and not provided(ctx, "yarn"):
        ctx.log.step(f"Installing yarn {YARN_VERSION} (default)")
        ctx.run(["npm", "install", "--global", f"yarn@{YARN_VERSION}"], env=env)
