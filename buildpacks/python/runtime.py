"""Python in Heroku's archive layout (`python-<v>-ubuntu-<22.04|24.04>-<arch>.tar.zst`): where, which
sha256, and the install into .heroku/python."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpacks.python.versions import LATEST, PythonRequest

from slugbuild.atomic import install_published
from slugbuild.buildpack import BuildContext, host_arch
from slugbuild.errors import BuildFailed
from slugbuild.fetch import Tree

UPSTREAM_BASE = "https://heroku-buildpack-python.s3.dualstack.us-east-1.amazonaws.com"
MIRROR_ENV = "SLUGBUILD_PYTHON_MIRROR"
SUPPORTED_STACKS = ("heroku-22", "heroku-24", "heroku-26")
END_OF_LIFE_STACKS = ("heroku-16", "heroku-18", "heroku-20")
PYTHON_HOME = Path(".heroku") / "python"


def check_stack(stack: str) -> None:
    """Heroku's Python buildpack builds for heroku-22 and newer only."""
    if stack in SUPPORTED_STACKS:
        return
    if stack in END_OF_LIFE_STACKS or stack.startswith("cedar"):
        raise BuildFailed(f"The '{stack}' stack is no longer supported by the Python buildpack: it has "
                          f"reached its end-of-life; build with --stack {SUPPORTED_STACKS[-2]}")
    raise BuildFailed(f"The '{stack}' stack isn't recognised by the Python buildpack; use one of "
                      f"{', '.join(SUPPORTED_STACKS)}")


def ubuntu_version(stack: str) -> str:
    """The Ubuntu release a stack is built on: heroku-24 -> 24.04."""
    return f"{stack.removeprefix('heroku-')}.04"


def archive_name(version: str, stack: str, arch: str) -> str:
    return f"python-{version}-ubuntu-{ubuntu_version(stack)}-{arch}.tar.zst"


def archive_url(env: Mapping[str, str], stack: str, version: str, arch: str | None = None) -> str:
    """Where Heroku (or SLUGBUILD_PYTHON_MIRROR) keeps Python `version` for `stack`."""
    base = (env.get(MIRROR_ENV) or UPSTREAM_BASE).rstrip("/")
    return f"{base}/{archive_name(version, stack, arch or host_arch('Python'))}"


def install(ctx: BuildContext, request: PythonRequest) -> Tree:
    """Put Python in .heroku/python (hard-linked from the cache's unpacked copy), record it in the report
    and return the cached tree, whose path stays put between builds."""
    ctx.log.step(f"Installing Python {request.version}")
    dest = ctx.app_dir / PYTHON_HOME
    dest.parent.mkdir(parents=True, exist_ok=True)
    return install_published(ctx, request, "python", archive_url(ctx.env, ctx.stack, request.version), dest,
                             label=f"python-{request.version}.tar.zst", mirror=MIRROR_ENV,
                             binary="bin/python3", what="a Python archive",
                             missing=lambda url: _unavailable(request, url))


def _unavailable(request: PythonRequest, url: str) -> BuildFailed:
    if request.version != LATEST.get(request.major):
        return BuildFailed(f"The requested Python version isn't available: {request.source} asks for Python "
                           f"{request.version}, which is not at {url}; check it has been released, and "
                           f"write only the major version ({request.major}) in {request.source}")
    return BuildFailed(f"Unable to download/install Python: {url} does not exist; check "
                       f"{MIRROR_ENV} or build again")
