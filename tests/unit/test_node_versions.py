"""engines.node resolution: npm's range semantics over a fake index.json, with Heroku's LTS cap."""

from __future__ import annotations

import json

import pytest
from slugbuild.buildpacks.node import versions
from slugbuild.buildpacks.node.versions import InvalidNodeRange, NodeIndex, NodeVersionNotFound

from slugbuild.errors import DownloadFailed

# Newest first, as upstream lists them; 26 is Current (lts false), 24 is the newest LTS.
RELEASES = [
    ("26.1.0", False), ("26.0.0", False), ("24.11.1", "Krypton"), ("24.10.0", False), ("22.21.1", "Jod"),
    ("22.9.0", "Jod"), ("20.19.5", "Iron"), ("20.12.0", "Iron"), ("18.20.8", "Hydrogen"),
    ("18.19.1", "Hydrogen"), ("16.20.2", "Gallium"), ("2.3.4", False), ("2.3.5", False), ("1.2.3", False),
]


def index_json(releases=RELEASES) -> str:
    return json.dumps([{"version": f"v{v}", "lts": lts, "files": ["linux-x64", "win-x64-zip"]}
                       for v, lts in releases])


@pytest.fixture
def index() -> NodeIndex:
    return NodeIndex.parse(index_json(), "file:///mirror/index.json")


@pytest.mark.parametrize(("requested", "expected"), [
    ("^18", "18.20.8"),
    (">=16 <21", "20.19.5"),
    ("18.x", "18.20.8"),
    ("16 || 18", "18.20.8"),
    ("v20", "20.19.5"),
    ("1.2.3 - 2.3.4", "2.3.4"),
    ("~18.19", "18.19.1"),
    ("20.12.0", "20.12.0"),
    (" 22.x ", "22.21.1"),
])
def test_ranges_resolve_as_npm_reads_them(index, requested, expected):
    resolution = versions.resolve(requested, index)
    assert resolution.version == expected
    assert (resolution.requested, resolution.source) == (requested, "package.json engines.node")
    assert resolution.capped_from is None


@pytest.mark.parametrize("requested", [None, "", "latest", "x", "*", "lts/*"])
def test_no_range_means_the_newest_lts(index, requested):
    resolution = versions.resolve(requested, index)
    assert resolution.version == "24.11.1"  # not 26.1.0, which is newer but not LTS


def test_missing_engines_names_its_source(index):
    assert versions.resolve(None, index).source == "newest LTS, no engines.node"


@pytest.mark.parametrize(("requested", "expected"), [(">= 16", "24.11.1"), (">=20", "24.11.1"),
                                                     ("22 || >=24.10", "24.11.1")])
def test_a_pick_above_the_newest_lts_falls_back_to_the_newest_of_the_lts_major(index, requested, expected):
    resolution = versions.resolve(requested, index)
    assert (resolution.version, resolution.capped_from) == (expected, "26.1.0")


@pytest.mark.parametrize("requested", ["^22 || >=25", "22 || 26", "^20 || ^26"])
def test_a_range_admitting_no_release_of_the_lts_major_keeps_its_pick(index, requested):
    # Heroku caps only at a release of the LTS major the range admits (find_lts_ceiling); none here.
    resolution = versions.resolve(requested, index)
    assert (resolution.version, resolution.capped_from) == ("26.1.0", None)


# heroku/heroku-buildpack-nodejs resolve-version/src/main.rs: its test inventory (24 the LTS major) and
# the e2e_* and lts_ceiling_* expectations: (range, resolved major, capped).
UPSTREAM_INVENTORY = [("25.0.0", False), ("24.10.0", "Krypton"), ("22.21.0", "Jod"), ("18.20.8", "Hydrogen")]


