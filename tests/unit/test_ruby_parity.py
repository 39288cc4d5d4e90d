"""The Ruby buildpack answering as Heroku's does, on Heroku's own expectations (each test names its source in
heroku/heroku-buildpack-ruby)."""

from __future__ import annotations

import pytest
from ruby_fakes import RubyApp
from slugbuild.buildpacks.ruby import RubyBuildpack, framework
from slugbuild.buildpacks.ruby.gemfile_lock import GemfileLock, parse

from slugbuild.log import RecordingLog


def test_a_pre_release_is_downloaded_logged_and_reported_whole(tmp_path):
    # spec/helpers/heroku_ruby_installer_spec.rb: `ruby 3.5.0.preview1` installs ruby-3.5.0.preview1.tgz
    app = RubyApp(tmp_path, "ruby-prerelease", version="3.4.0.rc1")
    log = RecordingLog()
    ctx = app.context(log=log)

    RubyBuildpack().compile(ctx)
    assert "Installing ruby 3.4.0.rc1 (from Gemfile.lock RUBY VERSION)" in log.texts("step")
    [ruby] = ctx.runtimes
    assert (ruby.version, ruby.requested, ruby.url) == ("3.4.0.rc1", "ruby 3.4.0.rc1", app.tarball.as_uri())
    assert app.tarball.name == "ruby-3.4.0.rc1.tgz"
    assert (app.app_dir / "vendor" / "ruby-3.4.0.rc1" / "bin" / "ruby").is_file()
    profile = (app.app_dir / ".profile.d" / "ruby.sh").read_text()
    assert "$HOME/vendor/bundle/ruby/3.4.0/bin" in profile and "$HOME/vendor/ruby-3.4.0.rc1/bin" in profile
    assert not log.texts("warn")


def lock_with(*specs: str) -> GemfileLock:
    gems = "".join(f"    {spec}\n" for spec in specs)
    return parse(f"GEM\n  remote: https://rubygems.org/\n  specs:\n{gems}\nRUBY VERSION\n   ruby 3.1.2p20\n")


RUBY = {"rake": "bundle exec rake", "console": "bundle exec irb"}
RAILS2 = {**RUBY, "web": "bundle exec ruby script/server -p ${PORT:-5000}",
          "console": "bundle exec script/console"}


# lib/language_pack.rb tries Rails8 ... Rails2, Rack, Ruby; lib/language_pack/rails2.rb, rails3.rb and
# rails4.rb each merge their default_process_types over their parent's (Rails2 and Rails3 pick thin when
# it is locked); Rails 5 to 8 inherit Rails 4's.
@pytest.mark.parametrize(("specs", "process_types"), [
    (("rails (2.3.18)", "rack (1.1.6)"), RAILS2),
    (("rails (2.3.18)", "thin (1.2.11)"),
     {**RUBY, "web": "bundle exec thin start -e $RAILS_ENV -p ${PORT:-5000}",
      "console": "bundle exec script/console"}),
    (("railties (3.2.22.5)", "rack (1.4.7)"),
     {**RUBY, "web": "bundle exec rails server -p ${PORT:-5000}", "console": "bundle exec rails console"}),
    (("railties (3.2.22.5)", "thin (1.5.1)"),
     {**RUBY, "web": "bundle exec thin start -R config.ru -e $RAILS_ENV -p ${PORT:-5000}",
      "console": "bundle exec rails console"}),
    (("railties (4.2.11)", "thin (1.7.2)"),
     {**RUBY, "web": "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV", "console": "bin/rails console"}),
    (("railties (8.0.2)",),
     {**RUBY, "web": "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV", "console": "bin/rails console"}),
    # Rails8.use? stops below 9: no Rails class matches, so Rack (rack.rb) answers
    (("railties (9.0.0)", "rack (3.1.0)"), {**RUBY, "web": "bundle exec rackup config.ru -p ${PORT:-5000}"}),
    # a `rails` gem alone counts only as Rails 2 (Rails3.use? and later read railties)
    (("rails (3.2.22)",), RUBY),
])
def test_each_rails_generation_gets_herokus_process_types(specs, process_types):
    assert framework.detect(lock_with(*specs)).process_types == process_types


