"""Package layout that pyproject.toml cannot express: the top-level `buildpacks/` folder installs as
`slugbuild.buildpacks`, so no other project's `buildpacks` package can collide with it."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["slugbuild*"])
    + [f"slugbuild.{name}" for name in find_packages(include=["buildpacks*"])],
    package_dir={"slugbuild.buildpacks": "buildpacks"},
)
