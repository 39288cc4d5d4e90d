"""Yarn 2+ end to end: the app's own Yarn 4 release (yarnPath) installs from the loopback registry with the
real node, and slugbuild's prune plugin drops the devDependency as Heroku's plugin does (heroku/heroku-
buildpack-nodejs test/run-yarn testYarn2: install with yarn.lock, the build script, then the prune)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from test_node import build, slug_names

from slugbuild import fetch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
YARN_TGZ = ROOT / ".cache" / "npm-packages" / "@yarnpkg-cli-dist-4.18.1.tgz"
RELEASE = ".yarn/releases/yarn-4.18.1.cjs"
YARN_TIMEOUT_S = 180


def node_binary(tmp_path: Path) -> Path:
    """The mirror's newest node 24, unpacked: only to write the app's yarn.lock before the build."""
    [archive] = sorted((ROOT / ".cache" / "mirror" / "node").glob("v24.*/node-v24.*-linux-x64.tar.gz"))[-1:]
    fetch.extract(archive, tmp_path / "node", strip_components=1)
    return tmp_path / "node" / "bin" / "node"


def berry_app(source: Path, registry_url: str) -> None:
    """node-deps as a Yarn 4 app: its release vendored, the loopback registry named, node_modules linker."""
    shutil.copytree(APPS / "node-deps", source)
    (source / "package-lock.json").unlink()
    with tarfile.open(YARN_TGZ) as tar:
        data = tar.extractfile("package/bin/yarn.js")
        assert data is not None
        (source / RELEASE).parent.mkdir(parents=True)
        (source / RELEASE).write_bytes(data.read())
    (source / ".yarnrc.yml").write_text(
        f"yarnPath: {RELEASE}\nnodeLinker: node-modules\nnpmRegistryServer: \"{registry_url}\"\n"
        "unsafeHttpWhitelist:\n  - 127.0.0.1\nenableTelemetry: false\nenableGlobalCache: false\n"
        "npmMinimalAgeGate: 0\n")  # the loopback registry publishes no release dates


def lock(source: Path, node: Path, home: Path) -> None:
    """`yarn install` once, as a developer would, then only yarn.lock is kept."""
    env = {"PATH": f"{node.parent}:/usr/bin:/bin", "HOME": str(home), "YARN_ENABLE_PROGRESS_BARS": "0"}
    done = subprocess.run([str(node), RELEASE, "install"], cwd=source, env=env, capture_output=True,
                          text=True, timeout=YARN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    for left in ("node_modules", ".yarn/cache", ".yarn/install-state.gz"):
        path = source / left
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    assert "__metadata:" in (source / "yarn.lock").read_text()


def test_yarn_4_app_release_installs_builds_and_prunes(run_cli, mirror_env, npm_registry, tmp_path):
    if not YARN_TGZ.is_file():
        pytest.fail(f"{YARN_TGZ} is missing: run `make runtimes`", pytrace=False)
    source = tmp_path / "src"
    berry_app(source, npm_registry.url)
    lock(source, node_binary(tmp_path), tmp_path / "home")
    report, log = build(run_cli, source, tmp_path / "slug.tgz", mirror_env)
    assert f"Using the app's own Yarn release {RELEASE} (yarnPath in .yarnrc.yml)" in log
    assert "Running yarn slugbuild prune" in log
    names = slug_names(Path(report["path"]))
    assert {"app/node_modules/debug/package.json", "app/node_modules/ms/package.json", "app/built.txt",
            "app/.heroku/yarn/bin/yarn"} <= names
    assert not [n for n in names if n.startswith("app/node_modules/is-number")]
    assert not [n for n in names if n.startswith("app/.yarn/cache/")]
    with tarfile.open(report["path"]) as slug:
        manifest = slug.extractfile("./app/package.json")
        assert manifest is not None
        assert json.loads(manifest.read())["devDependencies"] == {"is-number": "7.0.0"}  # left as committed