@pytest.mark.parametrize(("requested", "major", "capped"), [
    (">= 22", 24, True), ("22.x", 22, False), ("22.21.0", 22, False), (">= 24", 24, True),
    ("24.x", 24, False),
    ("24.10.0", 24, False), (">=25.x", 25, False), ("25.x", 25, False), ("25.0.0", 25, False),
    (">=22.x <25.x", 24, False), (">=25.x <27.x", 25, False), (">=24.x <25.x", 24, False), ("*", 24, False),
])
def test_herokus_resolver_expectations(requested, major, capped):
    index = NodeIndex.parse(index_json(UPSTREAM_INVENTORY), "file:///mirror/index.json")
    resolution = versions.resolve(requested, index)
    assert (int(resolution.version.split(".")[0]), resolution.capped_from is not None) == (major, capped)


def test_herokus_wide_range_is_not_capped_when_allowed():
    # resolve-version/src/main.rs e2e_wide_range_not_downgraded_when_allowed
    index = NodeIndex.parse(index_json(UPSTREAM_INVENTORY), "file:///mirror/index.json")
    assert versions.resolve(">=22.x", index, allow_wide_range=True).version == "25.0.0"


def test_wide_range_cap_can_be_turned_off(index):
    assert versions.resolve(">=20", index, allow_wide_range=True).version == "26.1.0"


def test_a_range_only_above_the_lts_takes_its_best_match(index):
    resolution = versions.resolve("^26", index)
    assert (resolution.version, resolution.capped_from) == ("26.1.0", None)


@pytest.mark.parametrize("requested", ["banana", "lts/iron", ">=>16", "^^18"])
def test_an_invalid_range_is_one_line_with_a_suggestion(index, requested):
    with pytest.raises(InvalidNodeRange) as caught:
        versions.resolve(requested, index)
    assert str(caught.value) == (f"engines.node {requested!r} in package.json is not a valid semver range; "
                                 'use a range such as "24.x"')


@pytest.mark.parametrize("requested", ["^99", "17.x", "<1"])
def test_a_range_no_release_matches_is_one_line_with_a_suggestion(index, requested):
    with pytest.raises(NodeVersionNotFound) as caught:
        versions.resolve(requested, index)
    assert str(caught.value) == (f"engines.node {requested!r} in package.json matches no Node.js release; "
                                 'use a published range such as "24.x"')


def test_releases_without_a_linux_build_and_invalid_versions_are_skipped():
    text = json.dumps([{"version": "v24.1.0", "lts": "Krypton", "files": ["win-x64-zip"]},
                       {"version": "vbogus", "lts": "Krypton"},
                       {"version": "v24.0.0", "lts": "Krypton", "files": ["linux-x64"]}])
    assert NodeIndex.parse(text, "u").versions() == ["24.0.0"]
    assert versions.resolve("^24", NodeIndex.parse(text, "u")).version == "24.0.0"


def test_index_is_sorted_by_semver_not_text():
    index = NodeIndex.parse(json.dumps([{"version": v, "lts": "X"} for v in ("v9.9.9", "v10.0.0", "v8.0.0")]),
                            "u")
    assert index.versions() == ["10.0.0", "9.9.9", "8.0.0"]
    assert index.newest_lts() == "10.0.0"


def test_a_broken_index_names_the_mirror_variable():
    with pytest.raises(DownloadFailed, match=r"^http://127.0.0.1:1/index.json is not a Node.js index.json; "
                                             "check SLUGBUILD_NODE_MIRROR$"):
        NodeIndex.parse("<html>not json</html>", "http://127.0.0.1:1/index.json")


def test_shasums_give_the_tarballs_digest():
    digest = "ab" * 32
    text = f"{'cd' * 32}  node-v24.0.0-darwin-arm64.tar.gz\n{digest}  node-v24.0.0-linux-x64.tar.gz\n"
    assert versions.sha256_for(text, "node-v24.0.0-linux-x64.tar.gz", "u") == digest


def test_shasums_without_the_tarball_is_an_incomplete_mirror():
    with pytest.raises(DownloadFailed, match="lists no sha256 for node-v24.0.0-linux-x64.tar.gz"):
        versions.sha256_for(f"{'cd' * 32}  other.tar.gz\n", "node-v24.0.0-linux-x64.tar.gz", "u")
