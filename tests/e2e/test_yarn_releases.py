"""Yarn 2+ end to end: the app's own Yarn 2, 3 or 4 release (yarnPath) installs from the loopback registry
with the real node, and slugbuild's prune plugin drops the devDependency as Heroku's plugin does (heroku/
heroku-buildpack-nodejs test/run-yarn testYarn2: install with yarn.lock, the build script, then the prune)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from prefetch import YARN_RELEASES
from test_node import build, slug_names

from slugbuild import fetch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
PACKAGES_DIR = ROOT / ".cache" / "npm-packages"
YARN_TIMEOUT_S = 180


def node_binary(tmp_path: Path) -> Path:
    """The mirror's newest node 24, unpacked: only to write the app's yarn.lock before the build."""
    [archive] = sorted((ROOT / ".cache" / "mirror" / "node").glob("v24.*/node-v24.*-linux-x64.tar.gz"))[-1:]
    fetch.extract(archive, tmp_path / "node", strip_components=1)
    return tmp_path / "node" / "bin" / "node"


def berry_app(source: Path, registry_url: str, version: str) -> str:
    """node-deps as a Yarn 2+ app: its release vendored, the loopback registry named, node_modules linker;
    the release's path."""
    shutil.copytree(APPS / "node-deps", source)
    (source / "package-lock.json").unlink()
    release = f".yarn/releases/yarn-{version}.cjs"
    with tarfile.open(PACKAGES_DIR / f"@yarnpkg-cli-dist-{version}.tgz") as tar:
        data = tar.extractfile("package/bin/yarn.js")
        assert data is not None
        (source / release).parent.mkdir(parents=True)
        (source / release).write_bytes(data.read())
    settings = (f"yarnPath: {release}\nnodeLinker: node-modules\nnpmRegistryServer: \"{registry_url}\"\n"
                "unsafeHttpWhitelist:\n  - 127.0.0.1\nenableTelemetry: false\nenableGlobalCache: false\n")
    if version.startswith("4."):
        settings += "npmMinimalAgeGate: 0\n"  # the loopback registry publishes no release dates
    (source / ".yarnrc.yml").write_text(settings)
    return release


def lock(source: Path, release: str, node: Path, home: Path) -> None:
    """`yarn install` once, as a developer would, then only yarn.lock is kept."""
    env = {"PATH": f"{node.parent}:/usr/bin:/bin", "HOME": str(home), "YARN_ENABLE_PROGRESS_BARS": "0"}
    done = subprocess.run([str(node), release, "install"], cwd=source, env=env, capture_output=True,
                          text=True, timeout=YARN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    for left in ("node_modules", ".yarn/cache", ".yarn/install-state.gz"):
        path = source / left
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    assert "__metadata:" in (source / "yarn.lock").read_text()


@pytest.mark.parametrize("version", YARN_RELEASES)
def test_a_yarn_2_plus_app_release_installs_builds_and_prunes(run_cli, mirror_env, npm_registry, tmp_path,
                                                             version):
    source = tmp_path / "src"
    release = berry_app(source, npm_registry.url, version)
    lock(source, release, node_binary(tmp_path), tmp_path / "home")
    report, log = build(run_cli, source, tmp_path / "slug.tgz", mirror_env)
    assert f"Using the app's own Yarn release {release} (yarnPath in .yarnrc.yml)" in log
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
