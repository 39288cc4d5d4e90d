"""Build failures with the real npm and node, explained as Heroku's Node.js buildpack explains them
(heroku/heroku-buildpack-nodejs test/fixtures invalid-dependency, error-npm-lockfile-out-of-sync and
error-oom, checked in test/run-general and test/run-npm): one line naming the cause and the fix, then the
tail of the tool's output; no traceback, no slug."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parent / "apps"


def failing_build(run_cli, source: Path, tmp_path: Path, env: dict[str, str], *flags: str) -> list[str]:
    """The error lines of a build that must fail: the explanation first, then the tail."""
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", *flags, env=env)
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "slug.tgz").exists()
    lines = result.stderr.splitlines()
    first = next((i for i, line in enumerate(lines) if "failed. " in line), None)
    assert first is not None, result.stderr
    return [line.removeprefix(" !     ") for line in lines[first:]]


def node_deps(tmp_path: Path, **changes: object) -> Path:
    source = tmp_path / "src"
    shutil.copytree(APPS / "node-deps", source)
    package = json.loads((source / "package.json").read_text())
    package.update(changes)
    (source / "package.json").write_text(json.dumps(package))
    return source


def test_a_dependency_missing_from_the_registry_is_e404(run_cli, mirror_env, npm_registry, tmp_path):
    source = node_deps(tmp_path, dependencies={"debug": "4.3.4", "no-such-package-anywhere": "1.0.0"})
    (source / "package-lock.json").unlink()
    lines = failing_build(run_cli, source, tmp_path, mirror_env,
                          "--env", f"NPM_CONFIG_REGISTRY={npm_registry.url}/")
    assert lines[0].startswith("`npm install --include=dev` failed. A package could not be found in the npm "
                               "registry (404, E404)")
    assert any("no-such-package-anywhere" in line for line in lines[1:])


def test_a_lockfile_out_of_sync_is_named(run_cli, mirror_env, npm_registry, tmp_path):
    # As test/fixtures/error-npm-lockfile-out-of-sync: package.json names a dependency, the lock none.
    source = node_deps(tmp_path)
    (source / "package-lock.json").write_text(json.dumps({
        "name": "node-deps", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "node-deps", "engines": {"node": "24.x"}}}}))
    lines = failing_build(run_cli, source, tmp_path, mirror_env,
                          "--env", f"NPM_CONFIG_REGISTRY={npm_registry.url}/")
    assert lines[0] == ("`npm ci --include=dev` failed. npm lockfile is not in sync: package.json and "
                        "package-lock.json list different dependencies; run `npm install` locally and commit "
                        "package-lock.json")
    assert any("npm error code EUSAGE" in line for line in lines[1:])


def test_a_build_out_of_memory_is_named(run_cli, mirror_env, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    oom = "node --max-old-space-size=16 -e \"const a = []; for (;;) a.push(new Array(1e5).fill(1))\""
    (source / "package.json").write_text(json.dumps({"engines": {"node": "24.x"}, "scripts": {"build": oom}}))
    lines = failing_build(run_cli, source, tmp_path, mirror_env)
    assert lines[0].startswith("the 'build' script failed. Node.js Out-Of-Memory (OOM) during the build")
    assert any("JavaScript heap out of memory" in line for line in lines[1:])
