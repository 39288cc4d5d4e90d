"""Fixtures shared by the unit tests: HTTP fakes on 127.0.0.1 and a fake Node.js app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from node_fakes import NodeApp
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="module")
def module_server() -> Iterator[HTTPServer]:
    """One server per test module: starting one per test costs more than the tests themselves."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(module_server: HTTPServer) -> Iterator[HTTPServer]:
    """The module's server, its handlers and log cleared after each test."""
    yield module_server
    module_server.clear()


@pytest.fixture
def node_app(tmp_path) -> NodeApp:
    """An app directory with a fake Node.js mirror and a fake npm beside it."""
    return NodeApp(tmp_path)
