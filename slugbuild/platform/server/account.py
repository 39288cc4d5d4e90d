"""The one local account: who `serve`'s key belongs to, and its rate limit."""

from __future__ import annotations

from typing import Any

from slugbuild.platform.server import resources
from slugbuild.platform.server.call import Call, Reply
from slugbuild.platform.server.problems import not_found

RATE_LIMIT_REMAINING = 4500  # Heroku's full pool: the local server does not throttle


def _account(call: Call) -> dict[str, Any]:
    store = call.backend.store
    return resources.account_json(store.owner_id, store.owner_created_at)


def user_of(call: Call) -> dict[str, Any]:
    """The account a `/users/{user}` path names: `~` (the caller), its email or its id; else a 404."""
    account = _account(call)
    if call.params["user"] not in ("~", account["email"], account["id"]):
        raise not_found("user")
    return account


def account_info(call: Call) -> Reply:
    return Reply(200, _account(call))


def user_info(call: Call) -> Reply:
    return Reply(200, user_of(call))


def rate_limits(call: Call) -> Reply:
    return Reply(200, {"remaining": RATE_LIMIT_REMAINING})
