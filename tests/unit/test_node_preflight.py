"""Heroku's pre-flight failures: the app is refused, with the fix, before anything is installed."""

from __future__ import annotations

import pytest
from node_fakes import NodeApp
from slugbuild.buildpacks.node import NodeBuildpack
from slugbuild.buildpacks.node.preflight import ConflictingPackageManagers, IojsRequested, ShrinkwrapConflict

from slugbuild.buildpack import Detection
from slugbuild.log import RecordingLog

SHRINKWRAP = {"npm-shrinkwrap.json": "{}"}


@pytest.fixture
def node_app(tmp_path) -> NodeApp:
    return NodeApp(tmp_path)


@pytest.mark.parametrize(("package_json", "files", "error", "message"), [
    ({}, {**SHRINKWRAP, "package-lock.json": "{}"}, ShrinkwrapConflict,
     "npm-shrinkwrap.json and package-lock.json are both committed, but only one lockfile can decide what is "
     "installed; delete the one you do not use (`git rm npm-shrinkwrap.json` to keep package-lock.json)"),
    ({}, {**SHRINKWRAP, "yarn.lock": ""}, ShrinkwrapConflict,
     "npm-shrinkwrap.json and yarn.lock are both committed, but only one lockfile can decide what is "
     "installed; delete the one you do not use (`git rm npm-shrinkwrap.json` to keep yarn.lock)"),
    ({"engines": {"iojs": "3.x", "node": "24.x"}}, {}, IojsRequested,
     "engines.iojs '3.x' in package.json: io.js merged back into Node.js and is no longer built; remove "
     "engines.iojs and set engines.node, such as \"24.x\""),
    ({"engines": {"npm": "10.x", "yarn": "1.22.x"}}, {}, ConflictingPackageManagers,
     "package.json declares more than one package manager (engines.npm '10.x'; engines.yarn '1.22.x'); "
     "keep the one you use and remove the others"),
    ({"engines": {"npm": "10.x"}, "packageManager": "pnpm@9.1.0"}, {}, ConflictingPackageManagers,
     "package.json declares more than one package manager (engines.npm '10.x'; packageManager "
     "'pnpm@9.1.0'); keep the one you use and remove the others"),
])
def test_refused_before_anything_is_installed(node_app, package_json, files, error, message):
    node_app.write(package_json, **files)
    assert NodeBuildpack().detect(node_app.app_dir) == Detection("Node.js", error=message)
    log = RecordingLog()
    with pytest.raises(error) as caught:
        NodeBuildpack().compile(node_app.context(log=log))
    assert str(caught.value) == message
    assert log.texts("step") == []
    assert node_app.npm_calls() == []
    assert not (node_app.app_dir / ".heroku").exists()


@pytest.mark.parametrize(("package_json", "files"), [
    ({}, SHRINKWRAP),  # npm-shrinkwrap.json alone is npm's own lockfile
    # one manager, declared twice
    ({"engines": {"yarn": "1.22.x"}, "packageManager": "yarn@1.22.22"}, {"yarn.lock": ""}),
    ({"engines": {"pnpm": "9"}, "packageManager": "npm@10.9.0"}, {}),  # packageManager npm is not counted
    ({"engines": {"iojs": ""}}, {}),
])
def test_what_heroku_lets_through(node_app, package_json, files):
    node_app.write(package_json, **files)
    assert NodeBuildpack().detect(node_app.app_dir) == Detection("Node.js")


def test_a_shrinkwrap_conflict_ends_the_cli_build_as_one_line(node_app, run_cli):
    node_app.write({}, **SHRINKWRAP, **{"pnpm-lock.yaml": ""})
    result = run_cli("build", node_app.app_dir, "-o", node_app.root / "slug.tgz")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.last_error_line.startswith(
        "!     npm-shrinkwrap.json and pnpm-lock.yaml are both committed")
    assert not (node_app.root / "slug.tgz").exists()
