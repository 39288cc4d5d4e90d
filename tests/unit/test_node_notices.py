"""Warnings Heroku gives a Node.js app that still builds: committed node_modules, end-of-life majors,
ranges spanning majors; and the WEB_CONCURRENCY profile every build leaves behind."""

from __future__ import annotations

import pytest
from node_fakes import FAKE_VERSION, NodeApp, make_mirror
from slugbuild.buildpacks.node import NodeBuildpack, notices
from slugbuild.buildpacks.node.concurrency import PROFILE
from slugbuild.buildpacks.node.versions import NodeIndex, NodeRelease

from slugbuild.log import RecordingLog

RELEASES = {FAKE_VERSION: "Krypton", "26.0.0": False, "22.9.0": "Jod", "20.18.0": "Iron"}
INDEX = NodeIndex(NodeRelease(v, lts or None) for v, lts in RELEASES.items())


@pytest.fixture
def node_app(tmp_path) -> NodeApp:
    return NodeApp(tmp_path)


def warnings_for(node_app: NodeApp, package_json: dict, **files: str) -> list[str]:
    make_mirror(node_app.mirror, RELEASES)
    node_app.write(package_json, **files)
    log = RecordingLog()
    NodeBuildpack().compile(node_app.context(log=log))
    return log.texts("warn")


def test_an_end_of_life_major_builds_with_a_warning(node_app):
    warnings = warnings_for(node_app, {"engines": {"node": "20.x"}, "scripts": {"start": "x"}})
    assert warnings == ["Node.js 20.18.0 is of major 20, which is end-of-life (supported: 22, 24, 26); "
                        "move engines.node in package.json to a supported major such as \"24.x\""]


def test_a_range_spanning_majors_warns_beside_the_lts_cap(node_app):
    warnings = warnings_for(node_app, {"engines": {"node": ">=22"}, "scripts": {"start": "x"}})
    assert len(warnings) == 2 and "NODEJS_ALLOW_WIDE_RANGE" in warnings[0]
    assert warnings[1] == ("engines.node '>=22' in package.json spans several Node.js majors (22, 24, 26), "
                           "so a later build may move to a new major unasked; pin one, such as \"24.x\"")


def test_committed_node_modules_warns_with_the_fix(node_app):
    node_app.write({"scripts": {"start": "x"}})
    (node_app.app_dir / "node_modules").mkdir()
    log = RecordingLog()
    NodeBuildpack().compile(node_app.context(log=log))
    assert log.texts("warn") == [
        "node_modules is checked into source control; it may hold modules built for another machine: "
        "add node_modules to .gitignore and `git rm -r --cached node_modules`"]


def test_a_supported_pinned_major_gets_no_warning(node_app):
    assert warnings_for(node_app, {"engines": {"node": "24.x"}, "scripts": {"start": "x"}}) == []


@pytest.mark.parametrize(("requested", "wide"), [
    (None, False), ("latest", False), ("24.x", False), ("^22.1", False), ("~22.9", False), ("banana", False),
    (">=22", True), ("22 || 24", True), (">20 <25", True), ("*", False),
])
def test_what_counts_as_a_wide_range(requested, wide):
    assert (notices.wide_range(requested, INDEX) is not None) == wide


@pytest.mark.parametrize(("version", "eol"), [("20.18.0", True), ("22.9.0", False), ("24.11.1", False),
                                               ("26.0.0", False), ("25.1.0", True), ("18.20.4", True)])
def test_only_herokus_supported_majors_are_not_end_of_life(version, eol):
    assert (notices.end_of_life(version, NodeIndex([])) is not None) == eol


def test_every_build_leaves_the_web_concurrency_profile(node_app):
    node_app.write({"scripts": {"start": "x"}})
    NodeBuildpack().compile(node_app.context())
    assert (node_app.app_dir / ".profile.d" / "WEB_CONCURRENCY.sh").read_text() == PROFILE


def test_the_end_of_life_advice_names_a_supported_major_even_from_a_mirror_of_old_ones(node_app):
    make_mirror(node_app.mirror, {"20.18.0": "Iron", "18.20.4": "Hydrogen"})
    node_app.write({"engines": {"node": "20.x"}, "scripts": {"start": "x"}})
    log = RecordingLog()
    NodeBuildpack().compile(node_app.context(log=log))
    [warning] = log.texts("warn")
    assert warning.endswith("move engines.node in package.json to a supported major such as \"26.x\"")
