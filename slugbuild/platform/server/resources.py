"""The API's resources as JSON: every attribute Heroku's published schema gives each of them."""

from __future__ import annotations

import uuid
from typing import Any

from slugbuild.platform.server.catalog import region_ref, stack_ref
from slugbuild.platform.server.store import App, Formation, Release, Slug

OWNER_EMAIL = "owner@slugbuild.localhost"


def app_json(app: App, owner_id: str, current: Release | None, current_slug: Slug | None) -> dict[str, Any]:
    """The app resource as the Platform API shows it."""
    description = current_slug.buildpack_provided_description if current_slug else None
    return {
        "acm": False,
        "archived_at": None,
        "buildpack_provided_description": description,
        "build_stack": stack_ref(app.build_stack or app.stack),
        "created_at": app.created_at,
        "git_url": f"https://git.heroku.com/{app.name}.git",
        "id": app.id,
        "internal_routing": None,
        "maintenance": app.maintenance,
        "name": app.name,
        "organization": None,
        "owner": {"email": OWNER_EMAIL, "id": owner_id},
        "region": region_ref(app.region),
        "released_at": current.created_at if current else None,
        "repo_size": None,
        "slug_size": current_slug.size if current_slug else None,
        "space": None,
        "stack": stack_ref(app.stack),
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
        "stack": stack_ref(slug.stack),
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


def account_json(owner_id: str, created_at: str) -> dict[str, Any]:
    """The one local account: verified, no team, nothing suspended or delinquent."""
    return {
        "acknowledged_msa": False, "acknowledged_msa_at": None, "allow_tracking": False, "beta": False,
        "created_at": created_at, "default_organization": None, "default_team": None,
        "delinquent_at": None, "email": OWNER_EMAIL, "federated": False, "id": owner_id,
        "identity_provider": None, "italian_customer_terms": None, "italian_partner_terms": None,
        "last_login": None, "name": None, "sms_number": None, "suspended_at": None,
        "two_factor_authentication": False, "updated_at": created_at, "verified": True,
    }


def formation_json(entry: Formation, app: App, command: str) -> dict[str, Any]:
    """One process type's dynos: how many, what size, running `command`."""
    return {"app": {"id": app.id, "name": app.name}, "command": command, "created_at": entry.created_at,
            "id": entry.id, "quantity": entry.quantity, "size": entry.size, "type": entry.type,
            "updated_at": entry.updated_at}


def domain_json(app: App) -> dict[str, Any]:
    """The app's default `<name>.herokuapp.com` domain, which every app has."""
    hostname = f"{app.name}.herokuapp.com"
    return {"acm_status": None, "acm_status_reason": None, "app": {"id": app.id, "name": app.name},
            "cname": None, "created_at": app.created_at, "hostname": hostname,
            "id": str(uuid.uuid5(uuid.UUID(app.id), hostname)), "kind": "heroku", "status": "none",
            "updated_at": app.updated_at}


def buildpack_installations_json(app: App) -> list[dict[str, Any]]:
    """The app's buildpacks in order; a registry name such as heroku/nodejs is both url and name."""
    return [{"buildpack": {"name": buildpack, "url": buildpack}, "ordinal": ordinal}
            for ordinal, buildpack in enumerate(app.buildpacks)]
