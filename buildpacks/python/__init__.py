"""The Python buildpack (`--buildpack python`), after heroku/heroku-buildpack-python."""

from slugbuild.buildpacks.python.buildpack import PythonBuildpack

__all__ = ["PythonBuildpack"]
