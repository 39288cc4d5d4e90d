"""Bad Ruby apps through the real CLI: each ends in one clear line, exit status 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from slugbuild.buildpacks.ruby.runtime import host_arch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(("fixture", "message"), [
    ("ruby-no-lock", "Gemfile.lock is missing: run `bundle install` (or `bundle lock`) and commit "
                     "Gemfile.lock; the build installs exactly the gems it lists"),
    ("ruby-jruby", "Gemfile.lock asks for JRuby (ruby 3.1.4p0 (jruby 9.4.5.0)), which slugbuild does not "
                   "build; use MRI Ruby (`ruby \"x.y.z\"` in the Gemfile, then `bundle update --ruby`)"),
    # heroku/heroku-buildpack-ruby lib/language_pack/ruby.rb install_ruby: the stacks that have it named
    ("ruby-not-on-stack", "The Ruby version you are trying to install does not exist on this stack: "
                          "ruby-2.7.8 on heroku-24 ({mirror}/heroku-24/{arch}/ruby-2.7.8.tgz is not there); "
                          "it is built for heroku-22; pick a Ruby built for heroku-24 and run `bundle update "
                          "--ruby`, or build with --stack heroku-22"),
    # heroku/heroku-buildpack-ruby spec/hatchet/ruby_spec.rb "bad ruby version": set_ruby_version 2.9.0.lol
    ("ruby-version-lol",
     "The Ruby version you are trying to install does not exist: ruby-2.9.0.lol ({mirror}/heroku-24/{arch}/"
     "ruby-2.9.0.lol.tgz is not there); set a released version with `ruby \"x.y.z\"` in the Gemfile and run "
     "`bundle update --ruby` (Heroku's list: https://devcenter.heroku.com/articles/ruby-support#supported-runtimes)"),
])
def test_bad_ruby_apps_end_in_one_line(run_cli, tmp_path, fixture, message):
    mirror = tmp_path / "mirror"
    (mirror / "heroku-22").mkdir(parents=True)
    (mirror / "heroku-22" / "ruby-2.7.8.tgz").write_bytes(b"only its presence is asked about")
    result = run_cli("build", FIXTURES / fixture, "-o", tmp_path / "slug.tgz", "--buildpack", "ruby",
                     env={"SLUGBUILD_RUBY_MIRROR": mirror.as_uri(), "STACK": "heroku-24"})
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    expected = message.format(mirror=mirror.as_uri(), arch=host_arch())
    assert result.last_error_line.strip() == "!     " + expected
    assert not (tmp_path / "slug.tgz").exists()
