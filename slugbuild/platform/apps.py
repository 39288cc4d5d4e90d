"""Apps and their config vars through the Platform API."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from slugbuild.errors import UsageError
from slugbuild.platform.client import PAGE_SIZE, PlatformClient, app_path

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
CONFIG_KEY = re.compile(r"^\w+$")


def create_app(client: PlatformClient, name: str, stack: str | None = None) -> dict[str, Any]:
    """A new app; the name is checked here first so a typo is caught without a round trip."""
    if not APP_NAME.match(name):
        raise UsageError(f"app name {name!r} must be 3 to 30 lowercase letters, digits and dashes, starting "
                         "with a letter and not ending with a dash")
    body = {"name": name, **({"stack": stack} if stack else {})}
    return client.post("/apps", body)


def list_apps(client: PlatformClient) -> list[dict[str, Any]]:
    """Every app the key can see, by name."""
    return sorted(client.pages("/apps", f"name ..; max={PAGE_SIZE}"), key=lambda app: app["name"])


def destroy_app(client: PlatformClient, name: str) -> dict[str, Any]:
    """Delete the app; returns the app as it was."""
    return client.delete(app_path(name))


def config_vars(client: PlatformClient, app: str) -> dict[str, str]:
    """The app's config vars."""
    return client.get(app_path(app, "config-vars"))


def set_config(client: PlatformClient, app: str, values: Mapping[str, str]) -> dict[str, str]:
    """Set the given vars; returns the app's whole resulting map, as the API does."""
    return client.patch(app_path(app, "config-vars"), dict(values))


def unset_config(client: PlatformClient, app: str, keys: Sequence[str]) -> dict[str, str]:
    """Remove the given vars (the API's `null`); returns the app's whole resulting map."""
    for key in keys:
        if not CONFIG_KEY.match(key):
            raise UsageError(f"config var name {key!r} may use only letters, digits and _")
    return client.patch(app_path(app, "config-vars"), dict.fromkeys(keys))
