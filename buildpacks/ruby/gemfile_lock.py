"""Gemfile.lock, Gemfile and .ruby-version as the Ruby buildpack reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from slugbuild import app_files

# Heroku's reading of the lock (lib/language_pack/helpers/gemfile_lock.rb): the version, a pre-release
# after `.` or `-` (`3.4.0.rc1`, `3.4.0-preview2`; `3.3.5p100` has none), JRuby's suffix.
_RUBY_VERSION = re.compile(
    r"^RUBY VERSION\r?\n {2,3}(ruby (\d{1,6}\.\d{1,6}\.\d{1,6})(?:[-.](\S*))?\S*(?: \((jruby) [^)]*\))?)",
    re.MULTILINE | re.ASCII)
_BUNDLED_WITH = re.compile(r"^BUNDLED WITH\r?\n\s+(\S+)", re.MULTILINE)
_SPEC = re.compile(r"^ {4}([A-Za-z0-9_.-]+) \(([^)]+)\)\s*$", re.MULTILINE)
_GEMFILE_RUBY = re.compile(r"""^\s*ruby\s*\(?\s*['"]([^'"]+)['"]""", re.MULTILINE)


@dataclass(frozen=True)
class GemfileLock:
    """The parts of Gemfile.lock the build needs."""

    ruby_version: str | None = None  # "3.1.2"
    ruby_pre: str | None = None  # "rc1" for `ruby 3.4.0.rc1`, None for a release
    ruby_line: str | None = None  # "ruby 3.1.2p20", as the lock spells it
    jruby: bool = False
    bundled_with: str | None = None
    gems: Mapping[str, str] = field(default_factory=dict)  # name -> version, every locked spec

    @property
    def ruby_full_version(self) -> str | None:
        """The version Heroku downloads: `3.4.0.rc1` for a pre-release, `3.1.2` for a release."""
        if self.ruby_version and self.ruby_pre:
            return f"{self.ruby_version}.{self.ruby_pre}"
        return self.ruby_version

    def has_gem(self, name: str) -> bool:
        return name in self.gems

    def gem_major(self, name: str) -> int | None:
        version = self.gems.get(name)
        head = version.split(".", 1)[0] if version else ""
        return int(head) if head.isascii() and head.isdigit() and len(head) < 10 else None


def parse(text: str) -> GemfileLock:
    """Parse Gemfile.lock text; sections the build does not use are ignored."""
    ruby = _RUBY_VERSION.search(text)
    bundled = _BUNDLED_WITH.search(text)
    gems = {name: version.split("-", 1)[0] for name, version in _SPEC.findall(text)}
    return GemfileLock(
        ruby_version=ruby.group(2) if ruby else None,
        ruby_pre=(ruby.group(3) or None) if ruby else None,
        ruby_line=ruby.group(1) if ruby else None,
        jruby=bool(ruby and ruby.group(4)),
        bundled_with=bundled.group(1) if bundled else None,
        gems=gems,
    )


def read(app_dir: Path) -> GemfileLock:
    return parse(app_files.read_text(app_dir, "Gemfile.lock") or "")


def gemfile_ruby(app_dir: Path) -> str | None:
    """The version in a `ruby "x.y.z"` line of the Gemfile, if any."""
    match = _GEMFILE_RUBY.search(app_files.read_text(app_dir, "Gemfile") or "")
    return match.group(1).strip() if match else None


def dot_ruby_version(app_dir: Path) -> str | None:
    """The version in .ruby-version (`3.1.2` or `ruby-3.1.2`), if the file exists."""
    words = (app_files.read_text(app_dir, ".ruby-version") or "").split()
    return words[0].removeprefix("ruby-") if words else None
