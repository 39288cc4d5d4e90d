"""The Ruby buildpack against a fake Ruby (stub ruby, bundle and rake) from a file:// mirror."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from node_fakes import make_mirror
from ruby_fakes import RubyApp
from slugbuild.buildpacks.node import NodeBuildpack
from slugbuild.buildpacks.ruby import RubyBuildpack, assets, runtime
from slugbuild.buildpacks.ruby.buildpack import LOCK_MISSING, profile_script
from slugbuild.buildpacks.ruby.framework import detect as detect_framework
from slugbuild.buildpacks.ruby.gemfile_lock import read as read_lock
from slugbuild.buildpacks.ruby.versions import DEFAULT_RUBY

from slugbuild.buildpack import Detection
from slugbuild.errors import BuildFailed, DownloadFailed
from slugbuild.log import RecordingLog

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
@pytest.fixture
def ruby_app(tmp_path) -> RubyApp:
    return RubyApp(tmp_path)


def test_detects_a_gemfile_and_names_a_missing_lock(tmp_path):
    assert RubyBuildpack().detect(FIXTURES / "ruby-rack") == Detection("Ruby")
    assert RubyBuildpack().detect(FIXTURES / "ruby-no-lock") == Detection("Ruby", error=LOCK_MISSING)
    assert RubyBuildpack().detect(tmp_path) is None


def test_compile_without_a_lock_fails_naming_gemfile_lock(tmp_path):
    app = RubyApp(tmp_path, "ruby-no-lock")
    with pytest.raises(BuildFailed, match="^Gemfile.lock is missing: run `bundle install`"):
        app.compile()


def test_ruby_from_the_lock_is_installed_verified_and_recorded(ruby_app):
    log = RecordingLog()
    ctx = ruby_app.context(log=log)
    RubyBuildpack().compile(ctx)
    assert (ruby_app.app_dir / "vendor" / "ruby-3.1.2" / "bin" / "ruby").is_file()
    assert "Installing ruby 3.1.2 (from Gemfile.lock RUBY VERSION)" in log.texts("step")
    [ruby] = ctx.runtimes
    assert ruby.as_json() == {
        "name": "ruby", "requested": "ruby 3.1.2p20", "source": "Gemfile.lock RUBY VERSION",
        "version": "3.1.2", "url": ruby_app.tarball.as_uri(), "sha256": ruby_app.sha256}
    assert ctx.env["PATH"].split(":")[1] == str(ruby_app.app_dir / "vendor" / "ruby-3.1.2" / "bin")


def test_bundler_runs_in_deployment_mode_without_development_and_test(ruby_app):
    ruby_app.compile()
    assert ruby_app.calls()[:2] == [
        "bundle install -j4 --no-clean WITHOUT=development:test DEPLOYMENT=1 PATH=vendor/bundle",
        "bundle clean WITHOUT=development:test DEPLOYMENT=1 PATH=vendor/bundle"]


def test_a_bundle_without_config_var_replaces_the_default_groups(ruby_app):
    ruby_app.compile({"BUNDLE_WITHOUT": "development test staging"})
    assert ruby_app.calls()[0].endswith("WITHOUT=development:test:staging DEPLOYMENT=1 PATH=vendor/bundle")


def test_without_a_sidecar_the_download_is_pinned_and_reported_unverified(tmp_path):
    app = RubyApp(tmp_path, sidecar=False)
    log = RecordingLog()
    ctx = app.context(log=log)
    RubyBuildpack().compile(ctx)
    assert ctx.runtimes[0].as_json()["verified"] is False
    assert ctx.runtimes[0].sha256 == app.sha256
    assert any("has no published checksum" in line for line in log.texts("info"))


def test_a_sidecar_that_does_not_match_fails_the_build(ruby_app):
    Path(f"{ruby_app.tarball}.sha256").write_text("0" * 64 + "  ruby-3.1.2.tgz\n")
    with pytest.raises(DownloadFailed, match="checksum mismatch for .*ruby-3.1.2.tgz"):
        ruby_app.compile()
    assert not (ruby_app.app_dir / "vendor" / "ruby-3.1.2").exists()


def test_a_version_missing_on_the_stack_says_so(tmp_path):
    app = RubyApp(tmp_path, "ruby-not-on-stack")
    with pytest.raises(BuildFailed, match="^The Ruby version you are trying to install does not exist: "
                                          "ruby-2.7.8 .*2.7.8.tgz is not there"):
        app.compile()
    elsewhere = "does not exist on this stack: ruby-2.7.8 on heroku-24 .*; it is built for heroku-22;"
    with pytest.raises(BuildFailed, match=f"^The Ruby version you are trying to install {elsewhere}"):
        (app.mirror / "heroku-22").mkdir()
        (app.mirror / "heroku-22" / "ruby-2.7.8.tgz").write_bytes(b"there")
        app.compile()


@pytest.mark.parametrize(("stack", "path"), [
    ("heroku-24", "heroku-24/amd64/ruby-3.1.2.tgz"),
    ("heroku-22", "heroku-22/ruby-3.1.2.tgz"),
])
def test_urls_follow_herokus_layout(stack, path):
    assert runtime.tarball_url({}, stack, "3.1.2", "amd64") == f"{runtime.UPSTREAM_BASE}/{path}"
    env = {"SLUGBUILD_RUBY_MIRROR": "http://127.0.0.1:9/ruby/"}
    mirrored = runtime.tarball_url(env, stack, "3.1.2", "amd64")
    assert mirrored == f"http://127.0.0.1:9/ruby/{path}"


def test_vendor_bundle_is_restored_from_the_cache_on_a_rebuild(ruby_app):
    first = ruby_app.compile()
    assert "Restoring vendor/bundle from the cache" not in first.texts("info")
    shutil.rmtree(ruby_app.app_dir / "vendor")
    second = ruby_app.compile()
    assert "Restoring vendor/bundle from the cache" in second.texts("info")


def test_a_rebuild_links_ruby_from_the_cache_without_unpacking_again(ruby_app):
    ruby_app.compile()
    ruby_app.tarball.unlink()  # a rebuild that needed the archive would now fail
    shutil.rmtree(ruby_app.root / "cache" / "downloads")
    ruby_app.compile()
    ruby = ruby_app.app_dir / "vendor" / "ruby-3.1.2" / "bin" / "ruby"
    [cached] = (ruby_app.root / "cache" / "unpacked").glob("*/tree/bin/ruby")
    assert os.path.samefile(ruby, cached)


def test_a_committed_vendor_bundle_is_removed_with_a_warning(ruby_app):
    (ruby_app.app_dir / "vendor" / "bundle" / "stale").mkdir(parents=True)
    log = ruby_app.compile()
    assert any("Removing the committed vendor/bundle" in w for w in log.texts("warn"))
    assert not (ruby_app.app_dir / "vendor" / "bundle" / "stale").exists()


def test_the_profile_sets_paths_and_the_frameworks_defaults(ruby_app):
    ruby_app.compile()
    profile = (ruby_app.app_dir / ".profile.d" / "ruby.sh").read_text()
    assert profile.splitlines()[0] == ('export PATH="$HOME/bin:$HOME/vendor/bundle/bin:'
                                       '$HOME/vendor/bundle/ruby/3.1.0/bin:$HOME/vendor/ruby-3.1.2/bin:$PATH"')
    assert 'export GEM_PATH="$HOME/vendor/bundle/ruby/3.1.0${GEM_PATH:+:$GEM_PATH}"' in profile
    assert 'export LANG="${LANG:-en_US.UTF-8}"' in profile
    assert 'export RACK_ENV="${RACK_ENV:-production}"' in profile
    assert "RAILS_ENV" not in profile


def test_rails_profile_defaults_rails_env():
    rails = detect_framework(read_lock(FIXTURES / "ruby-rails"))
    script = profile_script(Path("vendor/ruby-3.1.2"), "3.1.2", rails)
    assert 'export RAILS_ENV="${RAILS_ENV:-production}"' in script
    assert 'export RAILS_LOG_TO_STDOUT="${RAILS_LOG_TO_STDOUT:-enabled}"' in script


RUBY_DEFAULTS = {"rake": "bundle exec rake", "console": "bundle exec irb"}


@pytest.mark.parametrize(("fixture", "description", "process_types"), [
    ("ruby-no-version", "Ruby", RUBY_DEFAULTS),
    ("ruby-rack", "Ruby/Rack", {**RUBY_DEFAULTS, "web": "bundle exec rackup config.ru -p ${PORT:-5000}"}),
    ("ruby-rack-thin", "Ruby/Rack",
     {**RUBY_DEFAULTS, "web": "bundle exec thin start -R config.ru -e $RACK_ENV -p ${PORT:-5000}"}),
    ("ruby-rails", "Ruby/Rails", {"rake": "bundle exec rake", "console": "bin/rails console",
                                  "web": "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV"}),
])
def test_default_process_types_follow_the_locked_gems(tmp_path, fixture, description, process_types):
    app = RubyApp(tmp_path, fixture)
    info = RubyBuildpack().release(app.context())
    assert (info.description, dict(info.process_types)) == (description, process_types)


def test_rails_precompiles_assets_when_the_task_exists(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    log = app.compile(FAKE_RAKE_TASKS="assets:precompile assets:clean db:migrate")
    assert [c for c in app.calls() if c.startswith("rake")] == [
        "rake -P RAILS_ENV=production", "rake assets:precompile RAILS_ENV=production",
        "rake assets:clean RAILS_ENV=production"]
    assert "Running: rake assets:precompile" in log.texts("info")


def test_rails_without_the_task_skips_precompilation(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    log = app.compile(FAKE_RAKE_TASKS="db:migrate")
    assert [c for c in app.calls() if c.startswith("rake")] == ["rake -P RAILS_ENV=production"]
    assert "Asset precompilation skipped: the app has no assets:precompile rake task" in log.texts("info")


def test_committed_assets_skip_precompile(tmp_path):
    # Rails4#run_assets_precompile_rake_task returns before the task runs; the tasks are still listed, as
    # Heroku's default_process_types asks whether jobs:work exists.
    app = RubyApp(tmp_path, "ruby-rails-assets-committed")
    log = app.compile(FAKE_RAKE_TASKS="assets:precompile")
    assert [c for c in app.calls() if c.startswith("rake")] == ["rake -P RAILS_ENV=production"]
    assert "Detected manifest file, assuming assets were compiled locally" in log.texts("info")


def test_a_rakefile_that_does_not_load_fails_in_one_line(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    with pytest.raises(BuildFailed, match=r"^could not list rake tasks \(cannot load such file -- "
                                          r"config/application\); make sure `bundle exec rake -P` runs"):
        app.compile(FAKE_RAKE_FAILS="cannot load such file -- config/application")


def test_a_config_rails_env_reaches_the_assets_step(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    app.compile({"RAILS_ENV": "staging"}, FAKE_RAKE_TASKS="assets:precompile")
    assert "rake assets:precompile RAILS_ENV=staging" in app.calls()


def test_plain_ruby_apps_never_run_rake(ruby_app):
    ruby_app.compile(FAKE_RAKE_TASKS="assets:precompile")
    assert not [c for c in ruby_app.calls() if c.startswith("rake")]


def test_node_then_ruby_the_assets_step_finds_the_node_installed_before_it(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    (app.app_dir / "package.json").write_text('{"engines": {"node": "24.x"}}')
    log = RecordingLog()
    shared = app.context(log=log, FAKE_RAKE_TASKS="assets:precompile",
                         SLUGBUILD_NODE_MIRROR=make_mirror(tmp_path / "node-mirror").as_uri())
    shared.config = {"NPM_LOG": str(tmp_path / "npm.log")}
    NodeBuildpack().compile(shared.for_buildpack("node"))
    RubyBuildpack().compile(shared.for_buildpack("ruby"))
    node = app.app_dir / ".heroku" / "node" / "bin" / "node"
    assert f"node for assets: {node}" in app.calls()
    assert [r.name for r in shared.runtimes] == ["node", "ruby"]


def test_no_version_in_the_lock_installs_the_default_and_warns(tmp_path):
    app = RubyApp(tmp_path, "ruby-no-version")
    log = RecordingLog()
    # The fake mirror has only 3.1.2: what matters here is what was asked for, and the warning.
    with pytest.raises(BuildFailed, match=f"^The Ruby version .* does not exist: ruby-{DEFAULT_RUBY} "):
        RubyBuildpack().compile(app.context(log=log))
    assert f"Installing ruby {DEFAULT_RUBY} (default)" in log.texts("step")
    assert [w for w in log.texts("warn") if w.startswith("Gemfile.lock declares no Ruby version")]


def test_offline_bundler_installs_only_from_gems_it_already_has(ruby_app):
    ctx = ruby_app.context()
    ctx.offline = True
    RubyBuildpack().compile(ctx)
    assert ruby_app.calls()[0] == (
        "bundle install -j4 --no-clean --local WITHOUT=development:test DEPLOYMENT=1 PATH=vendor/bundle")


@pytest.mark.parametrize("kept", ["", "0123abc", "x" * 128], ids=["empty", "cut short", "not hex"])
def test_a_damaged_cached_secret_key_base_is_replaced_by_a_whole_one(tmp_path, kept):
    ctx = RubyApp(tmp_path).context()
    (ctx.cache_dir / "secret_key_base").parent.mkdir(parents=True)
    (ctx.cache_dir / "secret_key_base").write_text(kept)
    secret = assets.secret_key_base(ctx)
    assert len(secret) == 128 and set(secret) <= set("0123456789abcdef")
    assert assets.secret_key_base(ctx) == secret  # kept for the next build
