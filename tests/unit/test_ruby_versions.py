"""Which Ruby a build installs, where that came from, and what it warns about."""

from __future__ import annotations

from pathlib import Path

import pytest
from slugbuild.buildpacks.ruby.gemfile_lock import parse, read
from slugbuild.buildpacks.ruby.versions import DEFAULT_RUBY, LOCK_SOURCE, resolve

from slugbuild.errors import BuildFailed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ruby"


@pytest.mark.parametrize(("app_dir", "version", "requested", "source", "warnings"), [
    (EXAMPLE, "3.1.2", "ruby 3.1.2p20", LOCK_SOURCE, []),
    (FIXTURES / "ruby-no-version", DEFAULT_RUBY, None, "default",
     [f"Gemfile.lock declares no Ruby version; using the default ruby {DEFAULT_RUBY}"]),
    (FIXTURES / "ruby-unlocked-versions", DEFAULT_RUBY, None, "default", [
        "the Gemfile asks for ruby 3.2.2 but Gemfile.lock records no Ruby version",
        ".ruby-version asks for ruby 3.2.2 but Gemfile.lock records no Ruby version",
        "Gemfile.lock declares no Ruby version"]),
])
def test_the_lock_decides_and_everything_else_warns(app_dir, version, requested, source, warnings):
    request = resolve(app_dir, read(app_dir))
    assert (request.version, request.requested, request.source) == (version, requested, source)
    assert len(request.warnings) == len(warnings)
    for warning, start in zip(request.warnings, warnings, strict=True):
        assert warning.startswith(start)
    assert all("bundle update --ruby" in w for w in request.warnings)


def test_a_ruby_version_file_that_disagrees_with_the_lock_warns(tmp_path):
    (tmp_path / "Gemfile").write_text('source "https://rubygems.org"\nruby "3.1.2"\n')
    (tmp_path / "Gemfile.lock").write_text((EXAMPLE / "Gemfile.lock").read_text())
    (tmp_path / ".ruby-version").write_text("ruby-3.3.0\n")
    request = resolve(tmp_path, read(tmp_path))
    assert request.version == "3.1.2"
    assert request.warnings == (".ruby-version asks for ruby 3.3.0 but Gemfile.lock records 3.1.2, and only "
                                "the lock counts; run `bundle update --ruby` and commit Gemfile.lock",)


def test_a_matching_ruby_version_file_is_quiet(tmp_path):
    (tmp_path / "Gemfile.lock").write_text((EXAMPLE / "Gemfile.lock").read_text())
    (tmp_path / ".ruby-version").write_text("3.1.2\n")
    assert resolve(tmp_path, read(tmp_path)).warnings == ()


def test_jruby_is_refused_in_one_line():
    with pytest.raises(BuildFailed, match=r"^Gemfile.lock asks for JRuby \(ruby 3.1.4p0 \(jruby 9.4.5.0\)\)"):
        resolve(FIXTURES / "ruby-jruby", read(FIXTURES / "ruby-jruby"))


@pytest.mark.parametrize(("section", "version"), [
    ("RUBY VERSION\n   ruby 3.3.0p0\n", "3.3.0"),
    ("RUBY VERSION\n  ruby 3.2.2\n", "3.2.2"),  # two-space indent, no patchlevel
    ("RUBY VERSION\n   ruby 3.4.0.preview1\n", "3.4.0"),
    ("RUBY VERSION\r\n   ruby 3.1.2p20\r\n", "3.1.2"),  # a lock written on Windows
    ("RUBY VERSION\n    ruby 3.1.2p20\n", None),  # four spaces: not Heroku's format
    ("", None),
])
def test_lock_ruby_version_is_read_as_heroku_reads_it(section, version):
    assert parse(f"GEM\n  specs:\n\n{section}\nBUNDLED WITH\n   2.4.10\n").ruby_version == version


def test_lock_gems_and_bundler_version():
    lock = read(FIXTURES / "ruby-rails")
    assert lock.bundled_with == "2.3.7"
    assert lock.gems["railties"] == "7.0.8" and lock.gem_major("railties") == 7
    assert "rails (~> 7.0.8)" not in lock.gems  # DEPENDENCIES entries are not locked specs


# heroku/heroku-buildpack-ruby spec/helpers/gemfile_lock_spec.rb ("handles RC dot syntax", "handles pre
# without a number", "handles preview dot syntax", "captures jruby version") and ruby_version_spec.rb:
# the version, its pre-release and what Heroku downloads (version_for_download without `ruby-`).
@pytest.mark.parametrize(("line", "version", "pre", "download"), [
    ("ruby 3.4.0.rc1", "3.4.0", "rc1", "3.4.0.rc1"),
    ("ruby 3.4.0.lol", "3.4.0", "lol", "3.4.0.lol"),
    ("ruby 3.4.0.preview2", "3.4.0", "preview2", "3.4.0.preview2"),
    ("ruby 3.2.3.rc1", "3.2.3", "rc1", "3.2.3.rc1"),
    ("ruby 3.4.0-preview2", "3.4.0", "preview2", "3.4.0.preview2"),
    ("ruby 3.3.5p100", "3.3.5", None, "3.3.5"),
    ("ruby 2.5.7p001 (jruby 9.2.13.0)", "2.5.7", None, "2.5.7"),
])
def test_pre_releases_are_kept_whole(line, version, pre, download):
    lock = parse(f"RUBY VERSION\n   {line}\n\nBUNDLED WITH\n   2.3.4\n")
    assert (lock.ruby_version, lock.ruby_pre, lock.ruby_full_version) == (version, pre, download)


def test_a_pre_release_is_what_the_build_installs(tmp_path):
    (tmp_path / "Gemfile.lock").write_text("RUBY VERSION\n   ruby 3.4.0.rc1\n\nBUNDLED WITH\n   2.6.2\n")
    (tmp_path / "Gemfile").write_text('ruby "3.4.0.rc1"\n')
    request = resolve(tmp_path, read(tmp_path))
    assert (request.version, request.requested, request.warnings) == ("3.4.0.rc1", "ruby 3.4.0.rc1", ())


@pytest.mark.parametrize("line", ["ruby 3.4.0./../../../tmp/x", "ruby 3.4.0.rc1/..", "ruby 3.4.0-a.b"])
def test_a_pre_release_that_is_not_a_name_is_refused_in_one_line(tmp_path, line):
    (tmp_path / "Gemfile.lock").write_text(f"RUBY VERSION\n   {line}\n")
    with pytest.raises(BuildFailed, match=r"^Gemfile.lock RUBY VERSION '.*' is not a Ruby version: only "):
        resolve(tmp_path, read(tmp_path))
