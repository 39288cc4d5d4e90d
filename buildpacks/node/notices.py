"""Warnings Heroku gives a Node.js app that builds but is set up in a way likely to hurt later."""

from __future__ import annotations

from pathlib import Path

import nodesemver
from slugbuild.buildpacks.node import versions

SUPPORTED_MAJORS = (22, 24, 26)  # Heroku's supported Node.js majors at the reference snapshot


def checked_in_modules(app_dir: Path) -> str | None:
    """A committed node_modules: built for another machine, and it hides what the lockfile says."""
    if not (app_dir / "node_modules").exists():
        return None
    return ("node_modules is checked into source control; it may hold modules built for another machine: "
            "add node_modules to .gitignore and `git rm -r --cached node_modules`")


def end_of_life(version: str, index: versions.NodeIndex) -> str | None:
    """Node.js `version` is of a major no longer supported (no security fixes)."""
    major = int(version.split(".")[0])
    if major in SUPPORTED_MAJORS:
        return None
    supported = ", ".join(str(m) for m in SUPPORTED_MAJORS)
    return (f"Node.js {version} is of major {major}, which is end-of-life (supported: {supported}); "
            f"move engines.node in package.json to a supported major such as \"{supported_major(index)}.x\"")


def supported_major(index: versions.NodeIndex) -> int:
    """The supported major to suggest: the newest one with an LTS release in the index (the mirror may
    hold end-of-life majors only), else the newest supported one."""
    lts = {int(r.version.split(".")[0]) for r in index.releases if r.lts}
    return max((m for m in SUPPORTED_MAJORS if m in lts), default=max(SUPPORTED_MAJORS))


def wide_range(requested: str | None, index: versions.NodeIndex) -> str | None:
    """engines.node matches releases of several majors, so a new major can arrive in a build unasked."""
    if versions.is_newest_lts_alias(requested):
        return None
    assert requested is not None
    spec = requested.strip()
    if nodesemver.valid_range(spec, False) is None:
        return None
    majors = sorted({int(v.split(".")[0]) for v in index.versions() if nodesemver.satisfies(v, spec, False)})
    if len(majors) < 2:
        return None
    spans = ", ".join(str(m) for m in majors)
    return (f"engines.node {requested!r} in package.json spans several Node.js majors ({spans}), so a "
            f"later build may move to a new major unasked; pin one, such as \"{index.suggestion()}\"")
