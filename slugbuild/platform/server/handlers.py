"""The API endpoints: one function per endpoint, taking a Call and returning a Reply."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slugbuild.platform.server import (
    account,
    app_parts,
    catalog,
    conditional,
    formation,
    ranges,
    resources,
    validate,
)
from slugbuild.platform.server.blobs import parse_id, sweep_removals
from slugbuild.platform.server.call import Backend, Call, Handler, Reply, app_of
from slugbuild.platform.server.problems import NO_ENDPOINT, ApiProblem, invalid, not_found
from slugbuild.platform.server.store import App, NameTaken, Release, Slug, Store

__all__ = ["Backend", "Call", "Reply", "ROUTES", "answer", "route"]

_ADJECTIVES = ("cryptic", "quiet", "brave", "lucky", "sunny", "frozen", "gentle", "rapid", "shiny", "calm")
_NOUNS = ("ocean", "river", "meadow", "forest", "harbor", "summit", "canyon", "island", "prairie", "lake")


_app = app_of


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
    stack = catalog.find_stack(identity)
    if stack is None:
        raise invalid(f"Stack {identity!r} is not available; use one of {', '.join(catalog.STACKS)}.")
    return stack


def _region(identity: str) -> str:
    region = catalog.find_region(identity)
    if region is None:
        raise not_found("region")
    return region


def create_app(call: Call) -> Reply:
    body = validate.an_object(call.body if call.body is not None else {}, "app")
    store = call.backend.store
    name = validate.app_name(body["name"]) if body.get("name") is not None else _generated_name(store)
    stack = _stack(validate.optional_text(body, "stack") or catalog.DEFAULT_STACK)
    region = _region(validate.optional_text(body, "region") or catalog.DEFAULT_REGION)
    try:
        app = store.create_app(name, stack, region)
    except NameTaken:
        raise invalid(f"Name {name} is already taken.") from None
    return Reply(201, _app_json(call, app))


def list_apps(call: Call) -> Reply:
    return _listing(call, call.backend.store.apps(), {"id": str, "name": str, "updated_at": str},
                    lambda app: _app_json(call, app))


def list_user_apps(call: Call) -> Reply:
    """The apps a user owns or collaborates on: every app, for the one local account."""
    account.user_of(call)
    return list_apps(call)


def app_info(call: Call) -> Reply:
    return Reply(200, _app_json(call, _app(call)))


def update_app(call: Call) -> Reply:
    app = _app(call)
    changes = validate.app_update(call.body)
    if "build_stack" in changes:
        changes["build_stack"] = _stack(changes["build_stack"])
    try:
        app = call.backend.store.update_app(app, **changes)
    except NameTaken:
        raise invalid(f"Name {changes['name']} is already taken.") from None
    return Reply(200, _app_json(call, app))


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
    stack = _stack(validate.optional_text(call.body, "stack") or app.build_stack or app.stack)
    slug = call.backend.store.create_slug(app, fields, stack)
    url = call.backend.blobs.url(call.base_url, slug, "PUT")
    return Reply(201, resources.slug_json(slug, "PUT", url))


def _slug(call: Call) -> Slug:
    _app(call)
    slug_id = call.params["slug"]
    slug = call.backend.store.find_slug(slug_id) if parse_id(slug_id) == slug_id else None
    if slug is None:
        raise not_found("slug")
    return slug


def slug_info(call: Call) -> Reply:
    slug = _slug(call)
    url = call.backend.blobs.url(call.base_url, slug, "GET")
    return Reply(200, resources.slug_json(slug, "GET", url))


def put_slug_sbom(call: Call) -> Reply:
    """slugbuild's extension: keep the slug's CycloneDX SBOM with it (it must name the slug's checksum)."""
    slug = _slug(call)
    document = validate.sbom_document(call.body, slug.checksum)
    outcome = call.backend.store.keep_sbom(slug.id, json.dumps(document, sort_keys=True))
    if outcome == "gone":
        raise not_found("slug")
    if outcome == "released":
        raise ApiProblem(409, "conflict", f"Slug {slug.id} is released with another SBOM, which stays.")
    return Reply(200, document)


def slug_sbom(call: Call) -> Reply:
    """slugbuild's extension: the SBOM kept with the slug (every app that released it may read it)."""
    kept = call.backend.store.sbom(_slug(call).id)
    if kept is None:
        raise not_found("sbom")
    return Reply(200, json.loads(kept))


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
        if earlier.slug_id is None:
            raise invalid(f"Release v{earlier.version} is not eligible for rollback: it has no slug "
                          "(eligible_for_rollback is false); roll back to a release that deployed code.")
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
        ("GET", "/account", account.account_info),
        ("GET", "/account/rate-limits", account.rate_limits),
        ("GET", "/users/{user}", account.user_info),
        ("GET", "/users/{user}/apps", list_user_apps),
        ("GET", "/regions", catalog.list_regions),
        ("GET", "/regions/{region}", catalog.region_info),
        ("GET", "/stacks", catalog.list_stacks),
        ("GET", "/stacks/{stack}", catalog.stack_info),
        ("GET", "/addons", app_parts.list_all_addons),
        ("GET", "/apps", list_apps),
        ("POST", "/apps", create_app),
        ("GET", "/apps/{app}", app_info),
        ("PATCH", "/apps/{app}", update_app),
        ("DELETE", "/apps/{app}", delete_app),
        ("GET", "/apps/{app}/config-vars", config_vars),
        ("PATCH", "/apps/{app}/config-vars", patch_config_vars),
        ("POST", "/apps/{app}/slugs", create_slug),
        ("GET", "/apps/{app}/slugs/{slug}", slug_info),
        ("PUT", "/apps/{app}/slugs/{slug}/sbom", put_slug_sbom),
        ("GET", "/apps/{app}/slugs/{slug}/sbom", slug_sbom),
        ("GET", "/apps/{app}/releases", list_releases),
        ("POST", "/apps/{app}/releases", create_release),
        ("GET", "/apps/{app}/releases/{release}", release_info),
        ("GET", "/apps/{app}/releases/{release}/config-vars", release_config_vars),
        ("GET", "/apps/{app}/formation", formation.list_formation),
        ("PATCH", "/apps/{app}/formation", formation.batch_update),
        ("GET", "/apps/{app}/formation/{type}", formation.formation_info),
        ("PATCH", "/apps/{app}/formation/{type}", formation.update),
        ("GET", "/apps/{app}/dynos", app_parts.list_none),
        ("GET", "/apps/{app}/dynos/{dyno}", app_parts.dyno_info),
        ("GET", "/apps/{app}/addons", app_parts.list_none),
        ("GET", "/apps/{app}/addons/{addon}", app_parts.addon_info),
        ("GET", "/apps/{app}/domains", app_parts.list_domains),
        ("GET", "/apps/{app}/domains/{domain}", app_parts.domain_info),
        ("GET", "/apps/{app}/buildpack-installations", app_parts.list_buildpacks),
        ("PUT", "/apps/{app}/buildpack-installations", app_parts.set_buildpacks),
    )
]


def route(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler for a request and the values its path carries, or None if no endpoint matches."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return handler, match.groupdict()
    return None


def _current(path: str, call: Call) -> Reply | None:
    """What a GET of `path` answers now, or None if nothing is there (for If-Match)."""
    found = route("GET", path)
    if found is None:
        return None
    try:
        return found[0](replace(call, params=found[1], range_header=None))
    except ApiProblem:
        return None


def answer(method: str, path: str, call: Call) -> Reply:
    """The reply to `method path`: routed, its If-Match checked first, tagged with an ETag, and 304 for a
    GET whose If-None-Match names it. The If-Match check and the change are not one transaction."""
    found = route(method, path)
    if found is None:
        raise ApiProblem(404, "not_found", NO_ENDPOINT)
    handler, params = found
    call = replace(call, params=params)
    if method in ("PATCH", "PUT", "DELETE") and "if-match" in call.headers:
        conditional.check_if_match(call.headers, _current(path, call))
    reply = conditional.tagged(handler(call))
    return conditional.not_modified(reply, call.headers) if method in ("GET", "HEAD") else reply
