"""Bad Go apps through the real CLI: each ends in one clear line, exit status 1, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slugbuild.buildpacks.go.toolchain import host_arch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MIGRATE = ("support for {} has been removed; migrate the app to Go modules (`go mod init <module path>`, "
           "`go mod tidy`) and commit go.mod and go.sum")


@pytest.fixture
def index_only_mirror(tmp_path) -> Path:
    """A mirror whose index lists Go 1.25.5 for every architecture; no archive is ever reached."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = [{"filename": f"go1.25.5.linux-{arch}.tar.gz", "os": "linux", "arch": arch, "version": "go1.25.5",
              "sha256": "a" * 64, "size": 1, "kind": "archive"} for arch in ("amd64", "arm64")]
    (mirror / "index.json").write_text(json.dumps([{"version": "go1.25.5", "stable": True, "files": files}]))
    return mirror


@pytest.mark.parametrize(("fixture", "flags", "message"), [
    ("go-legacy-dep", (), "Gopkg.lock: " + MIGRATE.format("dep")),
    ("go-legacy-glide", (), "glide.yaml: " + MIGRATE.format("glide")),
    ("go-legacy-godep", (), "Godeps/Godeps.json: " + MIGRATE.format("godep")),
    ("go-legacy-govendor", (), "vendor/vendor.json: " + MIGRATE.format("govendor")),
    ("go-no-module", ("--buildpack", "go"), "go.mod has no `module` line; run "
                                            "`go mod init <module path>` and commit go.mod"),
    ("go-modules-too-old", (), "go.mod go directive asks for Go 1.10, which does not support Go modules; "
                               "use Go 1.11 or newer"),
    ("go-not-in-index", (), "Go 1.99 (go.mod go directive) has no linux-{arch} download in the Go index "
                            "{mirror}/index.json; use a released version such as 1.25.5"),
    ("go-no-version", ("--env", "GOVERSION=banana"),
     "GOVERSION config var asks for Go 'banana', which is not a Go version; "
     "use a version such as 1.25 or 1.25.5"),
])
def test_bad_go_apps_end_in_one_line(run_cli, tmp_path, index_only_mirror, fixture, flags, message):
    result = run_cli("build", FIXTURES / fixture, "-o", tmp_path / "slug.tgz", *flags,
                     env={"SLUGBUILD_GO_MIRROR": index_only_mirror.as_uri()})
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    expected = message.format(arch=host_arch(), mirror=index_only_mirror.as_uri())
    assert result.last_error_line.strip() == "!     " + expected
    assert not (tmp_path / "slug.tgz").exists()
