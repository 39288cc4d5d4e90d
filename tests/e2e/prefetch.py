"""Fetch ahead the few npm packages the end-to-end tests install, so the tests talk only to 127.0.0.1.

`python -m tests.e2e.prefetch` (run by `make runtimes`) puts each package's tarball (`npm pack`) and its
manifest (`npm view --json`) into .cache/npm-packages, checked against the registry's integrity hash;
packages already there and intact are skipped. tests/e2e/conftest.py serves them as a tiny npm registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES_DIR = ROOT / ".cache" / "npm-packages"
# What tests/e2e/apps/node-deps depends on: debug (which needs ms) and, as a devDependency, is-number; and
# a Yarn 4 release (its bin/yarn.js), which tests/e2e/test_node_yarn.py vendors into an app as yarnPath.
PACKAGES = ("debug@4.3.4", "ms@2.1.2", "is-number@7.0.0", "@yarnpkg/cli-dist@4.18.1")


def sri_sha512(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def tarball_path(name: str, version: str) -> Path:
    return PACKAGES_DIR / f"{name.replace('/', '-')}-{version}.tgz"


def manifest_path(name: str, version: str) -> Path:
    return PACKAGES_DIR / f"{name.replace('/', '-')}-{version}.json"


def is_fetched(name: str, version: str) -> bool:
    tgz, manifest = tarball_path(name, version), manifest_path(name, version)
    if not (tgz.is_file() and manifest.is_file()):
        return False
    return json.loads(manifest.read_text())["dist"]["integrity"] == sri_sha512(tgz)


def npm(*args: str, cwd: Path) -> str:
    return subprocess.run(["npm", *args], check=True, capture_output=True, text=True, cwd=cwd).stdout


def fetch(spec: str) -> None:
    name, _, version = spec.rpartition("@")
    if is_fetched(name, version):
        return
    manifest = json.loads(npm("view", spec, "--json", cwd=PACKAGES_DIR))
    with tempfile.TemporaryDirectory(dir=PACKAGES_DIR) as tmp:
        npm("pack", spec, "--pack-destination", tmp, cwd=PACKAGES_DIR)
        packed = next(Path(tmp).glob("*.tgz"))
        if sri_sha512(packed) != manifest["dist"]["integrity"]:
            sys.exit(f"{spec}: the packed tarball does not match the registry's integrity; run this again")
        packed.replace(tarball_path(name, version))
    manifest_path(name, version).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"fetched {spec}")


def main() -> int:
    PACKAGES_DIR.mkdir(parents=True, exist_ok=True)
    for spec in PACKAGES:
        fetch(spec)
    print(f"npm packages for the end-to-end tests are in {PACKAGES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
