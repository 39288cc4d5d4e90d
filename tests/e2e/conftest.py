"""End-to-end fixtures: the runtime mirror and a tiny npm registry, both served over HTTP on 127.0.0.1.

Both are made ahead of the tests by `make runtimes` (`slugbuild mirror .cache/mirror --from-registries ...`
and `python -m tests.e2e.prefetch`), so the tests themselves never leave the loopback interface. When they
are missing the tests fail (not skip), saying what to run.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pypi
import pytest
from prefetch import PACKAGES, is_fetched  # tests/e2e is on sys.path, as pytest puts conftest dirs there

ROOT = Path(__file__).resolve().parents[2]
MIRROR_DIR = ROOT / ".cache" / "mirror"
NPM_PACKAGES_DIR = ROOT / ".cache" / "npm-packages"
MISSING_HINT = "run `make runtimes` first: it fills {} from the package registries"
# Fields `npm view --json` merges in from the whole package; they do not belong in one version's manifest.
PACKUMENT_LEVEL = ("versions", "time", "dist-tags", "_contentLength")


class Served:
    """A threaded stdlib HTTP server on 127.0.0.1 that remembers every path it was asked for."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.served = self  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True  # server_close() must not wait for a client that never hangs up
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def requests_since(self, mark: int) -> list[str]:
        with self._lock:
            return self.requests[mark:]

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet:
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the stdlib's name)
        pass


class MirrorHandler(_Quiet, http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.served.record(self.path)  # type: ignore[attr-defined]
        super().do_GET()


class RegistryHandler(_Quiet, http.server.BaseHTTPRequestHandler):
    """Packuments at /<name> and tarballs at /<name>/-/<file>.tgz, from the prefetched packages."""

    def do_GET(self) -> None:
        served: Served = self.server.served  # type: ignore[attr-defined]
        served.record(self.path)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        if "/-/" in path:
            self._send(NPM_PACKAGES_DIR / path.rsplit("/", 1)[1], "application/octet-stream")
        else:
            body = packument(path, served.url)
            self._send_bytes(json.dumps(body).encode() if body else None, "application/json")

    def _send(self, file: Path, kind: str) -> None:
        self._send_bytes(file.read_bytes() if file.is_file() else None, kind)

    def _send_bytes(self, body: bytes | None, kind: str, head: bool = False) -> None:
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class SimpleIndexHandler(_Quiet, http.server.BaseHTTPRequestHandler):
    """A PEP 503 simple index of the prefetched wheels: /simple/<project>/ and /files/<file>."""

    def do_HEAD(self) -> None:  # uv asks before it downloads a wheel
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        served: Served = self.server.served  # type: ignore[attr-defined]
        served.record(("HEAD " if head else "") + self.path)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        body, kind = None, "text/html"
        if path.startswith("/simple/"):
            body = pypi.project_page(path.removeprefix("/simple/").strip("/"))
        elif path.startswith("/files/") and "/" not in path.removeprefix("/files/"):
            file = pypi.PACKAGES_DIR / path.removeprefix("/files/")
            body, kind = (file.read_bytes() if file.is_file() else None), "application/octet-stream"
        RegistryHandler._send_bytes(self, body, kind, head)  # type: ignore[arg-type]


def packument(name: str, base_url: str) -> dict | None:
    """The registry document for `name`: every prefetched version, tarball URLs pointing at us."""
    manifests = [json.loads(p.read_text()) for p in NPM_PACKAGES_DIR.glob("*.json")]
    versions = {}
    for manifest in (m for m in manifests if m.get("name") == name):
        manifest = {k: v for k, v in manifest.items() if k not in PACKUMENT_LEVEL}
        file = f"{name.replace('/', '-')}-{manifest['version']}.tgz"
        manifest["dist"] = {**manifest["dist"], "tarball": f"{base_url}/{name}/-/{file}"}
        versions[manifest["version"]] = manifest
    if not versions:
        return None
    newest = max(versions, key=lambda v: [int(p) for p in v.split("-")[0].split(".")])
    return {"name": name, "dist-tags": {"latest": newest}, "versions": versions}


def _require(path: Path, what: Path) -> None:
    if not path.exists():
        pytest.fail(MISSING_HINT.format(what), pytrace=False)


@pytest.fixture(scope="session")
def runtime_mirror() -> Iterator[Served]:
    """.cache/mirror served over HTTP; each language in its own subdirectory (node, go, ruby)."""
    _require(MIRROR_DIR / "node" / "index.json", MIRROR_DIR)
    handler = functools.partial(MirrorHandler, directory=str(MIRROR_DIR))
    with Served(handler) as served:  # type: ignore[arg-type]
        yield served


@pytest.fixture(scope="session")
def mirror_env(runtime_mirror: Served) -> dict[str, str]:
    """SLUGBUILD_<LANGUAGE>_MIRROR for every language the mirror holds, pointing at the loopback server."""
    return {f"SLUGBUILD_{d.name.upper()}_MIRROR": f"{runtime_mirror.url}/{d.name}"
            for d in sorted(MIRROR_DIR.iterdir()) if d.is_dir()}


@pytest.fixture(scope="session")
def npm_registry() -> Iterator[Served]:
    """The prefetched npm packages as a registry on 127.0.0.1."""
    for spec in PACKAGES:
        name, _, version = spec.rpartition("@")
        if not is_fetched(name, version):
            pytest.fail(MISSING_HINT.format(f"{NPM_PACKAGES_DIR} ({spec} is missing)"), pytrace=False)
    with Served(RegistryHandler) as served:
        yield served


@pytest.fixture(scope="session")
def python_index() -> Iterator[Served]:
    """The prefetched Python packages as a PEP 503 simple index on 127.0.0.1 (its URL + /simple)."""
    if not pypi.is_fetched():
        pytest.fail(MISSING_HINT.format(pypi.PACKAGES_DIR), pytrace=False)
    with Served(SimpleIndexHandler) as served:
        yield served
