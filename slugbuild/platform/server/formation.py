"""The formation: how many dynos of which size each process type of the current release asks for.

`serve` runs no dynos; it keeps the formation so the clients' `ps:scale` and friends work as on Heroku.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slugbuild.platform.server import resources, validate
from slugbuild.platform.server.call import Call, Reply, app_of
from slugbuild.platform.server.problems import ApiProblem, invalid
from slugbuild.platform.server.store import (
    MAX_QUANTITY,
    App,
    Formation,
    QuantityOutOfRange,
    Scale,
    UnknownProcessType,
)


def _commands(call: Call, app: App) -> dict[str, str]:
    store = call.backend.store
    current = store.current_release(app)
    slug = store.find_slug(current.slug_id) if current and current.slug_id else None
    return slug.process_types if slug else {}


def _rendered(call: Call, app: App, entries: list[Formation]) -> list[dict[str, Any]]:
    commands = _commands(call, app)
    return [resources.formation_json(entry, app, commands.get(entry.type, "")) for entry in entries]


def _no_type(name: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"Couldn't find that process type ({name}).", resource="formation")


def _scale(call: Call, app: App, changes: Mapping[str, Scale]) -> list[Formation]:
    try:
        return call.backend.store.scale(app, changes)
    except UnknownProcessType as exc:
        raise _no_type(str(exc)) from None
    except QuantityOutOfRange as exc:
        raise invalid(f"Quantity of {exc} must stay between 0 and {MAX_QUANTITY} dynos.") from None


def list_formation(call: Call) -> Reply:
    app = app_of(call)
    return Reply(200, _rendered(call, app, call.backend.store.formation(app)))


def formation_info(call: Call) -> Reply:
    app = app_of(call)
    wanted = call.params["type"]
    entry = next((e for e in call.backend.store.formation(app) if wanted in (e.type, e.id)), None)
    if entry is None:
        raise _no_type(wanted)
    return Reply(200, _rendered(call, app, [entry])[0])


def batch_update(call: Call) -> Reply:
    app = app_of(call)
    changes = {name: Scale(**change) for name, change in validate.formation_updates(call.body).items()}
    return Reply(200, _rendered(call, app, _scale(call, app, changes)))


def update(call: Call) -> Reply:
    app = app_of(call)
    wanted = call.params["type"]
    name = next((e.type for e in call.backend.store.formation(app) if wanted == e.id), wanted)
    change = Scale(**validate.formation_change(call.body, "formation"))
    return Reply(200, _rendered(call, app, _scale(call, app, {name: change}))[0])