BASE_ENV = {"LANG": "en_US.UTF-8", "PUMA_PERSISTENT_TIMEOUT": "95"}


# lib/language_pack/helpers/default_env_vars.rb and spec/helpers/default_env_vars_spec.rb: RACK_ENV with
# rack, RAILS_ENV with railties, RAILS_SERVE_STATIC_FILES from 4.2.0, RAILS_LOG_TO_STDOUT from 5.0.0.
@pytest.mark.parametrize(("specs", "env"), [
    ((), BASE_ENV),
    (("rack (2.0.0)",), {**BASE_ENV, "RACK_ENV": "production"}),
    (("rails (2.3.18)", "rack (1.1.6)"), {**BASE_ENV, "RACK_ENV": "production"}),
    (("railties (4.1.16)",), {**BASE_ENV, "RAILS_ENV": "production"}),
    (("railties (4.2.0)", "rack (1.6.0)"), {**BASE_ENV, "RACK_ENV": "production", "RAILS_ENV": "production",
                                            "RAILS_SERVE_STATIC_FILES": "enabled"}),
    (("railties (5.0.0)",), {**BASE_ENV, "RAILS_ENV": "production", "RAILS_SERVE_STATIC_FILES": "enabled",
                             "RAILS_LOG_TO_STDOUT": "enabled"}),
])
def test_config_defaults_follow_herokus_default_env_vars(specs, env):
    assert framework.detect(lock_with(*specs)).env_defaults == env


def test_a_rails2_app_with_jobs_work_gets_a_worker_and_its_rake_may_fail(tmp_path):
    # rails2.rb default_process_types: `worker: bundle exec rake jobs:work` when the task is defined;
    # ruby.rb `rake`: only Rails 3 and later fail the build when the Rakefile does not load.
    app = RubyApp(tmp_path, "ruby-rails2")
    buildpack = RubyBuildpack()
    buildpack.compile(app.context(FAKE_RAKE_TASKS="jobs:work db:migrate"))
    info = buildpack.release(app.context())
    assert (info.description, dict(info.process_types)) == ("Ruby/Rails", {
        **RAILS2, "worker": "bundle exec rake jobs:work"})
    log = RecordingLog()
    buildpack.compile(app.context(log=log, FAKE_RAKE_FAILS="uninitialized constant Rails::Boot"))
    assert "worker" not in buildpack.release(app.context()).process_types
    assert any("going on without the app's rake tasks" in w for w in log.texts("warn"))


def test_a_rails4_app_with_jobs_work_gets_a_worker(tmp_path):
    app = RubyApp(tmp_path, "ruby-rails")
    buildpack = RubyBuildpack()
    buildpack.compile(app.context(FAKE_RAKE_TASKS="jobs:work"))
    assert buildpack.release(app.context()).process_types["worker"] == "bundle exec rake jobs:work"


def test_config_vars_reach_bundle_install_but_not_the_log(tmp_path):
    # lib/language_pack/ruby.rb build_bundler runs bundler with `user_env: true`: every config var but
    # shell_helpers.rb's blacklist (PATH, GEM_PATH, ...), values stripped; bundler's own settings win.
    app = RubyApp(tmp_path)
    dump = tmp_path / "bundle.env"
    config = {"BUNDLE_GEMS__EXAMPLE__COM": "user:s3cret\n", "PATH": "/evil", "RUBYOPT": "-rbad",
              "BUNDLE_PATH": "elsewhere", "MY_SETTING": "on"}
    log = RecordingLog()
    RubyBuildpack().compile(app.context(config, log, FAKE_BUNDLE_ENV=str(dump)))
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["BUNDLE_GEMS__EXAMPLE__COM"] == "user:s3cret" and seen["MY_SETTING"] == "on"
    assert seen["BUNDLE_PATH"] == "vendor/bundle" and "RUBYOPT" not in seen
    assert "/evil" not in seen["PATH"]
    assert seen["BUNDLE_CONFIG"] == str(app.app_dir / ".bundle" / "config")
    assert not [text for _, text in log.events if "s3cret" in text]
