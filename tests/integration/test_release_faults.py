"""Releasing through a faulty proxy on 127.0.0.1 in front of the real local API: blob PUTs that fail and
are retried whole, credentials that never reach the blob URL, 429 with Retry-After, and POSTs that are not
repeated after a 5xx."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import services

from slugbuild import slug as slugs
from slugbuild.config import Sourced
from slugbuild.log import RecordingLog
from slugbuild.platform import release
from slugbuild.platform.auth import Credentials
from slugbuild.platform.client import PlatformClient, RetryPolicy

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}

pytestmark = services.FILE_STORE


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    size: int
    sha256: str


@dataclass
class Fault:
    """Answer the next `method` request whose path starts with `prefix` with `status` (or drop it)."""

    method: str
    prefix: str
    status: int | None  # None: read half the body, then close the connection without an answer
    headers: dict[str, str] = field(default_factory=dict)


class FaultyProxy(ThreadingHTTPServer):
    """A reverse proxy that records every request and plays the queued faults before forwarding.

    The Host header is passed on, so the API's blob URLs point at the proxy and uploads pass it too.
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "", parts.port or 80)
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.prefix):
                    self.faults.remove(fault)
                    return fault
        return None

    def requests_to(self, method: str, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        self.relay()

    def relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        fault = self.server.fault_for(self.command, self.path)
        if fault is not None and fault.status is None:
            self.rfile.read(length // 2)
            self.close_connection = True
            return
        body = self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items()}
        digest = hashlib.sha256(body).hexdigest()
        self.server.seen.append(Seen(self.command, self.path, headers, len(body), digest))
        if fault is not None:
            payload = json.dumps({"id": "injected", "message": f"Injected {fault.status}."}).encode()
            self.answer(fault.status or 500, {**fault.headers, "Content-Type": "application/json"}, payload)
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body if length else None, headers=forwarded)
            response = upstream.getresponse()
            self.answer(response.status, dict(response.getheaders()), response.read())
        finally:
            upstream.close()

    def answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def proxy(api_server) -> Iterator[FaultyProxy]:
    server = FaultyProxy(api_server.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def demo_slug(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "data.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB: several reads per attempt
    path = tmp_path / "slug.tgz"
    packed = slugs.pack(app, path, RecordingLog(), max_size_b=1 << 30)
    slugs.write_metadata(path, {"checksum": packed.checksum, "process_types": {"web": "./bin/web"}})
    return path


@pytest.fixture
def through_proxy(proxy, api_server, tmp_path):
    """Create `demo-app`, and give a runner of `slugbuild ARGS` aimed at the proxy."""
    creds = Credentials(Sourced(api_server.url, "test"), Sourced(api_server.key, "test"))
    with PlatformClient(creds) as direct:
        direct.post("/apps", {"name": "demo-app"})
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login me password netrc-machine-key\n"
                     "default login anyone password netrc-default-key\n")
    netrc.chmod(0o600)
    env = {"SLUGBUILD_API_URL": proxy.url, "HEROKU_API_KEY": api_server.key, "HOME": str(tmp_path),
           "NETRC": str(netrc)}
    return env


def releases_on_server(api_server) -> list[dict]:
    creds = Credentials(Sourced(api_server.url, "test"), Sourced(api_server.key, "test"))
    with PlatformClient(creds) as direct:
        return direct.get("/apps/demo-app/releases")


def test_a_blob_put_that_fails_twice_is_retried_whole_then_released(run_cli, proxy, through_proxy,
                                                                     demo_slug, api_server):
    proxy.faults += [Fault("PUT", "/blobs/", 503), Fault("PUT", "/blobs/", None)]
    result = run_cli("release", demo_slug, "--app", "demo-app", env=through_proxy)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Released v1 on demo-app"
    assert result.stderr.count("retrying in") == 2
    whole = hashlib.sha256(demo_slug.read_bytes()).hexdigest()
    # The dropped attempt never reached the recorder; the two answered ones carried every byte.
    assert [s.sha256 for s in proxy.requests_to("PUT", "/blobs/")] == [whole, whole]
    # The strict server checks the bytes against the checksum before it accepts the release.
    assert [r["version"] for r in releases_on_server(api_server)] == [1]


def test_the_upload_carries_no_credentials_and_a_plain_length(run_cli, proxy, through_proxy, demo_slug,
                                                              api_server):
    result = run_cli("release", demo_slug, "--app", "demo-app", env=through_proxy)
    assert result.exit_code == 0, result.stderr
    (upload,) = proxy.requests_to("PUT", "/blobs/")
    assert "Authorization" not in upload.headers
    assert upload.headers["Content-Length"] == str(demo_slug.stat().st_size)
    assert "Transfer-Encoding" not in upload.headers
    assert upload.headers.get("Content-Type", "") == ""
    api_calls = [s for s in proxy.seen if not s.path.startswith("/blobs/")]
    assert api_calls and all(s.headers["Authorization"] == f"Bearer {api_server.key}" for s in api_calls)


def test_no_release_is_created_when_the_upload_is_refused(run_cli, proxy, through_proxy, demo_slug,
                                                          api_server):
    proxy.faults.append(Fault("PUT", "/blobs/", 403))
    result = run_cli("release", demo_slug, "--app", "demo-app", env=through_proxy)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "answered 403 Forbidden (Injected 403.)" in result.last_error_line
    assert proxy.requests_to("POST", "/apps/demo-app/releases") == []
    assert releases_on_server(api_server) == []


def test_429_is_retried_after_the_retry_after_it_names(proxy, through_proxy, demo_slug, api_server):
    waits: list[float] = []
    creds = Credentials(Sourced(proxy.url, "test"), Sourced(api_server.key, "test"))
    proxy.faults.append(Fault("POST", "/apps/demo-app/releases", 429, {"Retry-After": "3"}))
    with PlatformClient(creds, policy=RetryPolicy(sleep=waits.append)) as api:
        done = release.release_slug(api, "demo-app", release.load_slug(demo_slug, ()), None, RecordingLog())
    assert waits == [3.0]
    assert done.version == 1 and len(proxy.requests_to("POST", "/apps/demo-app/releases")) == 2
    assert [r["version"] for r in releases_on_server(api_server)] == [1]


def test_the_cli_says_it_waits_on_429(run_cli, proxy, through_proxy):
    proxy.faults.append(Fault("GET", "/apps/demo-app/releases", 429, {"Retry-After": "1"}))
    result = run_cli("releases", "--app", "demo-app", "--json", env=through_proxy)
    assert result.exit_code == 0, result.stderr
    assert "429 Too Many Requests; retrying in 1.0s (attempt 2 of 5)" in result.stderr
    assert json.loads(result.stdout) == []


def test_a_release_post_is_not_repeated_after_a_500(run_cli, proxy, through_proxy, demo_slug, api_server):
    proxy.faults.append(Fault("POST", "/apps/demo-app/releases", 500))
    result = run_cli("release", demo_slug, "--app", "demo-app", env=through_proxy)
    assert result.exit_code == 1
    assert result.last_error_line.endswith(
        f"Injected 500. (500 injected): {proxy.url} failed; a POST is not repeated in case it took "
        "effect, so check the result (`slugbuild releases`, `slugbuild apps list`) before trying again")
    assert len(proxy.requests_to("POST", "/apps/demo-app/releases")) == 1
    assert releases_on_server(api_server) == []
