"""The API's resources as JSON: every attribute Heroku's published schema gives app, slug and release."""

from __future__ import annotations

import uuid
from typing import Any

from slugbuild.platform.server.store import App, Release, Slug

STACKS = ("heroku-20", "heroku-22", "heroku-24")
DEFAULT_STACK = "heroku-24"
REGION = "us"
OWNER_EMAIL = "owner@slugbuild.localhost"
# Stable ids for the fixed stacks and region, so they read the same across restarts and servers.
_NAMESPACE = uuid.UUID("6f1d2a8e-5b1c-4c7e-9a43-3f0f6d5e2b11")


def fixed_id(name: str) -> str:
    """A stable UUID for a fixed object (a stack, the region) named `name`."""
    return str(uuid.uuid5(_NAMESPACE, name))


def find_stack(identity: str) -> str | None:
    """The stack name for a stack name or id, or None if there is no such stack."""
    return next((name for name in STACKS if identity in (name, fixed_id(name))), None)


def stack_json(name: str) -> dict[str, str]:
    """The stack as the API nests it: `{id, name}`."""
    return {"id": fixed_id(name), "name": name}


def app_json(app: App, owner_id: str, current: Release | None, current_slug: Slug | None) -> dict[str, Any]:
    """The app resource as the Platform API shows it."""
    stack = stack_json(app.stack)
    description = current_slug.buildpack_provided_description if current_slug else None
    return {
        "acm": False,
        "archived_at": None,
        "buildpack_provided_description": description,
        "build_stack": stack,
        "created_at": app.created_at,
        "git_url": f"https://git.heroku.com/{app.name}.git",
        "id": app.id,
        "internal_routing": None,
        "maintenance": False,
        "name": app.name,
        "organization": None,
        "owner": {"email": OWNER_EMAIL, "id": owner_id},
        "region": {"id": fixed_id(REGION), "name": REGION},
        "released_at": current.created_at if current else None,
        "repo_size": None,
        "slug_size": current_slug.size if current_slug else None,
        "space": None,
        "stack": stack,
        "team": None,
        "updated_at": app.updated_at,
        "web_url": f"https://{app.name}.herokuapp.com/",
    }


def slug_json(slug: Slug, blob_method: str, blob_url: str) -> dict[str, Any]:
    """The slug resource, with a blob URL for `blob_method`."""
    return {
        "blob": {"method": blob_method, "url": blob_url},
        "buildpack_provided_description": slug.buildpack_provided_description,
        "checksum": slug.checksum,
        "commit": slug.commit,
        "commit_description": slug.commit_description,
        "created_at": slug.created_at,
        "id": slug.id,
        "process_types": slug.process_types,
        "size": slug.size,
        "stack": stack_json(slug.stack),
        "updated_at": slug.updated_at,
    }


def release_json(release: Release, app: App, owner_id: str, current_version: int) -> dict[str, Any]:
    # eligible_for_rollback and artifacts are newer than the published schema; Heroku returns them.
    """The release resource; `current` when it is version `current_version`."""
    return {
        "addon_plan_names": [],
        "app": {"id": app.id, "name": app.name},
        "artifacts": [{"type": "slug", "id": release.slug_id}] if release.slug_id else [],
        "created_at": release.created_at,
        "current": release.version == current_version,
        "description": release.description,
        "eligible_for_rollback": release.slug_id is not None,
        "id": release.id,
        "output_stream_url": None,
        "slug": {"id": release.slug_id} if release.slug_id else None,
        "status": "succeeded",
        "updated_at": release.updated_at,
        "user": {"email": OWNER_EMAIL, "id": owner_id},
        "version": release.version,
    }
