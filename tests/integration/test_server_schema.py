"""Every attribute Heroku's published schema gives a resource is in the server's answer, with its type.

The property lists come from data/heroku-schema-properties.json, derived once from Heroku's schema (its
`_source` says how).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import services

SCHEMA = json.loads((Path(__file__).parent / "data" / "heroku-schema-properties.json").read_text())
PYTHON_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
                "null": type(None)}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

pytestmark = pytest.mark.parametrize("backend", services.BACKENDS, indirect=True)


def _has_type(value: Any, allowed: list[str]) -> bool:
    if isinstance(value, bool):  # bool is an int in Python; the schema keeps them apart
        return "boolean" in allowed
    return any(isinstance(value, PYTHON_TYPES[name]) for name in allowed)


def _problems(value: dict[str, Any], properties: dict[str, Any], where: str) -> list[str]:
    found = []
    for name, rule in properties.items():
        if name not in value:
            found.append(f"{where}.{name} is missing")
            continue
        item = value[name]
        if not _has_type(item, rule["type"]):
            found.append(f"{where}.{name} = {item!r} is not {rule['type']}")
        elif isinstance(item, str) and rule.get("format") == "uuid" and not UUID.match(item):
            found.append(f"{where}.{name} = {item!r} is not a uuid")
        elif isinstance(item, str) and rule.get("format") == "date-time":
            datetime.strptime(item, "%Y-%m-%dT%H:%M:%SZ")
        elif "enum" in rule and item not in rule["enum"]:
            found.append(f"{where}.{name} = {item!r} is not one of {rule['enum']}")
        elif isinstance(item, dict) and "properties" in rule:
            found += _problems(item, rule["properties"], f"{where}.{name}")
    return found


@pytest.fixture
def samples(raw_api) -> dict[str, list[dict]]:
    """Each resource as the server answers it, from every endpoint that returns it."""
    never_released = raw_api.create_app("never-released")
    released = raw_api.create_app("released")
    slug = raw_api.uploaded_slug("released", b"bytes", commit="abc123",
                                 buildpack_provided_description="Node.js")
    raw_api("PATCH", "/apps/released/config-vars", json={"FOO": "bar"})
    release = raw_api.release("released", slug["id"]).json()
    buildpacks = {"updates": [{"buildpack": "heroku/nodejs"}, {"buildpack": "https://example.com/bp.tgz"}]}
    return {
        "app": [never_released, released, raw_api("GET", "/apps/released").json(),
                *raw_api("GET", "/apps").json(), *raw_api("GET", "/users/~/apps").json(),
                raw_api("PATCH", "/apps/released", json={"maintenance": True}).json(),
                raw_api("DELETE", "/apps/never-released").json()],
        "account": [raw_api("GET", "/account").json(), raw_api("GET", "/users/~").json()],
        "rate-limit": [raw_api("GET", "/account/rate-limits").json()],
        "formation": [*raw_api("GET", "/apps/released/formation").json(),
                      raw_api("GET", "/apps/released/formation/web").json(),
                      *raw_api("PATCH", "/apps/released/formation",
                               json={"updates": [{"type": "web", "quantity": 2}]}).json(),
                      raw_api("PATCH", "/apps/released/formation/web", json={"size": "basic"}).json()],
        "domain": [*raw_api("GET", "/apps/released/domains").json(),
                   raw_api("GET", "/apps/released/domains/released.herokuapp.com").json()],
        "region": [*raw_api("GET", "/regions").json(), raw_api("GET", "/regions/eu").json()],
        "stack": [*raw_api("GET", "/stacks").json(), raw_api("GET", "/stacks/heroku-24").json()],
        "buildpack-installation": [*raw_api("PUT", "/apps/released/buildpack-installations",
                                            json=buildpacks).json(),
                                   *raw_api("GET", "/apps/released/buildpack-installations").json()],
        "slug": [slug, raw_api("GET", f"/apps/released/slugs/{slug['id']}").json()],
        "release": [release, raw_api("GET", "/apps/released/releases/1").json(),
                    *raw_api("GET", "/apps/released/releases").json()],
        "config-var": [raw_api("GET", "/apps/released/config-vars").json(),
                       raw_api("PATCH", "/apps/released/config-vars", json={"BAR": "baz"}).json(),
                       raw_api("GET", "/apps/released/releases/2/config-vars").json()],
    }


@pytest.mark.parametrize("resource", ["app", "slug", "release", "account", "rate-limit", "formation",
                                      "domain", "region", "stack", "buildpack-installation"])
def test_every_schema_attribute_is_present_with_its_type(samples, resource):
    assert samples[resource]
    for index, sample in enumerate(samples[resource]):
        assert _problems(sample, SCHEMA[resource], f"{resource}[{index}]") == []


def test_dynos_and_add_ons_are_empty_lists(raw_api):
    # serve runs no dynos and provisions no add-ons, so there is no dyno or add-on to check attributes of.
    raw_api.create_app("bare")
    for path in ("/apps/bare/dynos", "/apps/bare/addons", "/addons"):
        assert raw_api("GET", path).json() == []


def test_config_vars_are_a_flat_map_of_strings(samples):
    rule = SCHEMA["config-var"]["patternProperties"]
    (pattern, value_rule), = rule.items()
    for sample in samples["config-var"]:
        assert sample
        assert all(re.match(pattern, k) and _has_type(v, value_rule["type"]) for k, v in sample.items())


def test_the_check_itself_notices_a_missing_or_mistyped_attribute(samples):
    slug = dict(samples["slug"][0], size="5")
    del slug["checksum"]
    assert _problems(slug, SCHEMA["slug"], "slug") == ["slug.checksum is missing", "slug.size = '5' is not "
                                                       "['integer', 'null']"]


def test_no_api_key_in_the_schema_answers(samples, api_server):
    assert api_server.key not in json.dumps(samples)
    assert api_server.key not in requests.get(samples["slug"][1]["blob"]["url"], timeout=30).text
