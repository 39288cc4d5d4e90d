"""Node.js releases: the upstream index.json, npm range resolution with Heroku's LTS cap, SHASUMS256.txt."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass

import nodesemver

from slugbuild.errors import BuildFailed, DownloadFailed

PLATFORM = "linux-x64"
ENGINES_SOURCE = "package.json engines.node"
DEFAULT_SOURCE = "newest LTS, no engines.node"
NEWEST_LTS_ALIASES = ("", "latest", "x", "*", "lts", "lts/*")  # npm rejects `latest`; Heroku reads it as `*`


class InvalidNodeRange(BuildFailed):
    def __init__(self, requested: str, suggestion: str) -> None:
        super().__init__(f"engines.node {requested!r} in package.json is not a valid semver range; "
                         f"use a range such as \"{suggestion}\"")


class NodeVersionNotFound(BuildFailed):
    def __init__(self, requested: str, suggestion: str) -> None:
        super().__init__(f"engines.node {requested!r} in package.json matches no Node.js release; "
                         f"use a published range such as \"{suggestion}\"")


@dataclass(frozen=True)
class NodeRelease:
    version: str  # without the leading "v"
    lts: str | None  # the LTS codename, or None for a Current release
    npm: str | None = None


@dataclass(frozen=True)
class Resolution:
    """What was asked, where the request came from, what was chosen, and whether the LTS cap applied."""

    requested: str | None
    source: str
    version: str
    capped_from: str | None = None  # the best match above the newest LTS that the cap passed over


class NodeIndex:
    """The releases of an index.json that ship a linux-x64 build, newest first."""

    def __init__(self, releases: Iterable[NodeRelease]) -> None:
        valid = [r for r in releases if nodesemver.valid(r.version, False)]
        self.releases = sorted(valid, key=lambda r: semver_key(r.version), reverse=True)
        self._by_version = {r.version: r for r in self.releases}

    @classmethod
    def parse(cls, text: str, url: str) -> NodeIndex:
        try:
            entries = json.loads(text)
            return cls(_release(e) for e in entries if _has_platform(e))
        except (ValueError, TypeError, AttributeError, KeyError):
            raise DownloadFailed(f"{url} is not a Node.js index.json; check SLUGBUILD_NODE_MIRROR") from None

    def versions(self) -> list[str]:
        return [r.version for r in self.releases]

    def get(self, version: str) -> NodeRelease | None:
        return self._by_version.get(version)

    def newest_lts(self) -> str | None:
        return next((r.version for r in self.releases if r.lts), None)

    def suggestion(self) -> str:
        """Heroku's suggestion for a bad range: the newest LTS major, as `24.x`."""
        newest = self.newest_lts() or (self.releases[0].version if self.releases else "24.0.0")
        return f"{newest.split('.')[0]}.x"


def semver_key(version: str) -> object:
    """A sort key ordering versions as semver does (10.0.0 after 9.9.9)."""
    return _SEMVER_ORDER(version.lstrip("v"))


_SEMVER_ORDER = functools.cmp_to_key(lambda a, b: nodesemver.compare(a, b, False))


def _has_platform(entry: dict) -> bool:
    files = entry.get("files")
    return files is None or PLATFORM in files


def _release(entry: dict) -> NodeRelease:
    lts = entry.get("lts")
    npm = entry.get("npm")
    return NodeRelease(str(entry["version"]).lstrip("v"), lts if isinstance(lts, str) and lts else None,
                       npm if isinstance(npm, str) else None)


def is_newest_lts_alias(requested: str | None) -> bool:
    return requested is None or requested.strip().lower() in NEWEST_LTS_ALIASES


def resolve(requested: str | None, index: NodeIndex, *, allow_wide_range: bool = False) -> Resolution:
    """The release `requested` (engines.node) picks from `index`, as npm reads ranges, capped as Heroku
    does (find_lts_ceiling): a best match above the newest LTS falls back to the newest release of that
    LTS major the range admits; a range that admits none of that major keeps its best match."""
    source = DEFAULT_SOURCE if requested is None else ENGINES_SOURCE
    lts = index.newest_lts()
    if is_newest_lts_alias(requested):
        if lts is None:
            raise NodeVersionNotFound(requested or "", index.suggestion())
        return Resolution(requested, source, lts)
    assert requested is not None
    spec = requested.strip()
    if nodesemver.valid_range(spec, False) is None:
        raise InvalidNodeRange(requested, index.suggestion())
    best = best_match(spec, index.versions())
    if best is None:
        raise NodeVersionNotFound(requested, index.suggestion())
    ceiling = None if lts is None or allow_wide_range else lts_ceiling(spec, best, index, lts)
    if ceiling is None:
        return Resolution(requested, source, best)
    return Resolution(requested, source, ceiling, capped_from=best)


def lts_ceiling(spec: str, best: str, index: NodeIndex, lts: str) -> str | None:
    """The newest release of the LTS major that `spec` admits, when `best` is above it; else None."""
    major = lts.split(".")[0]
    same_major = [v for v in index.versions() if v.split(".")[0] == major]
    ceiling = best_match(spec, same_major)
    return ceiling if ceiling is not None and nodesemver.gt(best, ceiling, False) else None


def best_match(spec: str, versions: Iterable[str]) -> str | None:
    """npm's maxSatisfying; invalid versions are skipped (node-semver would raise on them)."""
    valid = [v for v in versions if nodesemver.valid(v, False)]
    return nodesemver.max_satisfying(valid, spec, False) if valid else None


def tarball_name(version: str) -> str:
    return f"node-v{version}-{PLATFORM}.tar.gz"


def sha256_for(shasums: str, filename: str, url: str) -> str:
    """The sha256 SHASUMS256.txt lists for `filename`; DownloadFailed when it lists none."""
    for line in shasums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == filename and len(parts[0]) == 64:
            return parts[0].lower()
    raise DownloadFailed(f"{url} lists no sha256 for {filename}; the mirror is incomplete, refill it")
