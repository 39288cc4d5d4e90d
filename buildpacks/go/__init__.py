"""The Go buildpack (`--buildpack go`)."""

from slugbuild.buildpacks.go.buildpack import GoBuildpack

__all__ = ["GoBuildpack"]
