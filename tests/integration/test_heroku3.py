"""heroku3 (PyPI), unchanged, against `serve`: pointed at it by its module's HEROKU_URL, nothing else."""

from __future__ import annotations

import heroku3
import heroku3.api
import pytest
from requests.exceptions import HTTPError


@pytest.fixture
def heroku(api_server, monkeypatch) -> heroku3.api.Heroku:
    # from_key verifies the key at once, so the URL is set before it runs.
    monkeypatch.setattr(heroku3.api, "HEROKU_URL", api_server.url)
    return heroku3.from_key(api_server.key)


def _release(raw_api, app: str, process_types: dict[str, str]) -> dict:
    slug = raw_api.uploaded_slug(app, b"code", process_types=process_types)
    return raw_api.release(app, slug["id"]).json()


def test_from_key_authenticates_and_reads_the_account(heroku, api_server, monkeypatch):
    assert heroku.is_authenticated
    assert heroku.account().email == "owner@slugbuild.localhost"
    assert heroku.rate_limit.remaining == 4500
    monkeypatch.setattr(heroku3.api, "HEROKU_URL", api_server.url)
    assert not heroku3.from_key("not-the-key").is_authenticated


def test_create_list_rename_update_and_delete(heroku, raw_api):
    app = heroku.create_app(name="py-shop", stack_id_or_name="heroku-22", region_id_or_name="eu")
    assert (app.region.name, app.stack.name) == ("eu", "heroku-22")
    assert [each.name for each in heroku.apps()] == ["py-shop"] and heroku.app("py-shop").id == app.id
    renamed = app.rename("py-store")
    assert renamed.name == "py-store" and raw_api("GET", "/apps/py-shop").status_code == 404
    assert app.enable_maintenance_mode().maintenance is True
    assert heroku.app("py-store").maintenance is True
    assert app.disable_maintenance_mode().maintenance is False  # heroku3 sends {"maintenance": 0}
    assert app.update(maintenance=True).maintenance is True
    app.delete()
    assert list(heroku.apps()) == []


def test_an_unknown_region_is_heroku_not_found(heroku):
    with pytest.raises(HTTPError) as refused:
        heroku.create_app(name="nowhere", stack_id_or_name="heroku-24", region_id_or_name="mars")
    assert refused.value.response.status_code == 404
    assert refused.value.response.json() == {"id": "not_found", "message": "Couldn't find that region.",
                                             "resource": "region"}


def test_config_releases_and_rollback(heroku, raw_api):
    app = heroku.create_app(name="py-config", stack_id_or_name="heroku-24")
    app.update_config({"MODE": "blue"})
    first = _release(raw_api, "py-config", {"web": "./web"})
    app.update_config({"MODE": "green"})
    assert app.config()["MODE"] == "green"
    assert [release.version for release in app.releases()] == [1, 2, 3]
    rolled = app.rollback(first["id"])
    assert rolled.version == 4 and rolled.description == "Rollback to v2"
    assert app.config()["MODE"] == "blue"
    with pytest.raises(HTTPError) as refused:
        app.rollback(app.releases()[0].id)  # v1: a config change before any code
    assert refused.value.response.status_code == 422


def test_formation_dynos_addons_domains(heroku, raw_api):
    app = heroku.create_app(name="py-ps", stack_id_or_name="heroku-24")
    assert list(app.process_formation()) == []
    _release(raw_api, "py-ps", {"web": "./web", "worker": "./work"})
    formation = {entry.type: (entry.quantity, entry.command) for entry in app.process_formation()}
    assert formation == {"web": (1, "./web"), "worker": (0, "./work")}
    scaled = app.batch_scale_formation_processes({"web": 2, "worker": 3})
    assert sorted((entry.type, entry.quantity) for entry in scaled) == [("web", 2), ("worker", 3)]
    assert app.scale_formation_process("worker", 0).quantity == 0
    assert list(app.dynos()) == [] and list(app.addons()) == []
    assert [domain.hostname for domain in app.domains()] == ["py-ps.herokuapp.com"]
