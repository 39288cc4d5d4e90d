"""Go end to end: the real toolchain from the loopback mirror builds the app; the slug carries only the
binaries and boots with the stack's PATH."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from slugbuild.buildpacks.go.toolchain import host_arch

from slugbuild import run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
BOOT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def go_cache(tmp_path_factory) -> Path:
    """One cache for this module's builds: compiling the standard library once is enough."""
    return tmp_path_factory.mktemp("go-cache")


def build(run_cli, source: Path, output: Path, env: dict[str, str], *flags: str) -> tuple[dict, str]:
    result = run_cli("build", source, "-o", output, "--json", *flags, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def answer(slug: Path, command: str, dyno_dir: Path) -> str:
    app_dir = run.unpack(slug, dyno_dir)
    port = run.free_port()
    with run.booted(app_dir, command, port=port) as proc:
        return run.wait_for_http(port, proc, BOOT_TIMEOUT_S)


def test_examples_go_answers_from_a_slug_without_the_toolchain(run_cli, mirror_env, go_cache, tmp_path):
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    report, log = build(run_cli, ROOT / "examples" / "go", tmp_path / "slug.tgz", env)
    [go] = report["runtimes"]
    assert go["url"].startswith(f"{mirror_env['SLUGBUILD_GO_MIRROR']}/go1.25.")
    assert go["url"].endswith(f".linux-{host_arch()}.tar.gz")
    assert (go["requested"], go["source"]) == ("1.25", "go.mod go directive")
    assert f"Installing go {go['version']} (1.25 from go.mod go directive)" in log
    assert report["process_types"] == {"web": "bin/hello"}
    with tarfile.open(report["path"]) as tar:
        names = {name.removeprefix("./") for name in tar.getnames()}
    assert "app/bin/hello" in names
    assert not [n for n in names if n.endswith("/bin/go") or "/pkg/tool/" in n]
    assert answer(Path(report["path"]), "bin/hello", tmp_path / "dyno") == "Hello from Go!\n"


def test_an_unchanged_rebuild_reuses_the_toolchain_and_caches(run_cli, mirror_env, runtime_mirror, go_cache,
                                                               tmp_path):
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "go", source)
    first, _ = build(run_cli, source, tmp_path / "first.tgz", env)
    mark = len(runtime_mirror.requests)
    second, log = build(run_cli, source, tmp_path / "second.tgz", env)
    assert f"Using cached Go {second['runtimes'][0]['version']} toolchain" in log
    assert "Reusing the Go module and build caches" in log
    assert [p for p in runtime_mirror.requests_since(mark) if p.startswith("/go/")] == ["/go/index.json"]
    assert second["checksum"] == first["checksum"]  # -trimpath -buildvcs=false: the same bytes


def test_two_main_packages_become_two_process_types(run_cli, mirror_env, go_cache, tmp_path):
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    report, _ = build(run_cli, FIXTURES / "go-two-commands", tmp_path / "slug.tgz", env)
    assert report["process_types"] == {"api": "bin/api", "worker": "bin/worker"}
    assert answer(Path(report["path"]), "bin/worker", tmp_path / "dyno") == "worker\n"


def test_gotoolchain_local_refuses_a_newer_go_mod_in_one_line(run_cli, mirror_env, go_cache, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "go", source)
    (source / "go.mod").write_text("module example.com/hello\n\ngo 1.99\n")
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--env", "GOVERSION=1.25", env=env)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "go.mod requires go >= 1.99" in result.stderr
    assert "GOTOOLCHAIN=local" in result.stderr
    assert not (tmp_path / "slug.tgz").exists()


def test_a_module_without_main_package_builds_dot_and_offers_no_process_types(run_cli, mirror_env, go_cache,
                                                                              tmp_path):
    # heroku/heroku-buildpack-go bin/compile: no main package -> `go install .` with a warning, no Procfile
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    report, log = build(run_cli, FIXTURES / "go-library-only", tmp_path / "slug.tgz", env)
    assert report["process_types"] == {}
    assert "No main packages found in module example.com/library" in log


def test_a_procfile_means_no_default_web(run_cli, mirror_env, go_cache, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(FIXTURES / "go-two-commands", source)
    (source / "Procfile").write_text("worker: bin/worker\n")
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    report, _ = build(run_cli, source, tmp_path / "slug.tgz", env)
    assert report["process_types"] == {"worker": "bin/worker"}


def test_go_runs_with_telemetry_off_so_nothing_writes_after_the_build(run_cli, mirror_env, go_cache,
                                                                     tmp_path):
    # Go's default "local" telemetry leaves a child process writing under HOME after go exits, which once
    # raced the removal of the build's HOME; the build turns it off before the first go command.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "go", source)
    hook = source / "bin" / "go-post-compile"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\ngo env GOTELEMETRY > telemetry.txt\n")
    hook.chmod(0o755)
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(go_cache)}
    report, _ = build(run_cli, source, tmp_path / "slug.tgz", env)
    with tarfile.open(report["path"]) as tar:
        seen = tar.extractfile("./app/telemetry.txt")
        assert seen is not None and seen.read() == b"off\n"
