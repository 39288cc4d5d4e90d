"""Node.js builds against real registries on 127.0.0.1: an HTTPS registry with its own CA (a company's
TLS-intercepting proxy, in small), and --offline builds that must not send a single request."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import ssl
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from conftest import RegistryHandler, Served

from slugbuild.tls import CA_VARS

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parent / "apps"
NO_RETRIES = ("--env", "NPM_CONFIG_FETCH_RETRIES=0")  # a refused certificate fails at once, not after 70 s


class HttpsServed(Served):
    """The loopback npm registry behind TLS, with a certificate from a CA of the test's own."""

    def __init__(self, ca: trustme.CA) -> None:
        super().__init__(RegistryHandler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)  # in the handler's thread

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def no_ca_variables(monkeypatch) -> None:
    """The builder's own CA variables (this machine may have some) stay out of these builds."""
    for name in CA_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def https_registry(tmp_path) -> Iterator[tuple[HttpsServed, Path]]:
    ca = trustme.CA()
    ca_file = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with HttpsServed(ca) as served:
        yield served, ca_file


def slug_names(slug: Path) -> set[str]:
    with tarfile.open(slug) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


def test_an_https_registry_with_its_own_ca_needs_the_ca_variable_and_says_so(
        run_cli, mirror_env, https_registry, no_ca_variables, tmp_path):
    registry, ca_file = https_registry
    source = tmp_path / "src"
    shutil.copytree(APPS / "node-deps", source)
    flags = ("--env", f"NPM_CONFIG_REGISTRY={registry.url}/", *NO_RETRIES)

    refused = run_cli("build", source, "-o", tmp_path / "refused.tgz", *flags,
                      env={**mirror_env, "SLUGBUILD_CACHE_DIR": str(tmp_path / "cache-refused")})
    assert refused.exit_code == 1
    assert refused.last_error_line.endswith(
        "`npm ci --include=dev` could not verify a TLS certificate (unable to verify the first certificate); "
        "if a proxy or private registry uses its own CA, export NODE_EXTRA_CA_CERTS=/path/to/ca.pem before "
        "running slugbuild and build again")
    assert not (tmp_path / "refused.tgz").exists()

    trusted = run_cli("build", source, "-o", tmp_path / "trusted.tgz", *flags,
                      env={**mirror_env, "SLUGBUILD_CACHE_DIR": str(tmp_path / "cache-trusted"),
                           "NODE_EXTRA_CA_CERTS": str(ca_file)})
    assert trusted.exit_code == 0, trusted.stderr
    assert "app/node_modules/ms/package.json" in slug_names(tmp_path / "trusted.tgz")
    assert "/ms/-/ms-2.1.2.tgz" in registry.requests


def lockfile_app(root: Path, name: str, version: str) -> Path:
    """An app locked to `name@version`, a package the registry does not hold."""
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(name.encode()).digest()).decode()
    root.mkdir()
    (root / "package.json").write_text(json.dumps({"name": "needs-more", "version": "1.0.0",
                                                   "engines": {"node": "24.x"},
                                                   "dependencies": {name: version}}))
    (root / "package-lock.json").write_text(json.dumps({
        "name": "needs-more", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "needs-more", "version": "1.0.0", "dependencies": {name: version}},
                     f"node_modules/{name}": {
                         "version": version, "integrity": integrity,
                         "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"}}}))
    return root


def test_offline_rebuild_without_the_modules_cache_sends_no_request(
        run_cli, mirror_env, runtime_mirror, npm_registry, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(APPS / "node-deps", source)
    home = tmp_path / "builder-home"
    home.mkdir()
    (home / ".npmrc").write_text("offline=true\n")  # the builder's own npm settings must not reach builds
    env = {**mirror_env, "SLUGBUILD_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(home)}
    flags = ("--env", f"NPM_CONFIG_REGISTRY={npm_registry.url}/", "--env", "NODE_MODULES_CACHE=false")

    online = run_cli("build", source, "-o", tmp_path / "online.tgz", *flags, env=env)
    assert online.exit_code == 0, online.stderr

    registry_mark, mirror_mark = len(npm_registry.requests), len(runtime_mirror.requests)
    offline = run_cli("build", source, "-o", tmp_path / "offline.tgz", "--offline", *flags, env=env)
    assert offline.exit_code == 0, offline.stderr
    assert "Restored node_modules" not in offline.stdout
    assert npm_registry.requests_since(registry_mark) == []
    assert runtime_mirror.requests_since(mirror_mark) == []
    assert {"app/node_modules/ms/package.json", "app/built.txt"} <= slug_names(tmp_path / "offline.tgz")

    missing = run_cli("build", lockfile_app(tmp_path / "more", "left-pad", "1.3.0"), "-o",
                      tmp_path / "more.tgz", "--offline", *flags, env=env)
    assert missing.exit_code == 1
    assert missing.last_error_line.endswith(
        "--offline: left-pad is not in the build cache, so `npm ci --include=dev` cannot install it; build "
        "once without --offline to fill the cache")
    assert npm_registry.requests_since(registry_mark) == []
    assert runtime_mirror.requests_since(mirror_mark) == []
