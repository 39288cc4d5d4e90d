"""The real local API server, in-process on 127.0.0.1 with an ephemeral port and a data dir in tmp_path.

It runs on the embedded back end (SQLite and files) unless a module asks for both with
`pytestmark = pytest.mark.parametrize("backend", services.BACKENDS, indirect=True)`: "team" is PostgreSQL (a
throwaway cluster) and S3 (moto's server mode), each test with its own database and bucket.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import services

from slugbuild.platform.server import LocalServer, ServeOptions, open_server

TEST_KEY = "test-key-0123456789abcdef"
ACCEPT = "application/vnd.heroku+json; version=3"


@dataclass
class RunningServer:
    url: str
    key: str
    data_dir: Path
    server: LocalServer
    stopped: bool = False

    def stop(self) -> None:
        """Stop serving and close the state, as Ctrl-C does; safe to call twice."""
        if not self.stopped:
            self.stopped = True
            self.server.stop()


StartServer = Callable[..., RunningServer]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[services.PostgresCluster]:
    """One throwaway PostgreSQL server for the whole run; tests take fresh databases from it."""
    with services.postgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3_server() -> Iterator[services.S3Server]:
    """moto's S3 server on 127.0.0.1, with boto3 in this process pointed at it."""
    server = services.S3Server()
    before = {name: os.environ.get(name) for name in server.env}
    os.environ.update(server.env)
    yield server
    for name, value in before.items():
        os.environ.pop(name) if value is None else os.environ.update({name: value})
    server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """"local" (SQLite and files) unless the test is parametrized with BACKENDS, or
    SLUGBUILD_TEST_BACKEND=team runs every server test on PostgreSQL and S3."""
    return getattr(request, "param", os.environ.get("SLUGBUILD_TEST_BACKEND", "local"))


@pytest.fixture
def start_api_server(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[StartServer]:
    """Start a server: `start(data_dir=..., key=..., blob_ttl_s=...)`; all are stopped at teardown.

    Starting twice on the same data_dir (after `stop()`) is a restart, on the same database and bucket.
    """
    running: list[RunningServer] = []
    team: dict[Path, dict[str, str]] = {}

    def team_options(root: Path) -> dict[str, str]:
        if root not in team:
            team[root] = {"database": request.getfixturevalue("pg_cluster").new_database(),
                          "blob_store": request.getfixturevalue("s3_server").new_bucket()}
        return team[root]

    def start(data_dir: Path | None = None, key: str = TEST_KEY, **options: object) -> RunningServer:
        root = data_dir or tmp_path / "api-data"
        if backend == "team":
            options = {**team_options(root), **options}
        server = open_server("127.0.0.1", 0, ServeOptions(root, **options), key)
        running.append(RunningServer(server.url, key, root, server))
        return running[-1]

    yield start
    for each in running:
        each.stop()


@pytest.fixture
def api_server(start_api_server: StartServer) -> RunningServer:
    """The real local API: `.url`, `.key` (send as Bearer or as the Basic password), `.data_dir`."""
    return start_api_server()


class RawApi:
    """Plain `requests` against the server, with the Accept header and the key sent as Bearer."""

    def __init__(self, running: RunningServer) -> None:
        self.url = running.url
        self.session = requests.Session()
        self.session.headers.update({"Accept": ACCEPT, "Authorization": f"Bearer {running.key}"})

    def __call__(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kwargs)

    def create_app(self, name: str, **body: str) -> dict:
        response = self("POST", "/apps", json={"name": name, **body})
        assert response.status_code == 201, response.text
        return response.json()

    def uploaded_slug(self, app: str, data: bytes = b"slug bytes", **body: object) -> dict:
        """A slug whose blob holds `data`, with a matching checksum unless the body gives one."""
        body = {"process_types": {"web": "node server.js"},
                "checksum": f"SHA256:{hashlib.sha256(data).hexdigest()}", **body}
        slug = self("POST", f"/apps/{app}/slugs", json=body).json()
        upload = requests.put(slug["blob"]["url"], data=data, headers={"Content-Type": ""}, timeout=30)
        assert upload.status_code == 200, upload.text
        return slug

    def release(self, app: str, slug_id: str, description: str | None = None) -> requests.Response:
        body = {"slug": slug_id} if description is None else {"slug": slug_id, "description": description}
        return self("POST", f"/apps/{app}/releases", json=body)


@pytest.fixture
def make_raw_api() -> Iterator[Callable[[RunningServer], RawApi]]:
    """Raw HTTP against any started server: `make_raw_api(start_api_server(...))`."""
    made: list[RawApi] = []

    def make(running: RunningServer) -> RawApi:
        made.append(RawApi(running))
        return made[-1]

    yield make
    for api in made:
        api.session.close()


@pytest.fixture
def raw_api(api_server: RunningServer, make_raw_api: Callable[[RunningServer], RawApi]) -> RawApi:
    """Raw HTTP against `api_server` (no client code): `raw_api("GET", "/apps")` and a few helpers."""
    return make_raw_api(api_server)
