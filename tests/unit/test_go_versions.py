"""Which Go a build installs: the request and its source (Heroku's precedence), then the index's answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from slugbuild.buildpacks.go import gomod
from slugbuild.buildpacks.go.versions import DEFAULT_GO, GoRequest, parse_index, requested, resolve

from slugbuild.errors import BuildFailed, DownloadFailed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INDEX_URL = "http://127.0.0.1:9/go/index.json"


def release(version: str, *, stable: bool = True, arches: tuple[str, ...] = ("amd64", "arm64")) -> dict:
    files = [{"filename": f"{version}.linux-{arch}.tar.gz", "os": "linux", "arch": arch, "version": version,
              "sha256": f"{version}-{arch}".encode().hex().ljust(64, "0")[:64], "size": 1, "kind": "archive"}
             for arch in arches]
    files.append({"filename": f"{version}.src.tar.gz", "os": "", "arch": "", "version": version,
                  "sha256": "f" * 64, "size": 1, "kind": "source"})
    return {"version": version, "stable": stable, "files": files}


INDEX = [release("go1.26rc1", stable=False), release("go1.25.5"), release("go1.25.4"), release("go1.25.0"),
         release("go1.24.11", arches=("arm64",)), release("go1.24.10"), release("go1.20"),
         release("go1.20.1"), release("go1.22rc2", stable=False)]


COMMENTED = "module m\n// +heroku goVersion go1.24\ngo 1.25\n"


@pytest.mark.parametrize(("config", "text", "spec", "source"), [
    ({"GOVERSION": "1.23.4"}, COMMENTED, "1.23.4", "GOVERSION config var"),
    ({}, COMMENTED, "go1.24", "go.mod // +heroku goVersion"),
    ({}, "module m\n\ngo 1.25\n", "1.25", "go.mod go directive"),
    ({}, "module m\n\ngo 1.25.3\ntoolchain go1.26.0\n", "1.25.3", "go.mod go directive"),
    ({}, "module m\n", DEFAULT_GO, "default"),
    ({"GOVERSION": ""}, "module m\n", DEFAULT_GO, "default"),
])
def test_version_precedence(config, text, spec, source):
    assert requested(config, gomod.parse(text, Path("go.mod"))) == GoRequest(spec, source)


@pytest.mark.parametrize(("spec", "arch", "version"), [
    ("1.25", "amd64", "go1.25.5"),  # newest stable patch; the release candidate of 1.26 is not 1.25
    ("go1.25", "amd64", "go1.25.5"),
    ("1.25.4", "amd64", "go1.25.4"),  # a full version pins
    ("1.25.0", "amd64", "go1.25.0"),
    ("1.24", "amd64", "go1.24.10"),  # 1.24.11 has no amd64 archive
    ("1.24", "arm64", "go1.24.11"),
    ("1.20.0", "amd64", "go1.20"),  # up to 1.20 the first release is named go1.N
    ("1.20", "amd64", "go1.20.1"),
    ("1.22rc2", "amd64", "go1.22rc2"),  # a prerelease only when named exactly
])
def test_resolution_against_the_index(spec, arch, version):
    found = resolve(GoRequest(spec, "go.mod go directive"), INDEX, arch, INDEX_URL)
    assert (found.version, found.filename) == (version, f"{version}.linux-{arch}.tar.gz")


@pytest.mark.parametrize(("spec", "message"), [
    ("1.99", "Go 1.99 (go.mod go directive) has no linux-amd64 download in the Go index "
             f"{INDEX_URL}; use a released version such as 1.25.5"),
    ("1.25.9", "Go 1.25.9 (go.mod go directive) has no linux-amd64 download"),
    ("1.10", "go.mod go directive asks for Go 1.10, which does not support Go modules; use Go 1.11 or newer"),
    ("banana", "go.mod go directive asks for Go 'banana', which is not a Go version; use a version such as "
               "1.25 or 1.25.5"),
])
def test_unresolvable_versions_fail_in_one_line(spec, message):
    with pytest.raises(BuildFailed) as caught:
        resolve(GoRequest(spec, "go.mod go directive"), INDEX, "amd64", INDEX_URL)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("text", ["<html>", '{"version": "go1.25.5"}'])
def test_an_index_that_is_not_a_release_list_names_the_url(text):
    with pytest.raises(DownloadFailed, match=f"the Go download index {INDEX_URL} is not"):
        parse_index(text, INDEX_URL)


def test_go_mod_heroku_comments_and_directive():
    mod = gomod.read(FIXTURES / "go-heroku-comments")
    assert mod == gomod.GoMod(module="example.com/commented", go_directive="1.25", heroku_go_version="1.24",
                              heroku_install=("./cmd/web", "./cmd/jobs"))


def test_a_go_mod_without_module_fails_naming_the_file():
    with pytest.raises(BuildFailed, match=r"^go.mod has no `module` line; run `go mod init"):
        gomod.read(FIXTURES / "go-no-module")
