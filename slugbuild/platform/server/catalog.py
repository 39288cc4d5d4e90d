"""The fixed objects every account sees: stacks and regions, with the ids the API names them by."""

from __future__ import annotations

import uuid
from typing import Any

from slugbuild.platform.server.call import Call, Reply
from slugbuild.platform.server.problems import not_found

STACKS = ("heroku-20", "heroku-22", "heroku-24")
DEFAULT_STACK = "heroku-24"
_STACK_STATES = {"heroku-20": "deprecated"}  # end of life since April 2025; still accepted here
# The schema's example time: the stacks' real creation times are not published in the schema.
_STACK_TIME = "2012-01-01T12:00:00Z"
# Stable ids for the stacks, so they read the same across restarts and servers.
_NAMESPACE = uuid.UUID("6f1d2a8e-5b1c-4c7e-9a43-3f0f6d5e2b11")

# The Common Runtime's regions as Heroku lists them (ids, places, providers and times ported from
# heroku/legacy-cli spec/heroku/command/regions_spec.rb @39a7d82). Private Spaces regions are left out:
# an app outside a space cannot run in one.
REGIONS: dict[str, dict[str, Any]] = {
    "eu": {"country": "Ireland", "created_at": "2013-09-19T01:29:12Z", "description": "Europe",
           "id": "ed30241c-ed8c-4bb6-9714-61953675d0b4", "locale": "Dublin", "name": "eu",
           "private_capable": False, "provider": {"name": "amazon-web-services", "region": "eu-west-1"},
           "updated_at": "2015-08-20T01:37:59Z"},
    "us": {"country": "United States", "created_at": "2012-11-21T21:44:16Z", "description": "United States",
           "id": "59accabd-516d-4f0e-83e6-6e3757701145", "locale": "Virginia", "name": "us",
           "private_capable": False, "provider": {"name": "amazon-web-services", "region": "us-east-1"},
           "updated_at": "2015-08-20T01:37:59Z"},
}
DEFAULT_REGION = "us"


def fixed_id(name: str) -> str:
    """A stable UUID for a fixed object named `name`."""
    return str(uuid.uuid5(_NAMESPACE, name))


def find_stack(identity: str) -> str | None:
    """The stack name for a stack name or id, or None if there is no such stack."""
    return next((name for name in STACKS if identity in (name, fixed_id(name))), None)


def stack_ref(name: str) -> dict[str, str]:
    """The stack as other resources nest it: `{id, name}`."""
    return {"id": fixed_id(name), "name": name}


def stack_json(name: str) -> dict[str, Any]:
    """The stack resource."""
    return {**stack_ref(name), "created_at": _STACK_TIME, "default": name == DEFAULT_STACK,
            "state": _STACK_STATES.get(name, "active"), "updated_at": _STACK_TIME}


def find_region(identity: str) -> str | None:
    """The region name for a region name or id, or None if there is no such region."""
    return next((name for name, region in REGIONS.items() if identity in (name, region["id"])), None)


def region_ref(name: str) -> dict[str, str]:
    """The region as an app nests it: `{id, name}`."""
    return {"id": REGIONS[name]["id"], "name": name}


# -- the endpoints -----------------------------------------------------------------------------------

def list_regions(call: Call) -> Reply:
    return Reply(200, [REGIONS[name] for name in sorted(REGIONS)])


def region_info(call: Call) -> Reply:
    name = find_region(call.params["region"])
    if name is None:
        raise not_found("region")
    return Reply(200, REGIONS[name])


def list_stacks(call: Call) -> Reply:
    return Reply(200, [stack_json(name) for name in STACKS])


def stack_info(call: Call) -> Reply:
    name = find_stack(call.params["stack"])
    if name is None:
        raise not_found("stack")
    return Reply(200, stack_json(name))
