"""Request bodies checked against the schema's rules; a bad one is a 422 naming the value."""

from __future__ import annotations

import re
from typing import Any

from slugbuild.platform.server.blobs import parse_id
from slugbuild.platform.server.problems import invalid

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$", re.ASCII)
CONFIG_KEY = re.compile(r"^\w+$", re.ASCII)
CHECKSUM = re.compile(r"^SHA256:[0-9a-f]{64}$")
SLUG_TEXT_FIELDS = ("buildpack_provided_description", "checksum", "commit", "commit_description")


def an_object(body: Any, what: str) -> dict[str, Any]:
    """`body` when it is a JSON object; a 422 naming `what` otherwise."""
    if not isinstance(body, dict):
        raise invalid(f"The {what} body must be a JSON object.")
    return body


def optional_text(body: dict[str, Any], key: str) -> str | None:
    """`body[key]` when it is a string or absent; a 422 otherwise."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string or null.")
    if value is not None and "\x00" in value:  # PostgreSQL's text cannot hold it
        raise invalid(f"{key} must not contain a NUL character.")
    return value


def app_name(name: Any) -> str:
    """`name` when Heroku would accept it as an app name; a 422 otherwise."""
    if not isinstance(name, str) or not APP_NAME.match(name):
        raise invalid(f"Name {name!r} must start with a letter, end with a letter or digit, and can only "
                      "contain lowercase letters, digits, and dashes (3 to 30 characters).")
    return name


def process_types(value: Any) -> dict[str, str]:
    """`value` when it maps valid process type names to commands; a 422 otherwise."""
    if not isinstance(value, dict):
        raise invalid("process_types is required: an object of process type name to command.")
    for name, command in value.items():
        if not PROCESS_TYPE.match(name):
            raise invalid(f"Process type {name!r} may use only letters, digits, - and _ (1 to 128).")
        if not isinstance(command, str):
            raise invalid(f"The command of process type {name!r} must be a string.")
    return value


def slug_fields(body: Any) -> dict[str, Any]:
    """The slug create body: process_types and the optional text fields."""
    body = an_object(body, "slug")
    fields: dict[str, Any] = {"process_types": process_types(body.get("process_types"))}
    fields.update({key: optional_text(body, key) for key in SLUG_TEXT_FIELDS})
    if fields["checksum"] is not None and not CHECKSUM.match(fields["checksum"]):
        raise invalid(f"checksum {fields['checksum']!r} must be SHA256: and 64 lowercase hex digits.")
    return fields


def config_changes(body: Any) -> dict[str, str | None]:
    """A config-vars PATCH: keys of letters, digits and _, values strings or null (to delete)."""
    body = an_object(body, "config vars")
    for key, value in body.items():
        if not CONFIG_KEY.match(key):
            raise invalid(f"Config var name {key!r} may use only letters, digits and _.")
        if value is not None and not isinstance(value, str):
            raise invalid(f"Config var {key} must be a string, or null to remove it.")
    return body


def release_request(body: Any) -> tuple[str, str, str | None]:
    """("slug", id, description) to release a slug, or ("release", id, description) to roll back."""
    body = an_object(body, "release")
    kinds = [key for key in ("slug", "release") if key in body]
    if len(kinds) != 1:
        raise invalid("Require params: slug (or release, to roll back), not both.")
    kind = kinds[0]
    target = parse_id(body[kind]) if isinstance(body[kind], str) else None
    if target is None:
        raise invalid(f"{kind} must be the {kind}'s id (a UUID), not {body[kind]!r}.")
    return kind, target, optional_text(body, "description")


DYNO_SIZES = ("Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M", "Performance-L",
              "Performance-L-RAM", "Performance-XL", "Performance-2XL")
QUANTITY = re.compile(r"^[+-]?\d{1,6}$", re.ASCII)


def maintenance(value: Any) -> bool:
    """A maintenance flag: true or false (heroku3 sends 1 and 0, so those count too)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise invalid(f"maintenance must be true or false, not {value!r}.")


