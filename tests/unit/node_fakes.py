"""A fake Node.js release (shell scripts for node and npm that log what they are asked) in a file:// mirror,
and a BuildContext around an app, so the Node.js buildpack can be tested without a real runtime."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from slugbuild.buildpacks.node import NodeBuildpack

from slugbuild.buildpack import BuildContext
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog

FAKE_VERSION = "24.11.1"
FAKE_NPM_VERSION = "11.6.2"
# Prints its version; running a script (an app's Yarn release, through the yarn shim) is logged as npm is.
FAKE_NODE = """#!/bin/sh
case "$1" in
  -v|--version|"") echo v24.11.1 ;;
  *) echo "node $*" >> "$NPM_LOG" ;;
esac
"""
# Logs each call to $NPM_LOG; `run S` fails when S is $FAIL_SCRIPT (printing $FAIL_OUTPUT); an install fails
# printing $FAIL_INSTALL when that is set; installs leave a node_modules behind;
# `install --global X@V` puts a logging X next to npm, as a global install into the node directory would;
# `install --global npm@V` records V (and $NPM_CONFIG_REGISTRY) as the installed npm's, or fails when V is
# $NPM_MISSING.
FAKE_NPM = """#!/bin/sh
echo "$(basename "$0") $*" >> "$NPM_LOG"
case "$1" in
  run) if [ "$2" = "$FAIL_SCRIPT" ]; then echo "boom from $2"; printf '%b' "$FAIL_OUTPUT"; exit 3; fi ;;
  ci|install)
    if [ "$2" = "--global" ]; then
      case "$3" in @yarnpkg/cli-dist@*) tool=yarn ;; *) tool="${3%%@*}" ;; esac
      if [ "$tool" = npm ]; then
        want="${3#npm@}"
        if [ "$want" = "$NPM_MISSING" ]; then echo "npm error notarget npm@$want"; exit 1; fi
        # A new file, not a rewrite: real npm replaces its own directory, never the linked files in place.
        manifest="$(dirname "$0")/../lib/node_modules/npm/package.json"
        printf '{"version": "%s", "installedFrom": "%s"}' "$want" "$NPM_CONFIG_REGISTRY" > "$manifest.new"
        mv "$manifest.new" "$manifest"
      else
        cp "$0" "$(dirname "$0")/$tool"
      fi
    elif [ -n "$FAIL_INSTALL" ]; then printf '%b' "$FAIL_INSTALL"; exit 1
    else
      mkdir -p node_modules/dep && echo "$*" > node_modules/dep/installed-by
    fi ;;
esac
"""


def _add(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def fake_release_tarball(version: str = FAKE_VERSION) -> bytes:
    top = f"node-v{version}-linux-x64"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        _add(tar, f"{top}/bin/node", FAKE_NODE, 0o755)
        _add(tar, f"{top}/bin/npm", FAKE_NPM, 0o755)
        _add(tar, f"{top}/lib/node_modules/npm/package.json", json.dumps({"version": FAKE_NPM_VERSION}))
    return buf.getvalue()


def make_mirror(root: Path, releases: dict[str, str | bool] | None = None) -> Path:
    """A mirror directory in the upstream layout; each release gets the same fake tarball."""
    releases = releases or {FAKE_VERSION: "Krypton", "26.0.0": False, "22.9.0": "Jod"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.json").write_text(json.dumps(
        [{"version": f"v{v}", "lts": lts, "files": ["linux-x64"]} for v, lts in releases.items()]))
    for version in releases:
        data = fake_release_tarball(version)
        name = f"node-v{version}-linux-x64.tar.gz"
        (root / f"v{version}").mkdir()
        (root / f"v{version}" / name).write_bytes(data)
        (root / f"v{version}" / "SHASUMS256.txt").write_text(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    return root


@dataclass
class NodeApp:
    """An app directory, its cache and mirror, and the npm call log the fake npm writes."""

    root: Path

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    @property
    def npm_log(self) -> Path:
        return self.root / "npm.log"

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    def write(self, package_json: dict | str, **files: str) -> NodeApp:
        self.app_dir.mkdir(parents=True, exist_ok=True)
        text = package_json if isinstance(package_json, str) else json.dumps(package_json)
        (self.app_dir / "package.json").write_text(text)
        for name, content in files.items():
            (self.app_dir / name).write_text(content)
        return self

    def context(self, config: dict[str, str] | None = None, log: RecordingLog | None = None) -> BuildContext:
        if not self.mirror.exists():
            make_mirror(self.mirror)
        (self.root / "env").mkdir(exist_ok=True)
        cache = self.root / "cache"
        log = log or RecordingLog()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.root), "SLUGBUILD_NODE_MIRROR": self.mirror.as_uri()}
        ctx = BuildContext(self.app_dir, cache, self.root / "env", env,
                           {"NPM_LOG": str(self.npm_log), **(config or {})}, "heroku-24",
                           Fetcher(cache / "downloads", log), log)
        return ctx.for_buildpack("node")

    def npm_calls(self) -> list[str]:
        return self.npm_log.read_text().splitlines() if self.npm_log.exists() else []


def compile_app(node_app: NodeApp, config: dict[str, str] | None = None) -> RecordingLog:
    """Compile the fake app with the Node.js buildpack; the log it wrote."""
    log = RecordingLog()
    NodeBuildpack().compile(node_app.context(config, log))
    return log
