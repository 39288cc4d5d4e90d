"""The Ruby buildpack (`--buildpack ruby`)."""

from slugbuild.buildpacks.ruby.buildpack import RubyBuildpack

__all__ = ["RubyBuildpack"]
