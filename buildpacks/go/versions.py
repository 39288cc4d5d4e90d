"""Which Go to install: the request and where it came from, then the release the download index offers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from slugbuild.buildpacks.go.gomod import GoMod

from slugbuild.errors import BuildFailed, DownloadFailed

DEFAULT_GO = "1.25"  # Heroku's DefaultVersion (go1.25) at the reference snapshot
MIN_MODULES_MINOR = 11  # Go modules arrived in 1.11
_SPEC = re.compile(r"^(?:go)?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?((?:rc|beta)\d{1,6})?$", re.ASCII)


@dataclass(frozen=True)
class GoRequest:
    """The version asked for (`1.25`, `1.25.5`) and where it came from."""

    spec: str
    source: str  # "GOVERSION config var", "go.mod // +heroku goVersion", "go.mod go directive", "default"


@dataclass(frozen=True)
class GoRelease:
    """One downloadable toolchain from the index."""

    version: str  # "go1.25.5"
    filename: str  # "go1.25.5.linux-amd64.tar.gz"
    sha256: str

    @property
    def number(self) -> str:
        return self.version.removeprefix("go")


def requested(config: Mapping[str, str], gomod: GoMod) -> GoRequest:
    """Heroku's precedence: GOVERSION, `// +heroku goVersion`, the `go` directive, the default."""
    if config.get("GOVERSION"):
        return GoRequest(config["GOVERSION"], "GOVERSION config var")
    if gomod.heroku_go_version:
        return GoRequest(gomod.heroku_go_version, "go.mod // +heroku goVersion")
    if gomod.go_directive:
        return GoRequest(gomod.go_directive, "go.mod go directive")
    return GoRequest(DEFAULT_GO, "default")


def parse_index(text: str, url: str) -> list[dict]:
    """The go.dev JSON index (a list of releases); anything else is a DownloadFailed naming the URL."""
    try:
        releases = json.loads(text)
    except ValueError:
        raise DownloadFailed(f"the Go download index {url} is not JSON; check SLUGBUILD_GO_MIRROR") from None
    if not isinstance(releases, list):
        raise DownloadFailed(f"the Go download index {url} is not a list of releases; "
                             "check SLUGBUILD_GO_MIRROR")
    return [r for r in releases if isinstance(r, dict) and isinstance(r.get("version"), str)]


def _key(version: str) -> tuple[int, ...]:
    match = _SPEC.match(version)
    if not match:
        return (-1,)
    major, minor, patch, pre = match.groups()
    # A release candidate sorts before the release it leads to.
    return (int(major), int(minor), int(patch or 0), 0 if pre else 1)


def _archive(release: dict, arch: str) -> dict | None:
    for entry in release.get("files") or ():
        if (entry.get("os") == "linux" and entry.get("arch") == arch and entry.get("kind") == "archive"
                and entry.get("filename") and entry.get("sha256")):
            return entry
    return None


def _wanted(request: GoRequest) -> tuple[str, str, str | None, str | None]:
    match = _SPEC.match(request.spec.strip())
    if not match:
        raise BuildFailed(f"{request.source} asks for Go {request.spec!r}, which is not a Go version; "
                          "use a version such as 1.25 or 1.25.5")
    major, minor, patch, pre = match.groups()
    if (int(major), int(minor)) < (1, MIN_MODULES_MINOR):
        raise BuildFailed(f"{request.source} asks for Go {request.spec}, which does not support Go modules; "
                          "use Go 1.11 or newer")
    return major, minor, patch, pre


def resolve(request: GoRequest, releases: list[dict], arch: str, index_url: str) -> GoRelease:
    """`1.25` is the newest stable 1.25.x with a linux/<arch> archive; a full version pins exactly."""
    major, minor, patch, pre = _wanted(request)
    if patch is None and pre is None:
        family = re.compile(rf"^go{major}\.{minor}(?:\.\d+)?$")
        candidates = [r for r in releases if family.match(r["version"]) and r.get("stable", True)]
    else:
        names = {f"go{major}.{minor}.{patch}{pre or ''}" if patch else f"go{major}.{minor}{pre}"}
        if patch == "0":
            names.add(f"go{major}.{minor}")  # up to Go 1.20 a minor's first release is go1.N, not go1.N.0
        candidates = [r for r in releases if r["version"] in names]
    usable = [(r, f) for r in candidates if (f := _archive(r, arch))]
    if not usable:
        raise BuildFailed(f"Go {request.spec} ({request.source}) has no linux-{arch} download in the Go "
                          f"index {index_url}; use a released version such as {_newest(releases, arch)}")
    release, entry = max(usable, key=lambda pair: _key(pair[0]["version"]))
    return GoRelease(release["version"], entry["filename"], entry["sha256"].lower())


def _newest(releases: list[dict], arch: str) -> str:
    stable = [r["version"] for r in releases if r.get("stable", True) and _archive(r, arch)]
    return max(stable, key=_key).removeprefix("go") if stable else DEFAULT_GO
