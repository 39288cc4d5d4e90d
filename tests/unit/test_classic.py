"""Classic buildpacks: detect, compile with cache and ENV_DIR, export folding, release YAML, failures."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from node_fakes import FAKE_VERSION, make_mirror
from slugbuild.buildpacks.node import NodeBuildpack

from slugbuild import build, classic, config, run
from slugbuild.buildpack import BuildContext, Detection
from slugbuild.errors import BuildFailed, DownloadFailed
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GREETER = FIXTURES / "classic-greeter"
READER = FIXTURES / "classic-export-reader"
REPORTER = FIXTURES / "classic-runtime-reporter"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    app_dir = tmp_path / "app"
    shutil.copytree(FIXTURES / "classic-app", app_dir)
    return app_dir


def make_ctx(tmp_path: Path, app_dir: Path, config: dict[str, str] | None = None) -> BuildContext:
    env_dir = tmp_path / "env"
    env_dir.mkdir(exist_ok=True)
    for key, value in (config or {}).items():
        (env_dir / key).write_text(value)
    log = RecordingLog()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "STACK": "heroku-24", "SOURCE_VERSION": "abc123"}
    return BuildContext(app_dir=app_dir, cache_dir=tmp_path / "cache", env_dir=env_dir, env=env,
                        config=dict(config or {}), stack="heroku-24",
                        fetcher=Fetcher(tmp_path / "cache", log), log=log)


def compile_with(bp: classic.ClassicBuildpack, ctx: BuildContext) -> None:
    bp.compile(ctx.for_buildpack(bp.name))


def test_detect_names_the_buildpack(app: Path):
    assert classic.ClassicBuildpack(GREETER, str(GREETER)).detect(app) == Detection("Greeter")


def test_an_app_the_buildpack_does_not_detect_says_so_with_detects_stderr(tmp_path: Path):
    detection = classic.ClassicBuildpack(GREETER, "./greeter").detect(tmp_path)
    assert detection is not None
    assert detection.error == "App not compatible with buildpack: ./greeter (no greeting.txt in the app)"


def test_compile_uses_env_dir_stack_and_cache_and_streams_its_output(tmp_path: Path, app: Path):
    ctx = make_ctx(tmp_path, app, {"GREETING_STYLE": "loud"})
    bp = classic.ClassicBuildpack(GREETER, str(GREETER))
    compile_with(bp, ctx)
    assert (app / "public" / "index.html").read_text() == "Hello from a classic buildpack (loud)\n"
    assert "-----> Greeting on stack heroku-24 from source abc123" in ctx.log.texts("child")
    assert "build number 1 according to the cache" in ctx.log.texts("child")
    compile_with(classic.ClassicBuildpack(GREETER, str(GREETER)), ctx)
    assert "build number 2 according to the cache" in ctx.log.texts("child")


def test_the_buildpack_runs_from_a_private_copy(tmp_path: Path, app: Path):
    before = sorted(p.relative_to(GREETER) for p in GREETER.rglob("*"))
    compile_with(classic.ClassicBuildpack(GREETER, str(GREETER)), make_ctx(tmp_path, app))
    assert sorted(p.relative_to(GREETER) for p in GREETER.rglob("*")) == before
    assert not (GREETER / "export").exists()


def test_export_is_folded_into_the_env_every_later_buildpack_sees(tmp_path: Path, app: Path):
    ctx = make_ctx(tmp_path, app, {"GREETING_STYLE": "quiet"})
    compile_with(classic.ClassicBuildpack(GREETER, str(GREETER)), ctx)
    assert ctx.env["GREETER_STYLE"] == "quiet"
    assert ctx.env["PATH"] == f"{app}/.greeter/bin:/usr/local/bin:/usr/bin:/bin"
    assert "SHLVL" not in ctx.env and "PWD" not in ctx.env
    compile_with(classic.ClassicBuildpack(READER, str(READER)), ctx)
    assert (app / "public" / "reader.txt").read_text() == "greeter-tool says hi in style quiet\n"


def test_a_later_buildpack_without_the_export_fails_with_its_status_and_last_lines(tmp_path: Path, app: Path):
    with pytest.raises(BuildFailed) as failure:
        compile_with(classic.ClassicBuildpack(READER, "reader"), make_ctx(tmp_path, app))
    assert str(failure.value) == ("buildpack reader: bin/compile failed with exit status 4; its last output: "
                                  "greeter-tool is not on PATH: run classic-greeter first")


def test_release_yaml_gives_process_types_and_config_defaults(tmp_path: Path, app: Path):
    bp = classic.ClassicBuildpack(GREETER, str(GREETER))
    bp.detect(app)
    info = bp.release(make_ctx(tmp_path, app))
    assert info.process_types == {
        "web": 'python3 -m http.server "$PORT" --bind 127.0.0.1 --directory public'}
    assert info.config_vars == {"GREETER_MOOD": "cheerful"}
    assert info.description == "Greeter"


def test_compile_failure_names_the_exit_status_and_the_last_lines(tmp_path: Path, app: Path):
    bp = classic.ClassicBuildpack(FIXTURES / "classic-compile-fails", "compile-fails")
    with pytest.raises(BuildFailed) as failure:
        compile_with(bp, make_ctx(tmp_path, app))
    assert str(failure.value) == (
        "buildpack compile-fails: bin/compile failed with exit status 3; its last output: "
        "resolving dependencies | fetching widget 1.2 | widget 1.2 needs a compiler this stack lacks")


def test_a_failing_bin_release_is_one_line_with_its_status_output_and_fix(tmp_path: Path, app: Path):
    source = tmp_path / "release-fails"
    shutil.copytree(GREETER, source)
    (source / "bin" / "release").write_text("#!/bin/sh\necho 'no YAML today' >&2\nexit 2\n")
    bp = classic.ClassicBuildpack(source, "release-fails")
    with pytest.raises(BuildFailed) as failure:
        bp.release(make_ctx(tmp_path, app))
    assert str(failure.value) == ("buildpack release-fails: bin/release failed with exit status 2 "
                                  "(no YAML today); fix the buildpack's bin/release")


def test_a_missing_bin_compile_is_named(tmp_path: Path, app: Path):
    bp = classic.ClassicBuildpack(FIXTURES / "classic-no-compile", "no-compile")
    with pytest.raises(BuildFailed) as failure:
        compile_with(bp, make_ctx(tmp_path, app))
    assert str(failure.value) == ("buildpack no-compile has no bin/compile; a classic buildpack needs "
                                  "bin/detect and bin/compile")


def test_unreadable_release_yaml_is_named(tmp_path: Path, app: Path):
    bp = classic.ClassicBuildpack(FIXTURES / "classic-bad-release-yaml", "bad-yaml")
    with pytest.raises(BuildFailed) as failure:
        bp.release(make_ctx(tmp_path, app))
    message = str(failure.value)
    assert message.startswith("buildpack bad-yaml: bin/release printed unreadable YAML (")
    assert message.endswith("); it must print a mapping with default_process_types")
    assert "\n" not in message


def test_a_buildpack_without_bin_release_offers_nothing(tmp_path: Path, app: Path):
    info = classic.ClassicBuildpack(FIXTURES / "classic-no-compile", "x").release(make_ctx(tmp_path, app))
    assert dict(info.process_types) == {} and dict(info.config_vars) == {}


@pytest.mark.parametrize(("spec", "expected"), [
    ("node", False), ("heroku/nodejs", False), ("./greeter", True), ("/srv/bp", True),
    ("https://example.invalid/bp.tgz", True), ("file:///srv/bp.git#v2", True), ("git@host:bp.git", True),
])
def test_which_specs_name_classic_buildpacks(spec: str, expected: bool):
    assert classic.is_classic_spec(spec) is expected


def git(*args: str | Path, cwd: Path) -> str:
    return subprocess.run(["git", *map(str, args)], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def greeter_repo(tmp_path: Path) -> Path:
    """A git repository of classic-greeter whose tag v1 detects as `Greeter v1`."""
    repo = tmp_path / "greeter-repo"
    shutil.copytree(GREETER, repo)
    git("init", "-q", cwd=repo)
    identity = ("-c", "user.name=t", "-c", "user.email=t@example.invalid")
    detect = repo / "bin" / "detect"
    detect.write_text(detect.read_text().replace('echo "Greeter"', 'echo "Greeter v1"'))
    git(*identity, "add", ".", cwd=repo)
    git(*identity, "commit", "-qm", "v1", cwd=repo)
    git("tag", "v1", cwd=repo)
    detect.write_text(detect.read_text().replace("Greeter v1", "Greeter v2"))
    git(*identity, "commit", "-qam", "v2", cwd=repo)
    return repo


def test_a_git_url_is_cloned_once_and_a_ref_picks_the_version(tmp_path: Path, app: Path, greeter_repo: Path):
    log = RecordingLog()
    latest = classic.resolve(f"file://{greeter_repo}", tmp_path / "cache", log)
    pinned = classic.resolve(f"file://{greeter_repo}#v1", tmp_path / "cache", log)
    assert latest.detect(app) == Detection("Greeter v2")
    assert pinned.detect(app) == Detection("Greeter v1")
    shutil.rmtree(greeter_repo)
    again = classic.resolve(f"file://{greeter_repo}#v1", tmp_path / "cache", log, offline=True)
    assert again.detect(app) == Detection("Greeter v1")
    assert log.texts("step").count(f"Cloning buildpack file://{greeter_repo} at v1") == 1


def test_an_unknown_git_ref_is_one_clear_error(tmp_path: Path, greeter_repo: Path):
    with pytest.raises(DownloadFailed) as failure:
        classic.resolve(f"file://{greeter_repo}#v9", tmp_path / "cache", RecordingLog())
    assert str(failure.value).startswith(f"could not check out 'v9' of buildpack file://{greeter_repo} (")
    assert not list((tmp_path / "cache").glob("buildpacks/git/*/manifest.json"))


def test_an_uncloned_git_url_offline_is_one_clear_error(tmp_path: Path, greeter_repo: Path):
    with pytest.raises(DownloadFailed, match="--offline: buildpack file://.* has not been cloned"):
        classic.resolve(f"file://{greeter_repo}", tmp_path / "cache", RecordingLog(), offline=True)


def cached_clone_files(cache_dir: Path) -> Path:
    [files] = (cache_dir / "buildpacks" / "git").glob("*/dir")
    return files


def tamper_keeping_size_and_mtime(script: Path) -> None:
    """Make `script` write a forged page instead, with the size and mtime it had."""
    st = script.stat()
    forged = '#!/usr/bin/env bash\nmkdir -p "$1/public" && echo forged > "$1/public/index.html"\n#'
    script.write_text(forged.ljust(st.st_size, "#"))
    os.utime(script, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert script.stat().st_size == st.st_size


def build_with_git_buildpack(tmp_path: Path, spec: str, offline: bool = False) -> tuple[RecordingLog, Path]:
    source = tmp_path / "src"
    if not source.is_dir():
        shutil.copytree(FIXTURES / "classic-app", source)
    settings = config.build_settings(
        source=str(source), output=str(tmp_path / "slug.tgz"), buildpacks=[spec], stack=None,
        cache_dir=str(tmp_path / "cache"), clear_cache=False, env=None, env_file=None, commit="c0ffee",
        max_size=None, offline=offline)
    log = RecordingLog()
    report = build.build(settings, log, available=[])
    shutil.rmtree(tmp_path / "unpacked", ignore_errors=True)
    return log, run.unpack(report.path, tmp_path / "unpacked")


def test_a_cached_clone_rewritten_with_its_size_and_mtime_kept_is_cloned_again(tmp_path: Path,
                                                                               greeter_repo: Path):
    url = f"file://{greeter_repo}#v1"
    build_with_git_buildpack(tmp_path, url)
    tamper_keeping_size_and_mtime(cached_clone_files(tmp_path / "cache") / "bin" / "compile")
    log, app_dir = build_with_git_buildpack(tmp_path, url)
    assert log.texts("warn") == [f"the cached clone of buildpack {url} was changed after it was cloned "
                                 "(bin/compile); cloning it again"]
    assert f"Cloning buildpack file://{greeter_repo} at v1" in log.texts("step")
    assert (app_dir / "public" / "index.html").read_text() == "Hello from a classic buildpack (plain)\n"
    log, app_dir = build_with_git_buildpack(tmp_path, url, offline=True)  # the new clone is kept, intact
    assert log.texts("warn") == [] and not [t for t in log.texts("step") if t.startswith("Cloning")]
    assert (app_dir / "public" / "index.html").read_text() == "Hello from a classic buildpack (plain)\n"


@pytest.mark.parametrize(("damage", "named"), [
    (lambda files: (files / "bin" / "release").unlink(), "bin/release"),
    (lambda files: (files / "bin" / "compile").chmod(0o644), "bin/compile"),
    (lambda files: (files / "bin" / "export").write_text("export PATH=/tmp/evil\n"), "bin/export"),
    (lambda files: (files.parent / "manifest.json").write_text("[]"), "manifest.json"),
], ids=["file removed", "mode changed", "file planted", "manifest replaced"])
def test_any_change_to_a_cached_clone_is_named_and_the_clone_made_again(tmp_path: Path, app: Path,
                                                                        greeter_repo: Path, damage, named):
    url = f"file://{greeter_repo}"
    classic.resolve(url, tmp_path / "cache", RecordingLog())
    damage(cached_clone_files(tmp_path / "cache"))
    log = RecordingLog()
    bp = classic.resolve(url, tmp_path / "cache", log)
    assert log.texts("warn") == [f"the cached clone of buildpack {url} was changed after it was cloned "
                                 f"({named}); cloning it again"]
    assert sorted(p.name for p in (bp.home / "bin").iterdir()) == ["compile", "detect", "release"]
    assert os.access(bp.home / "bin" / "compile", os.X_OK) and bp.detect(app) == Detection("Greeter v2")


def test_a_damaged_clone_offline_is_one_line_naming_the_fix(tmp_path: Path, greeter_repo: Path):
    url = f"file://{greeter_repo}#v1"
    classic.resolve(url, tmp_path / "cache", RecordingLog())
    tamper_keeping_size_and_mtime(cached_clone_files(tmp_path / "cache") / "bin" / "compile")
    log = RecordingLog()
    with pytest.raises(DownloadFailed) as failure:
        classic.resolve(url, tmp_path / "cache", log, offline=True)
    assert str(failure.value) == (f"--offline: the cached clone of buildpack {url} was changed after it was "
                                  "cloned (bin/compile) and has been discarded; run the build once online to "
                                  "clone it again")
    assert log.texts("warn") == [] and not list((tmp_path / "cache").glob("buildpacks/git/*/dir"))


def _resolve_many_times(args: tuple[str, str, str]) -> list[str]:
    """One build after another resolving a git buildpack on a shared cache; the problems it met."""
    url, cache_dir, app_dir = args
    log = RecordingLog()
    problems = []
    for _ in range(5):
        try:
            detected = classic.resolve(url, Path(cache_dir), log).detect(Path(app_dir))
            if detected != Detection("Greeter v1" if url.endswith("#v1") else "Greeter v2"):
                problems.append(f"detected {detected}")
        except Exception as exc:  # every failure is a finding; the assertion shows them
            problems.append(f"{type(exc).__name__}: {exc}")
    return problems + [f"warned: {w}" for w in log.texts("warn")]


def test_builds_sharing_one_cache_clone_and_reuse_git_buildpacks_at_once(tmp_path: Path, app: Path,
                                                                         greeter_repo: Path):
    urls = [f"file://{greeter_repo}", f"file://{greeter_repo}#v1"] * 2
    jobs = [(url, str(tmp_path / "cache"), str(app)) for url in urls]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_resolve_many_times, jobs) == [[]] * 4
    assert len(list((tmp_path / "cache").glob("buildpacks/git/*/manifest.json"))) == 2


def greeter_tarball(tmp_path: Path) -> bytes:
    """classic-greeter as GitHub serves archives: inside one top directory."""
    shutil.copytree(GREETER, tmp_path / "src" / "greeter-main")
    archive = shutil.make_archive(str(tmp_path / "greeter"), "gztar", tmp_path / "src")
    return Path(archive).read_bytes()


def test_a_tgz_url_is_downloaded_and_unpacked(tmp_path: Path, app: Path, httpserver):
    httpserver.expect_request("/buildpacks/greeter.tgz").respond_with_data(
        greeter_tarball(tmp_path), content_type="application/gzip")
    url = httpserver.url_for("/buildpacks/greeter.tgz")
    bp = classic.resolve(url, tmp_path / "cache", RecordingLog())
    assert bp.detect(app) == Detection("Greeter")
    ctx = make_ctx(tmp_path, app)
    compile_with(bp, ctx)
    assert (app / "public" / "index.html").is_file()
    offline = classic.resolve(url, tmp_path / "cache", RecordingLog(), offline=True)
    assert offline.detect(app) == Detection("Greeter")


def test_a_tgz_url_that_is_missing_fails_clearly(tmp_path: Path, httpserver):
    httpserver.expect_request("/nope.tgz").respond_with_data("not here", status=404)
    url = httpserver.url_for("/nope.tgz")
    with pytest.raises(DownloadFailed) as failure:
        classic.resolve(url, tmp_path / "cache", RecordingLog())
    assert url in str(failure.value) and "\n" not in str(failure.value)


def test_classic_and_builtin_buildpacks_mix_and_each_sees_the_earlier_exports(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_NODE_MIRROR", make_mirror(tmp_path / "mirror").as_uri())
    source = tmp_path / "src"
    shutil.copytree(FIXTURES / "classic-app", source)
    (source / "package.json").write_text(json.dumps({"engines": {"node": "24.x"}}))
    settings = config.build_settings(
        source=str(source), output=str(tmp_path / "slug.tgz"),
        buildpacks=[str(GREETER), "node", str(REPORTER)], stack=None, cache_dir=str(tmp_path / "cache"),
        clear_cache=False, env=[f"NPM_LOG={tmp_path}/npm.log"], env_file=None,
        commit="c0ffee", max_size=None, offline=False)
    log = RecordingLog()
    report = build.build(settings, log, available=[NodeBuildpack()])
    assert [t for t in log.texts("step") if t.endswith("app detected")] == [
        "Greeter app detected", "Node.js app detected", "Runtime Reporter app detected"]
    app_dir = run.unpack(report.path, tmp_path / "unpacked")
    assert (app_dir / "runtimes.txt").read_text() == f"node: v{FAKE_VERSION}; greeter-tool says hi\n"
    assert (app_dir / ".heroku" / "node" / "bin" / "node").is_file()
    assert (app_dir / "public" / "index.html").is_file()


def test_a_directory_without_bin_detect_is_named(tmp_path: Path, app: Path):
    (tmp_path / "not-a-buildpack").mkdir()
    detection = classic.ClassicBuildpack(tmp_path / "not-a-buildpack", "./not-a-buildpack").detect(app)
    assert detection is not None
    assert detection.error == ("buildpack ./not-a-buildpack has no bin/detect; a classic buildpack needs "
                               "bin/detect and bin/compile")


def test_a_bin_detect_that_leaves_a_background_process_holding_its_output_still_returns(tmp_path: Path):
    bp_dir = tmp_path / "daemonic"
    shutil.copytree(GREETER, bp_dir)
    (bp_dir / "bin" / "detect").write_text(
        '#!/usr/bin/env bash\nsleep 300 & echo $! > "$1/bg.pid"\necho Daemonic\n')
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    try:
        assert classic.ClassicBuildpack(bp_dir, "./daemonic").detect(app_dir) == Detection("Daemonic")
    finally:
        os.kill(int((app_dir / "bg.pid").read_text()), signal.SIGKILL)
