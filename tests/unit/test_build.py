"""The pipeline with tiny fake buildpacks: detection, the build environment, release, report."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from slugbuild import build, config
from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo, Runtime
from slugbuild.errors import BuildFailed, CommandFailed, UsageError
from slugbuild.inventory import Inventory
from slugbuild.log import RecordingLog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class FakeBuildpack:
    """Detects when `marker` exists; records what it saw; offers `types` and `config_vars` on release."""

    name: str
    marker: str
    display: str = ""
    types: dict[str, str] = field(default_factory=dict)
    config_vars: dict[str, str] = field(default_factory=dict)
    release_description: str | None = None
    error: str | None = None
    seen: dict[str, object] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def detect(self, app_dir: Path) -> Detection | None:
        if not (app_dir / self.marker).exists():
            return None
        return Detection(self.display or self.name.title(), self.error)

    def compile(self, ctx: BuildContext) -> None:
        self.seen.update(env=dict(ctx.env), cache_dir=ctx.cache_dir, config=dict(ctx.config),
                         env_dir={p.name: p.read_text() for p in ctx.env_dir.iterdir()},
                         app_files=sorted(p.name for p in ctx.app_dir.iterdir()))
        ctx.export(f"{self.name.upper()}_HOME", str(ctx.app_dir / f".{self.name}"))
        (ctx.app_dir / f"built-by-{self.name}").write_text("yes")

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        return ReleaseInfo(self.types, self.config_vars, self.release_description)

    def inventory(self, ctx: BuildContext) -> Inventory:
        return Inventory(self.marker)


@pytest.fixture
def app(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "package.json").write_text("{}")
    (src / "Gemfile").write_text("")
    return src


def settings(src: Path, tmp_path: Path, **overrides) -> config.BuildSettings:
    values = dict(source=str(src), output=str(tmp_path / "out" / "slug.tgz"), buildpacks=None, stack=None,
                  cache_dir=str(tmp_path / "cache"), clear_cache=False, env=None, env_file=None, commit=None,
                  max_size=None, offline=False)
    return config.build_settings(**{**values, **overrides})


def trio() -> list[FakeBuildpack]:
    ruby_types = {"web": "rackup", "console": "irb", "rake": "rake"}
    return [FakeBuildpack("ruby", "Gemfile", "Ruby", types=ruby_types),
            FakeBuildpack("node", "package.json", "Node.js", types={"web": "npm start"},
                          aliases=("heroku/nodejs",)),
            FakeBuildpack("go", "go.mod", "Go")]


def run(src: Path, tmp_path: Path, available, **overrides) -> tuple[build.BuildReport, RecordingLog]:
    log = RecordingLog()
    return build.build(settings(src, tmp_path, **overrides), log, available), log


def test_the_step_transcript_reads_like_herokus(app, tmp_path):
    (app / ".slugignore").write_text("*.md\n")
    (app / "README.md").write_text("docs")
    (app / "Procfile").write_text("web: npm start\n")
    _, log = run(app, tmp_path, trio(), buildpacks=["node"])
    assert log.texts("step") == ["Building on the Heroku-24 stack",
                                 "Deleting 1 files matching .slugignore patterns.", "Using buildpack: node",
                                 "Node.js app detected", "Discovering process types", "Compressing..."]
    assert log.texts("info")[:1] == ["Procfile declares types -> web"]
    assert log.texts("info")[1].startswith("Done: ")


def test_the_first_buildpack_that_detects_wins_and_the_others_are_named(app, tmp_path):
    bps = trio()
    report, log = run(app, tmp_path, bps)
    assert "Ruby app detected" in log.texts("step")
    assert log.texts("warn") == ["Node.js also detected; using Ruby (pick others with --buildpack)"]
    assert bps[0].seen and not bps[1].seen
    assert report.buildpack_provided_description == "Ruby"


def test_no_buildpack_detects_is_one_line_listing_what_was_tried(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BuildFailed) as err:
        run(empty, tmp_path, trio())
    assert str(err.value) == ("no buildpack detected this app (tried ruby, node, go); "
                              "pick one with --buildpack NAME")
    assert not (tmp_path / "out").exists()


def test_a_detection_error_fails_the_build_with_its_message(app, tmp_path):
    bps = trio()
    bps[0].error = "Gemfile.lock is missing: run `bundle install` and commit Gemfile.lock"
    with pytest.raises(BuildFailed, match="^Gemfile.lock is missing: run `bundle install`"):
        run(app, tmp_path, bps)


def test_several_buildpacks_run_in_order_and_later_ones_see_what_earlier_ones_exported(app, tmp_path):
    node, ruby = trio()[1], trio()[0]
    report, log = run(app, tmp_path, [ruby, node], buildpacks=["heroku/nodejs", "ruby"])
    assert log.texts("step")[:4] == ["Building on the Heroku-24 stack", "Using buildpacks:",
                                     "Node.js app detected", "Ruby app detected"]
    assert log.texts("info")[:2] == ["1. heroku/nodejs", "2. ruby"]
    assert "NODE_HOME" not in node.seen["env"]
    assert ruby.seen["env"]["NODE_HOME"].endswith("/.node")
    assert "built-by-node" in ruby.seen["app_files"]
    assert report.process_types == {"web": "rackup", "console": "irb", "rake": "rake"}
    assert report.buildpack_provided_description == "Ruby"


def test_an_explicit_buildpack_that_does_not_detect_stops_the_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "package.json").write_text("{}")
    with pytest.raises(BuildFailed, match="^App not compatible with buildpack: go; "):
        run(src, tmp_path, trio(), buildpacks=["node", "go"])


def test_an_unknown_buildpack_name_lists_the_known_ones(app, tmp_path):
    with pytest.raises(UsageError, match=r"^unknown buildpack 'php': use one of go, node, ruby, a directory"):
        run(app, tmp_path, trio(), buildpacks=["php"])


def test_defaults_merge_key_by_key_later_wins_and_the_procfile_wins_over_all(app, tmp_path):
    (app / "Procfile").write_text("worker: bin/worker\nweb: bin/web\n")
    ruby, node = trio()[0], trio()[1]
    node.types = {"web": "npm start", "build": "npm run build"}
    report, log = run(app, tmp_path, [ruby, node], buildpacks=["ruby", "node"])
    assert report.process_types == {"web": "bin/web", "worker": "bin/worker", "console": "irb",
                                    "rake": "rake", "build": "npm run build"}
    infos = log.texts("info")
    declared = infos.index("Procfile declares types -> web, worker")
    assert infos[declared + 1] == "Default types for buildpack -> build, console, rake"


def test_without_a_procfile_the_log_says_none(app, tmp_path):
    _, log = run(app, tmp_path, trio()[1:], buildpacks=["node"])
    assert "Procfile declares types -> (none)" in log.texts("info")
    assert log.texts("warn") == []


def test_a_slug_with_no_process_types_at_all_gets_a_warning(app, tmp_path):
    report, log = run(app, tmp_path, [FakeBuildpack("node", "package.json")])
    assert report.process_types == {}
    assert log.texts("warn") == ["No process types: nothing will run this slug; add a Procfile line such as "
                                 "`web: COMMAND`"]


def test_a_bad_procfile_fails_the_build_with_its_line(tmp_path):
    src = FIXTURES / "procfile-bad-type"
    with pytest.raises(BuildFailed, match=r"^Procfile:3: process type 'we b' may use only letters"):
        run(src, tmp_path, trio())
    assert not (tmp_path / "out").exists()


def test_the_description_is_the_last_buildpacks_own_or_its_name(app, tmp_path):
    bps = trio()
    bps[1].release_description = "Node.js/Express"
    report, _ = run(app, tmp_path, bps, buildpacks=["ruby", "node"])
    assert report.buildpack_provided_description == "Node.js/Express"


def test_the_build_environment_is_clean(app, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    monkeypatch.setenv("HEROKU_API_KEY", "leak")
    monkeypatch.setenv("SLUGBUILD_SERVE_KEY", "leak")
    monkeypatch.setenv("https_proxy", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("SLUGBUILD_NODE_MIRROR", "file:///mirror/node")
    node = trio()[1]
    run(app, tmp_path, [node], commit="abc123", stack="heroku-22")
    env = node.seen["env"]
    assert env["STACK"] == "heroku-22" and env["SOURCE_VERSION"] == "abc123"
    assert env["https_proxy"] == "http://proxy:3128" and env["NO_PROXY"] == "localhost"
    assert env["LC_ALL"] == "C.UTF-8" and env["SLUGBUILD_NODE_MIRROR"] == "file:///mirror/node"
    assert env["PATH"] == os.environ["PATH"]
    assert "leak" not in env.values()


def test_config_vars_reach_buildpacks_as_an_env_dir_not_the_environment(app, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("FROM_FILE=1\nMULTI=\"line one\\nline two\"\n")
    node = trio()[1]
    run(app, tmp_path, [node], env=["NODE_ENV=staging", "FROM_FILE=2"], env_file=str(env_file))
    assert node.seen["env_dir"] == {"NODE_ENV": "staging", "FROM_FILE": "2", "MULTI": "line one\nline two"}
    assert node.seen["config"] == node.seen["env_dir"]
    assert "NODE_ENV" not in node.seen["env"]


def test_a_config_var_that_cannot_be_a_file_name_stays_out_of_env_dir(app, tmp_path):
    node = trio()[1]
    _, log = run(app, tmp_path, [node], base_config={"../escape": "x", "GOOD": "1"})
    assert node.seen["env_dir"] == {"GOOD": "1"}
    assert log.texts("warn") == ["config var '../escape' cannot be a file name in ENV_DIR; "
                                 "buildpacks will not see it"]


def test_clear_cache_empties_a_slugbuild_cache_only(app, tmp_path):
    run(app, tmp_path, trio()[1:])
    (tmp_path / "cache" / "node" / "old").write_text("stale")
    run(app, tmp_path, trio()[1:], clear_cache=True)
    assert not (tmp_path / "cache" / "node" / "old").exists()
    (tmp_path / "not-a-cache").mkdir()
    (tmp_path / "not-a-cache" / "precious").write_text("keep")
    with pytest.raises(UsageError, match="has no CACHEDIR.TAG, so it is not a slugbuild cache; refusing"):
        run(app, tmp_path, trio()[1:], clear_cache=True, cache_dir=str(tmp_path / "not-a-cache"))
    assert (tmp_path / "not-a-cache" / "precious").read_text() == "keep"


def test_clear_cache_empties_the_default_cache_even_before_it_was_tagged(tmp_path):
    cache = tmp_path / "user-cache" / "slugbuild"
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "old.tgz").write_text("stale")
    build.prepare_cache(cache, True, is_default=True)
    assert sorted(p.name for p in cache.iterdir()) == ["CACHEDIR.TAG"]


def test_a_cache_directory_that_cannot_be_made_is_one_clear_error(app, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=f"^cache directory {tmp_path}/file/cache: Not a directory; give"):
        run(app, tmp_path, trio()[1:], cache_dir=str(tmp_path / "file" / "cache"))


def test_each_buildpack_gets_its_own_cache_directory(app, tmp_path):
    ruby, node = trio()[0], trio()[1]
    run(app, tmp_path, [ruby, node], buildpacks=["ruby", "node"])
    assert ruby.seen["cache_dir"] == tmp_path / "cache" / "ruby"
    assert node.seen["cache_dir"] == tmp_path / "cache" / "node"


class FailingBuildpack(FakeBuildpack):
    def compile(self, ctx: BuildContext) -> None:
        ctx.run(["sh", "-c", "echo installing; echo boom >&2; exit 3"])


def test_a_failing_command_shows_its_output_and_ends_as_one_line(app, tmp_path):
    log = RecordingLog()
    with pytest.raises(CommandFailed) as err:
        build.build(settings(app, tmp_path), log, [FailingBuildpack("node", "package.json")])
    assert log.texts("child") == ["installing", "boom"]
    assert str(err.value) == "`sh -c echo installing; echo boom >&2; exit 3` failed with exit status 3"
    assert not (tmp_path / "out").exists()


def test_config_var_defaults_are_exported_unless_already_set(app, tmp_path):
    odd = "it's \"quoted\" $HOME `x` }{ \\ \nnew line"
    node = FakeBuildpack("node", "package.json", config_vars={"NODE_ENV": "production", "ODD": odd})
    report, _ = run(app, tmp_path, [node])
    with tarfile.open(report.path) as tar:
        script = tar.extractfile("./app/.profile.d/000_config_vars.sh").read().decode()
    assert script.startswith("export NODE_ENV=${NODE_ENV:-production}\n")
    out = subprocess.run(["bash", "-c", script + 'printf "%s|%s" "$NODE_ENV" "$ODD"'], capture_output=True,
                         text=True, env={"NODE_ENV": "staging", "PATH": os.environ["PATH"]}).stdout
    assert out == f"staging|{odd}"


class RuntimeBuildpack(FakeBuildpack):
    def compile(self, ctx: BuildContext) -> None:
        ctx.record_runtime(Runtime("node", "^20", "package.json engines.node", "20.12.0",
                                   "http://127.0.0.1/node.tgz", "ab" * 32))


def test_the_report_is_returned_and_written_beside_the_slug(app, tmp_path):
    report, _ = run(app, tmp_path, [RuntimeBuildpack("node", "package.json", types={"web": "npm start"})],
                    commit="abc123")
    written = json.loads((tmp_path / "out" / "slug.tgz.json").read_text())
    assert written == report.as_json()
    assert written == {
        "path": str(tmp_path / "out" / "slug.tgz"), "checksum": report.checksum, "size": report.size,
        "process_types": {"web": "npm start"}, "stack": "heroku-24", "buildpack_provided_description": "Node",
        "commit": "abc123",
        "runtimes": [{"name": "node", "requested": "^20", "source": "package.json engines.node",
                      "version": "20.12.0", "url": "http://127.0.0.1/node.tgz", "sha256": "ab" * 32}],
        "buildpacks": ["node"], "source_date_epoch": 0,
        "sbom": str(tmp_path / "out" / "slug.tgz.cdx.json"),
        "provenance": str(tmp_path / "out" / "slug.tgz.intoto.json"),
    }
    assert report.size == (tmp_path / "out" / "slug.tgz").stat().st_size


def test_slugbuilds_own_files_inside_the_source_stay_out_of_the_slug(app, tmp_path):
    out, cache = app / "slug.tgz", app / ".cache"
    first, _ = run(app, tmp_path, trio()[1:], output=str(out), cache_dir=str(cache))
    second, _ = run(app, tmp_path, trio()[1:], output=str(out), cache_dir=str(cache))
    assert first.checksum == second.checksum
    with tarfile.open(out) as tar:
        assert not {"./app/slug.tgz", "./app/slug.tgz.json", "./app/slug.tgz.cdx.json",
                    "./app/slug.tgz.intoto.json", "./app/.cache"} & set(tar.getnames())


def test_links_pointing_outside_are_kept_as_links_and_warned_about(tmp_path):
    report, log = run(FIXTURES / "symlink-outside", tmp_path, trio())
    with tarfile.open(report.path) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
    assert links == {"./app/manifest.json": "package.json", "./app/passwd": "/etc/passwd",
                     "./app/shared": "../shared-config"}
    assert [w for w in log.texts("warn") if "symlink" in w] == [
        "app/passwd -> /etc/passwd: symlink points outside the app; it will dangle on a dyno",
        "app/shared -> ../shared-config: symlink points outside the app; it will dangle on a dyno"]


def test_an_unparsable_procfile_line_is_skipped_with_its_line_number(tmp_path):
    report, log = run(FIXTURES / "procfile-unparsable-line", tmp_path, trio())
    assert report.process_types == {"web": "node web.js", "worker": "node worker.js"}
    assert log.texts("warn") == ["Procfile:2: 'this line has no colon' is not `name: command`; line skipped"]


def test_the_work_directory_is_removed(app, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    run(app, tmp_path, trio()[1:])
    with pytest.raises(BuildFailed):
        run(app, tmp_path, [FailingBuildpack("node", "package.json")])
    assert list((tmp_path / "tmp").iterdir()) == []


def test_summary_shows_types_size_checksum_and_path(app, tmp_path):
    report, _ = run(app, tmp_path, trio()[1:])
    log = RecordingLog()
    build.print_summary(report, log)
    assert log.texts("info") == ["web: npm start", f"Size: {build.slug.human_size(report.size)} "
                                 f"({report.size} bytes)", f"Checksum: {report.checksum}",
                                 f"Path: {report.path}"]