def app_update(body: Any) -> dict[str, Any]:
    """An app PATCH: any of name, maintenance, build_stack (a stack name or id); others are ignored."""
    body = an_object(body if body is not None else {}, "app")
    changes: dict[str, Any] = {}
    if body.get("name") is not None:
        changes["name"] = app_name(body["name"])
    if body.get("maintenance") is not None:
        changes["maintenance"] = maintenance(body["maintenance"])
    if body.get("build_stack") is not None:
        changes["build_stack"] = optional_text(body, "build_stack")
    return changes


def dyno_size(value: Any) -> str:
    """A dyno size by its name in any case, spelled as Heroku spells it; a 422 otherwise."""
    found = next((size for size in DYNO_SIZES if isinstance(value, str) and size.lower() == value.lower()),
                 None)
    if found is None:
        raise invalid(f"Size {value!r} is not a dyno size; use one of {', '.join(DYNO_SIZES)}.")
    return found


def quantity(value: Any) -> tuple[int, bool]:
    """(n, relative): an integer or "3" sets the quantity; "+1" and "-1" (as the CLI sends) change it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, False
    if isinstance(value, str) and QUANTITY.match(value):
        return int(value), value[0] in "+-"
    raise invalid(f"quantity must be a number of dynos (or +N / -N to change it), not {value!r}.")


def formation_change(body: Any, what: str) -> dict[str, Any]:
    """One formation change: quantity and/or size, as (quantity, relative, size) keyword values."""
    body = an_object(body, what)
    change: dict[str, Any] = {}
    if body.get("quantity") is not None:
        change["quantity"], change["relative"] = quantity(body["quantity"])
    if body.get("size") is not None:
        change["size"] = dyno_size(body["size"])
    return change


def formation_updates(body: Any) -> dict[str, dict[str, Any]]:
    """A formation batch update, `{"updates": [{"type", "quantity", "size"}, ...]}`, by process type."""
    updates = an_object(body, "formation").get("updates")
    if not isinstance(updates, list) or not updates:
        raise invalid("Require params: updates (a list of {type, quantity, size}).")
    changes = {}
    for update in updates:
        name = an_object(update, "formation update").get("type")
        if not isinstance(name, str) or not PROCESS_TYPE.match(name):
            raise invalid(f"Each formation update needs the process type it changes, not {name!r}.")
        changes[name] = formation_change(update, "formation update")
    return changes


def buildpack_updates(body: Any) -> list[str]:
    """A buildpack-installations PUT, `{"updates": [{"buildpack": url_or_name}, ...]}`, in order."""
    updates = an_object(body, "buildpack installations").get("updates")
    if not isinstance(updates, list):
        raise invalid("Require params: updates (a list of {buildpack}).")
    buildpacks = [an_object(update, "buildpack update").get("buildpack") for update in updates]
    for buildpack in buildpacks:
        if not isinstance(buildpack, str) or not buildpack.strip():
            raise invalid(f"buildpack must be a buildpack URL or name, not {buildpack!r}.")
    return buildpacks


def sbom_document(body: Any, checksum: str | None) -> dict[str, Any]:
    """A CycloneDX JSON document whose subject is the slug with `checksum`; a 422 otherwise."""
    document = an_object(body, "SBOM")
    if document.get("bomFormat") != "CycloneDX" or not isinstance(document.get("specVersion"), str):
        raise invalid("The SBOM must be a CycloneDX JSON document (bomFormat CycloneDX, a specVersion).")
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    properties = metadata.get("properties") if isinstance(metadata.get("properties"), list) else []
    named = {p.get("value") for p in properties
             if isinstance(p, dict) and p.get("name") == "slugbuild:slug:sha256"}
    if checksum is None or checksum.removeprefix("SHA256:") not in named:
        raise invalid(f"The SBOM describes another slug: its slugbuild:slug:sha256 property must be this "
                      f"slug's checksum ({checksum or 'none recorded'}).")
    return document
