"""Fetch a Go toolchain from the download index (upstream or SLUGBUILD_GO_MIRROR) into the build cache."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpacks.go.versions import GoRelease, GoRequest, parse_index, resolve

from slugbuild.buildpack import BuildContext, Runtime
from slugbuild.buildpack import host_arch as machine_arch
from slugbuild.errors import DownloadFailed

UPSTREAM_INDEX_URL = "https://go.dev/dl/?mode=json&include=all"
UPSTREAM_FILES_URL = "https://go.dev/dl/"
MIRROR_ENV = "SLUGBUILD_GO_MIRROR"


def host_arch() -> str:
    """Debian's name for this machine's architecture, as in the Go download URLs (amd64, arm64)."""
    return machine_arch("Go")


def index_urls(env: Mapping[str, str]) -> tuple[str, str]:
    """The index URL and the base URL of the files: the mirror's when SLUGBUILD_GO_MIRROR is set."""
    mirror = env.get(MIRROR_ENV, "").rstrip("/")
    if mirror:
        return f"{mirror}/index.json", f"{mirror}/"
    return UPSTREAM_INDEX_URL, UPSTREAM_FILES_URL


def find_release(ctx: BuildContext, request: GoRequest) -> tuple[GoRelease, str]:
    """The release `request` names and the URL of its archive (the pinned one when rebuilding a slug)."""
    if pin := ctx.pinned("go"):
        return GoRelease(f"go{pin.version}", pin.url.rsplit("/", 1)[-1], pin.sha256), pin.url
    index_url, files_url = index_urls(ctx.env)
    releases = parse_index(ctx.fetcher.fetch_text(index_url, label="Go index"), index_url)
    release = resolve(request, releases, host_arch(), index_url)
    return release, files_url + release.filename


def install(ctx: BuildContext, request: GoRequest) -> Path:
    """GOROOT of the requested toolchain: the tree unpacked in the shared cache (never in the slug),
    reused while it is unchanged."""
    release, url = find_release(ctx, request)
    ctx.log.step(f"Installing go {release.number} ({_provenance(request)})")
    tree = ctx.fetcher.tree(url, release.sha256, label=release.filename)
    if tree.reused:
        ctx.log.info(f"Using cached Go {release.number} toolchain")
    else:
        ctx.log.info(f"Unpacked {release.filename} (sha256 {tree.sha256[:12]}, checked against the index)")
    goroot = tree.path / "go"
    if not (goroot / "bin" / "go").is_file():
        raise DownloadFailed(f"{url} has no go/bin/go; it is not a Go toolchain archive, fix the mirror")
    ctx.record_runtime(Runtime(name="go", requested=request.spec, source=request.source,
                               version=release.number, url=url, sha256=release.sha256, verified=True))
    return goroot


def _provenance(request: GoRequest) -> str:
    return "default" if request.source == "default" else f"{request.spec} from {request.source}"
