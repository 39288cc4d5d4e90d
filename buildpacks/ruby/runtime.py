"""Ruby binaries in Heroku's layout (`<base>/<stack>/<arch>/ruby-<v>.tgz`): where, which sha256, install."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpacks.ruby.versions import RubyRequest

from slugbuild.buildpack import BuildContext, Runtime
from slugbuild.errors import BuildFailed, DownloadFailed
from slugbuild.fetch import Fetcher, NotFound

UPSTREAM_BASE = "https://heroku-buildpack-ruby.s3.dualstack.us-east-1.amazonaws.com"
MIRROR_ENV = "SLUGBUILD_RUBY_MIRROR"
STACKS_WITHOUT_ARCH = ("heroku-20", "heroku-22")  # older stacks predate the <arch> path segment
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class RubyNotOnStack(BuildFailed):
    def __init__(self, version: str, stack: str, url: str) -> None:
        super().__init__(f"Ruby {version} is not available for {stack} ({url} does not exist); pick a "
                         f"Ruby built for {stack} and run `bundle update --ruby`, or use another stack")


def host_arch() -> str:
    """Debian's name for this machine's architecture, as in Heroku's URLs (amd64, arm64)."""
    machine = platform.machine().lower()
    if machine not in _ARCHES:
        raise BuildFailed(f"no Ruby binaries for machine type {machine!r}; build on amd64 or arm64")
    return _ARCHES[machine]


def stack_path(stack: str, arch: str) -> str:
    return stack if stack in STACKS_WITHOUT_ARCH else f"{stack}/{arch}"


def base_url(env: Mapping[str, str]) -> str:
    return (env.get(MIRROR_ENV) or UPSTREAM_BASE).rstrip("/")


def tarball_url(env: Mapping[str, str], stack: str, version: str, arch: str | None = None) -> str:
    """Where Heroku (or the mirror) keeps Ruby `version` for `stack`."""
    return f"{base_url(env)}/{stack_path(stack, arch or host_arch())}/ruby-{version}.tgz"


def published_sha256(fetcher: Fetcher, url: str, *, offline: bool) -> str | None:
    """The hex digest in `<url>.sha256` when the server publishes one (upstream does not), else None."""
    try:
        text = fetcher.fetch_text(url + ".sha256")
    except NotFound:
        return None
    except DownloadFailed:
        if offline:  # the sidecar was never cached: the pinned digest checks the tarball instead
            return None
        raise
    digest = (text.split() or [""])[0].lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DownloadFailed(f"{url}.sha256 does not start with a sha256 hex digest; fix the mirror")
    return digest


def install(ctx: BuildContext, request: RubyRequest) -> Path:
    """Put Ruby in vendor/ruby-<version> (linked from the cache's unpacked copy), record it, return it."""
    origin = "default" if request.source == "default" else f"from {request.source}"
    ctx.log.step(f"Installing ruby {request.version} ({origin})")
    if pin := ctx.pinned("ruby"):
        url, digest = pin.url, pin.sha256
    else:
        url = tarball_url(ctx.env, ctx.stack, request.version)
        digest = published_sha256(ctx.fetcher, url, offline=ctx.offline)
    dest = ctx.app_dir / "vendor" / f"ruby-{request.version}"
    shutil.rmtree(dest, ignore_errors=True)
    try:
        tree = ctx.fetcher.install(url, digest, dest, label=f"ruby-{request.version}.tgz")
    except NotFound:
        raise RubyNotOnStack(request.version, ctx.stack, url) from None
    if not tree.verified:
        ctx.log.info(f"{url} has no published checksum; using sha256 {tree.sha256[:12]} pinned at "
                     "first download")
    if not (dest / "bin" / "ruby").exists():
        raise DownloadFailed(f"{url} has no bin/ruby at its top level; "
                             "it is not a Ruby tarball in Heroku's layout")
    ctx.record_runtime(Runtime(name="ruby", requested=request.requested, source=request.source,
                               version=request.version, url=url, sha256=tree.sha256,
                               verified=tree.verified))
    return dest
