"""An app's add-ons, dynos, domains and buildpacks, as far as a local server has them.

`serve` provisions no add-ons and runs no dynos, so those lists are empty; every app has its default
`<name>.herokuapp.com` domain; buildpack installations are kept as set.
"""

from __future__ import annotations

from slugbuild.platform.server import resources, validate
from slugbuild.platform.server.call import Call, Handler, Reply, app_of
from slugbuild.platform.server.problems import not_found


def list_all_addons(call: Call) -> Reply:
    return Reply(200, [])


def list_none(call: Call) -> Reply:
    """The app's add-ons or dynos: `serve` has none of either."""
    app_of(call)
    return Reply(200, [])


def _none_named(what: str) -> Handler:
    def info(call: Call) -> Reply:
        app_of(call)
        raise not_found(what)
    return info


addon_info = _none_named("add-on")
dyno_info = _none_named("dyno")


def list_domains(call: Call) -> Reply:
    return Reply(200, [resources.domain_json(app_of(call))])


def domain_info(call: Call) -> Reply:
    domain = resources.domain_json(app_of(call))
    if call.params["domain"] not in (domain["id"], domain["hostname"]):
        raise not_found("domain")
    return Reply(200, domain)


def list_buildpacks(call: Call) -> Reply:
    return Reply(200, resources.buildpack_installations_json(app_of(call)))


def set_buildpacks(call: Call) -> Reply:
    app = app_of(call)
    app = call.backend.store.set_buildpacks(app, validate.buildpack_updates(call.body))
    return Reply(200, resources.buildpack_installations_json(app))
