"""The Ruby buildpack (`--buildpack ruby`)."""

from buildpacks.ruby.buildpack import RubyBuildpack

__all__ = ["RubyBuildpack"]
