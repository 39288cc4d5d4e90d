"""Which Ruby to install: Gemfile.lock's RUBY VERSION, as on Heroku, else the default; plus the warnings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from slugbuild.buildpacks.ruby.gemfile_lock import GemfileLock, dot_ruby_version, gemfile_ruby

from slugbuild.errors import BuildFailed

DEFAULT_RUBY = "3.3.9"  # Heroku's DEFAULT_VERSION_NUMBER at the reference snapshot
LOCK_SOURCE = "Gemfile.lock RUBY VERSION"
# A full version, pre-release included (`3.4.0.rc1`). It becomes a file name and a URL path: Heroku takes
# any non-blank text after x.y.z, but a `/` or `..` there would name a file outside vendor/ or the mirror.
_FULL_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:\.[A-Za-z0-9]+)?$")


@dataclass(frozen=True)
class RubyRequest:
    """The Ruby to install, what the app asked for, where that came from, and what to warn about."""

    version: str
    requested: str | None
    source: str  # LOCK_SOURCE or "default"
    warnings: tuple[str, ...] = ()


def resolve(app_dir: Path, lock: GemfileLock) -> RubyRequest:
    """Heroku reads only Gemfile.lock; a version elsewhere that the lock lacks gets a warning."""
    if lock.jruby:
        raise BuildFailed(f"Gemfile.lock asks for JRuby ({lock.ruby_line}), which slugbuild does not build; "
                          "use MRI Ruby (`ruby \"x.y.z\"` in the Gemfile, then `bundle update --ruby`)")
    warnings = _unlocked(app_dir, lock)
    version = lock.ruby_full_version
    if version:
        if not _FULL_VERSION.match(version):
            raise BuildFailed(f"Gemfile.lock RUBY VERSION {lock.ruby_line!r} is not a Ruby version: only "
                              "letters and digits may follow x.y.z (`3.4.0.rc1`); fix the Gemfile's `ruby` "
                              "line and run `bundle update --ruby`")
        return RubyRequest(version, lock.ruby_line, LOCK_SOURCE, warnings)
    default = (f"Gemfile.lock declares no Ruby version; using the default ruby {DEFAULT_RUBY}. Add "
               f"`ruby \"{DEFAULT_RUBY}\"` to the Gemfile and run `bundle update --ruby` to pin it")
    return RubyRequest(DEFAULT_RUBY, None, "default", (*warnings, default))


def _unlocked(app_dir: Path, lock: GemfileLock) -> tuple[str, ...]:
    found = []
    locked = lock.ruby_full_version
    declared = (("the Gemfile", gemfile_ruby(app_dir)), (".ruby-version", dot_ruby_version(app_dir)))
    for where, version in declared:
        if version is None:
            continue
        asked = version.replace("-", ".")  # `3.4.0-rc1` in .ruby-version is Heroku's `3.4.0.rc1`
        if locked is None or (_FULL_VERSION.match(asked) and asked != locked):
            records = f"records {locked}" if locked else "records no Ruby version"
            found.append(f"{where} asks for ruby {version} but Gemfile.lock {records}, and only the lock "
                         "counts; run `bundle update --ruby` and commit Gemfile.lock")
    return tuple(found)
