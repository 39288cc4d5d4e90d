"""What an endpoint receives and returns: a Call (the request, framework-free) and a Reply."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from slugbuild.platform.server.blobs import BlobStore
from slugbuild.platform.server.problems import not_found
from slugbuild.platform.server.store import App, Store


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (HTTP header names are)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {name.lower(): value for name, value in (items or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Backend:
    """What every endpoint works on: the state and the blob files."""

    store: Store
    blobs: BlobStore


@dataclass(frozen=True)
class Call:
    backend: Backend
    params: dict[str, str]
    body: Any
    range_header: str | None
    base_url: str  # where this client reaches the server, for blob URLs
    headers: Headers = field(default_factory=Headers)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


def app_of(call: Call) -> App:
    """The app the path names (by id or name), or a 404."""
    app = call.backend.store.find_app(call.params["app"])
    if app is None:
        raise not_found("app")
    return app
