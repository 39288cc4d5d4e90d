"""The Ruby buildpack answering as Heroku's does, on Heroku's own expectations (each test names its source in
heroku/heroku-buildpack-ruby)."""

from __future__ import annotations

from ruby_fakes import RubyApp
from slugbuild.buildpacks.ruby import RubyBuildpack

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
