"""Ruby binaries in Heroku's layout (`<base>/<stack>/<arch>/ruby-<v>.tgz`): where, which sha256, install."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpacks.ruby import presence
from slugbuild.buildpacks.ruby.versions import RubyRequest

from slugbuild.atomic import install_published
from slugbuild.buildpack import BuildContext
from slugbuild.buildpack import host_arch as machine_arch
from slugbuild.errors import BuildFailed

UPSTREAM_BASE = "https://heroku-buildpack-ruby.s3.dualstack.us-east-1.amazonaws.com"
MIRROR_ENV = "SLUGBUILD_RUBY_MIRROR"
STACKS_WITHOUT_ARCH = ("heroku-20", "heroku-22")  # older stacks predate the <arch> path segment


SUPPORTED_RUBIES_URL = "https://devcenter.heroku.com/articles/ruby-support#supported-runtimes"


class RubyVersionMissing(BuildFailed):
    """Heroku's words for a Ruby built for no stack, then where slugbuild looked and the fix."""

    def __init__(self, version: str, url: str) -> None:
        super().__init__(f"The Ruby version you are trying to install does not exist: ruby-{version} ({url} "
                         "is not there); set a released version with `ruby \"x.y.z\"` in the Gemfile and run "
                         f"`bundle update --ruby` (Heroku's list: {SUPPORTED_RUBIES_URL})")


class RubyNotOnStack(BuildFailed):
    """Heroku's words for a Ruby built for other stacks only (or none slugbuild could ask about)."""

    def __init__(self, version: str, stack: str, url: str, elsewhere: list[str]) -> None:
        where = f"; it is built for {', '.join(elsewhere)}" if elsewhere else ""
        other = f"build with --stack {elsewhere[-1]}" if elsewhere else "use another stack"
        super().__init__(f"The Ruby version you are trying to install does not exist on this stack: "
                         f"ruby-{version} on {stack} ({url} is not there){where}; pick a Ruby built for "
                         f"{stack} and run `bundle update --ruby`, or {other}")


def host_arch() -> str:
    """Debian's name for this machine's architecture, as in the Ruby download URLs (amd64, arm64)."""
    return machine_arch("Ruby")


def stack_path(stack: str, arch: str) -> str:
    return stack if stack in STACKS_WITHOUT_ARCH else f"{stack}/{arch}"


def base_url(env: Mapping[str, str]) -> str:
    return (env.get(MIRROR_ENV) or UPSTREAM_BASE).rstrip("/")


def tarball_url(env: Mapping[str, str], stack: str, version: str, arch: str | None = None) -> str:
    """Where Heroku (or the mirror) keeps Ruby `version` for `stack`."""
    return f"{base_url(env)}/{stack_path(stack, arch or host_arch())}/ruby-{version}.tgz"


def not_found(ctx: BuildContext, version: str, url: str) -> BuildFailed:
    """The error for a Ruby missing at `url`: on no stack at all, or on this one only (offline: unknown)."""
    if ctx.offline:
        return RubyNotOnStack(version, ctx.stack, url, [])
    elsewhere = presence.stacks_with(lambda stack: tarball_url(ctx.env, stack, version), ctx.stack)
    if elsewhere:
        return RubyNotOnStack(version, ctx.stack, url, elsewhere)
    return RubyVersionMissing(version, url)


def install(ctx: BuildContext, request: RubyRequest) -> Path:
    """Put Ruby in vendor/ruby-<version> (linked from the cache's unpacked copy), record it, return it."""
    origin = "default" if request.source == "default" else f"from {request.source}"
    ctx.log.step(f"Installing ruby {request.version} ({origin})")
    dest = ctx.app_dir / "vendor" / f"ruby-{request.version}"
    shutil.rmtree(dest, ignore_errors=True)
    install_published(ctx, request, "ruby", tarball_url(ctx.env, ctx.stack, request.version), dest,
                      label=f"ruby-{request.version}.tgz", mirror=MIRROR_ENV, binary="bin/ruby",
                      what="a Ruby tarball", missing=lambda url: not_found(ctx, request.version, url))
    return dest
