"""The real local API server, in-process on 127.0.0.1 with an ephemeral port and a data dir in tmp_path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slugbuild.platform.server import ApiServer, open_server

TEST_KEY = "test-key-0123456789abcdef"
ACCEPT = "application/vnd.heroku+json; version=3"


@dataclass
class RunningServer:
    url: str
    key: str
    data_dir: Path
    server: ApiServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and close the state, as Ctrl-C does; safe to call twice."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
            self.server.server_close()


StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_api_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a server: `start(data_dir=..., key=..., blob_ttl_s=...)`; all are stopped at teardown.

    Starting twice on the same data_dir (after `stop()`) is a restart.
    """
    running: list[RunningServer] = []

    def start(data_dir: Path | None = None, key: str = TEST_KEY, **options: int) -> RunningServer:
        root = data_dir or tmp_path / "api-data"
        server = open_server("127.0.0.1", 0, root, key, **options)
        thread = threading.Thread(target=server.serve_forever, name="api-server", daemon=True)
        thread.start()
        running.append(RunningServer(server.url, key, root, server, thread))
        return running[-1]

    yield start
    for each in running:
        each.stop()


@pytest.fixture
def api_server(start_api_server: StartServer) -> RunningServer:
    """The real local API: `.url`, `.key` (send as Bearer or as the Basic password), `.data_dir`."""
    return start_api_server()
