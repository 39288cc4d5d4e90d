"""The Go buildpack (`--buildpack go`)."""

from buildpacks.go.buildpack import GoBuildpack

__all__ = ["GoBuildpack"]
