"""The API endpoints: one function per endpoint, taking a Call and returning a Reply."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slugbuild.platform.server import ranges, resources, validate
from slugbuild.platform.server.blobs import Blobs, parse_id, sweep_removals
from slugbuild.platform.server.problems import ApiProblem, invalid, not_found
from slugbuild.platform.server.store import App, NameTaken, Release, Slug, Store

_ADJECTIVES = ("cryptic", "quiet", "brave", "lucky", "sunny", "frozen", "gentle", "rapid", "shiny", "calm")
_NOUNS = ("ocean", "river", "meadow", "forest", "harbor", "summit", "canyon", "island", "prairie", "lake")


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


def _app(call: Call) -> App:
    app = call.backend.store.find_app(call.params["app"])
    if app is None:
        raise not_found("app")
    return app


def _app_json(call: Call, app: App) -> dict[str, Any]:
    store = call.backend.store
    current = store.current_release(app)
    slug = store.find_slug(current.slug_id) if current and current.slug_id else None
    return resources.app_json(app, store.owner_id, current, slug)


def _release_json(call: Call, app: App, release: Release,
                  current_version: int | None = None) -> dict[str, Any]:
    if current_version is None:
        current = call.backend.store.current_release(app)
        current_version = current.version if current else 0
    return resources.release_json(release, app, call.backend.store.owner_id, current_version)


def _listing(call: Call, items: list, fields: dict[str, Callable[[str], Any]],
             render: Callable[[Any], Any]) -> Reply:
    """One page of `items` (sorted by `id` unless the Range names another of `fields`), rendered."""
    try:
        wanted = ranges.parse(call.range_header, fields, "id")
    except ranges.RangeInvalid as exc:
        raise ApiProblem(416, "requested_range_not_satisfiable", f"{exc}.") from None
    page = ranges.page(items, wanted, getattr)
    headers = {"Accept-Ranges": ", ".join(fields), "Content-Range": page.content_range}
    if page.next_range:
        headers["Next-Range"] = page.next_range
    return Reply(206 if page.next_range else 200, [render(item) for item in page.items], headers)


# -- apps ----------------------------------------------------------------------------------------

def _generated_name(store: Store) -> str:
    while True:
        name = f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1000, 9999)}"
        if not store.has_app_name(name):
            return name


def _stack(identity: str) -> str:
    stack = resources.find_stack(identity)
    if stack is None:
        raise invalid(f"Stack {identity!r} is not available; use one of {', '.join(resources.STACKS)}.")
    return stack


def create_app(call: Call) -> Reply:
    body = validate.an_object(call.body if call.body is not None else {}, "app")
    store = call.backend.store
    name = validate.app_name(body["name"]) if body.get("name") is not None else _generated_name(store)
    stack = _stack(validate.optional_text(body, "stack") or resources.DEFAULT_STACK)
    try:
        app = store.create_app(name, stack)
    except NameTaken:
        raise invalid(f"Name {name} is already taken.") from None
    return Reply(201, _app_json(call, app))


def list_apps(call: Call) -> Reply:
    return _listing(call, call.backend.store.apps(), {"id": str, "name": str, "updated_at": str},
                    lambda app: _app_json(call, app))


def app_info(call: Call) -> Reply:
    return Reply(200, _app_json(call, _app(call)))


def delete_app(call: Call) -> Reply:
    app = _app(call)
    shown = _app_json(call, app)
    for slug_id in call.backend.store.delete_app(app):
        call.backend.blobs.remove(slug_id)
    sweep_removals(call.backend.store, call.backend.blobs)
    return Reply(200, shown)


# -- config vars ---------------------------------------------------------------------------------

def config_vars(call: Call) -> Reply:
    return Reply(200, _app(call).config)


def _config_description(changes: dict[str, str | None]) -> str:
    added = [key for key, value in changes.items() if value is not None]
    removed = [key for key, value in changes.items() if value is None]
    parts = [f"{verb} {', '.join(keys)}" for verb, keys in (("set", added), ("remove", removed)) if keys]
    text = " and ".join(parts) + " config vars"
    return text[0].upper() + text[1:]


def patch_config_vars(call: Call) -> Reply:
    app = _app(call)
    changes = validate.config_changes(call.body)
    config, _ = call.backend.store.patch_config(app, changes, _config_description(changes))
    return Reply(200, config)


# -- slugs ---------------------------------------------------------------------------------------

def create_slug(call: Call) -> Reply:
    app = _app(call)
    fields = validate.slug_fields(call.body)
    stack = _stack(validate.optional_text(call.body, "stack") or app.stack)
    slug = call.backend.store.create_slug(app, fields, stack)
    url = call.backend.blobs.url(call.base_url, slug, "PUT")
    return Reply(201, resources.slug_json(slug, "PUT", url))


def slug_info(call: Call) -> Reply:
    _app(call)
    slug_id = call.params["slug"]
    slug = call.backend.store.find_slug(slug_id) if parse_id(slug_id) == slug_id else None
    if slug is None:
        raise not_found("slug")
    url = call.backend.blobs.url(call.base_url, slug, "GET")
    return Reply(200, resources.slug_json(slug, "GET", url))


# -- releases ------------------------------------------------------------------------------------

def _releasable_slug(call: Call, slug_id: str) -> Callable[[Slug, bool], Slug]:
    """The check create_release runs with the slug's row locked: its blob is there and matches."""
    if call.backend.store.find_slug(slug_id) is None:
        raise not_found("slug")

    def seal(slug: Slug, released_before: bool) -> Slug:
        sealed = slug if released_before else call.backend.blobs.seal(slug)
        if sealed.sha256 is None:
            raise invalid(f"Slug {slug_id} has no uploaded blob; PUT the tarball to its blob URL, "
                          "then release.")
        if sealed.checksum is not None and sealed.checksum != f"SHA256:{sealed.sha256}":
            raise invalid(f"Slug {slug_id}'s uploaded bytes do not match its checksum {sealed.checksum}; "
                          "upload the tarball again.")
        return sealed

    return seal


