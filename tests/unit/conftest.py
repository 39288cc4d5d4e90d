"""Fixtures shared by the unit tests that talk HTTP to pytest-httpserver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
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
