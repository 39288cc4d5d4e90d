"""What an endpoint receives and returns: a Call (the request, framework-free) and a Reply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slugbuild.platform.server.blobs import Blobs
from slugbuild.platform.server.problems import not_found
from slugbuild.platform.server.store import App, Store


@dataclass(frozen=True)
class Backend:
    """What every endpoint works on: the state and the blob files."""

    store: Store
    blobs: Blobs


@dataclass(frozen=True)
class Call:
    backend: Backend
    params: dict[str, str]
    body: Any
    range_header: str | None
    base_url: str  # where this client reaches the server, for blob URLs
    headers: Mapping[str, str] = field(default_factory=dict)  # every request header, names lower-case


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
