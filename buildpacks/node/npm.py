"""engines.npm: the npm an app asks for, installed over the one node ships with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpacks.node import runtime
from slugbuild.buildpacks.node.package_json import PackageJson

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed

ENGINES_SOURCE = "package.json engines.npm"


class NpmInstallFailed(BuildFailed):
    def __init__(self, requested: str, status: int) -> None:
        super().__init__(f"engines.npm {requested!r} in package.json: `npm install --global npm@{requested}` "
                         f"failed with exit status {status} (output above); use a published npm version "
                         "or range such as \"10.x\", or remove engines.npm to keep the npm node ships with")


def ensure(ctx: BuildContext, pkg: PackageJson, node_home: Path, env: Mapping[str, str]) -> str:
    """The npm version the build uses: node's own, or the engines.npm one installed in its place."""
    bundled = runtime.bundled_npm_version(node_home) or "unknown"
    requested = pkg.engine("npm")
    if not requested:
        ctx.log.info(f"Using npm {bundled} (bundled with node)")
        return bundled
    ctx.log.info(f"engines.npm (package.json): {requested}")
    if requested == bundled:
        ctx.log.info(f"Using npm {bundled} (bundled with node, as engines.npm asks)")
        return bundled
    ctx.log.step(f"Installing npm ({requested} from {ENGINES_SOURCE}, replacing npm {bundled})")
    # Installed with the build's env, so an NPM_CONFIG_REGISTRY config var is the registry asked.
    try:
        ctx.run(["npm", "install", "--global", f"npm@{requested}"], env=env)
    except CommandFailed as exc:
        raise NpmInstallFailed(requested, exc.status) from None
    resolved = runtime.bundled_npm_version(node_home) or "unknown"
    ctx.log.info(f"Using npm {resolved} ({requested} from {ENGINES_SOURCE})")
    return resolved