def create_release(call: Call) -> Reply:
    app = _app(call)
    kind, target, description = validate.release_request(call.body)
    store = call.backend.store
    if kind == "slug":
        release = store.create_release(app, target, description or "Deploy",
                                       seal=_releasable_slug(call, target))
    else:
        earlier = store.find_release(app, target)
        if earlier is None:
            raise not_found("release")
        release = store.create_release(app, earlier.slug_id, f"Rollback to v{earlier.version}",
                                       earlier.config)
    return Reply(201, _release_json(call, app, release, release.version))


def list_releases(call: Call) -> Reply:
    app = _app(call)
    releases = call.backend.store.releases(app)
    current = releases[-1].version if releases else 0
    return _listing(call, releases, {"id": str, "version": int},
                    lambda release: _release_json(call, app, release, current))


def _release(call: Call, app: App) -> Release:
    release = call.backend.store.find_release(app, call.params["release"])
    if release is None:
        raise not_found("release")
    return release


def release_info(call: Call) -> Reply:
    app = _app(call)
    return Reply(200, _release_json(call, app, _release(call, app)))


def release_config_vars(call: Call) -> Reply:
    app = _app(call)
    return Reply(200, _release(call, app).config)


_SEGMENT = "[^/]+"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern.replace('{', '(?P<').replace('}', f'>{_SEGMENT})')}$"), handler)
    for method, pattern, handler in (
        ("GET", "/apps", list_apps),
        ("POST", "/apps", create_app),
        ("GET", "/apps/{app}", app_info),
        ("DELETE", "/apps/{app}", delete_app),
        ("GET", "/apps/{app}/config-vars", config_vars),
        ("PATCH", "/apps/{app}/config-vars", patch_config_vars),
        ("POST", "/apps/{app}/slugs", create_slug),
        ("GET", "/apps/{app}/slugs/{slug}", slug_info),
        ("GET", "/apps/{app}/releases", list_releases),
        ("POST", "/apps/{app}/releases", create_release),
        ("GET", "/apps/{app}/releases/{release}", release_info),
        ("GET", "/apps/{app}/releases/{release}/config-vars", release_config_vars),
    )
]


def route(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler for a request and the values its path carries, or None if no endpoint matches."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return handler, match.groupdict()
    return None
