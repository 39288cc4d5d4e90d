"""The endpoints Heroku's own clients lean on, over loopback with plain requests: account, app update,
region, formation, domains, buildpacks, rollback eligibility, and ETags with conditional requests."""

from __future__ import annotations

import sqlite3

import pytest
import services

from slugbuild.platform.server import migrations

BOTH = pytest.mark.parametrize("backend", services.BACKENDS, indirect=True)  # SQLite and files; PG and S3


def _release(raw_api, app: str, process_types: dict[str, str]) -> dict:
    slug = raw_api.uploaded_slug(app, b"code", process_types=process_types)
    response = raw_api.release(app, slug["id"])
    assert response.status_code == 201, response.text
    return response.json()


def _formation(raw_api, app: str) -> dict[str, tuple[int, str]]:
    return {entry["type"]: (entry["quantity"], entry["size"])
            for entry in raw_api("GET", f"/apps/{app}/formation").json()}


# -- account and users ---------------------------------------------------------------------------

@BOTH
def test_account_and_its_apps_by_tilde_email_or_id(raw_api):
    raw_api.create_app("mine")
    account = raw_api("GET", "/account").json()
    for user in ("~", account["email"], account["id"]):
        assert [app["name"] for app in raw_api("GET", f"/users/{user}/apps").json()] == ["mine"]
    assert raw_api("GET", "/users/someone@example.com/apps").status_code == 404
    assert raw_api("GET", "/account/rate-limits").json() == {"remaining": 4500}


# -- regions -------------------------------------------------------------------------------------

@BOTH
def test_region_by_name_or_id_is_kept_and_an_unknown_one_is_not_found(raw_api):
    eu = raw_api("GET", "/regions/eu").json()
    assert raw_api.create_app("in-europe", region=eu["id"])["region"] == {"id": eu["id"], "name": "eu"}
    assert raw_api.create_app("by-default")["region"]["name"] == "us"
    refused = raw_api("POST", "/apps", json={"name": "on-mars", "region": "mars"})
    assert refused.status_code == 404
    assert refused.json() == {"id": "not_found", "message": "Couldn't find that region.",
                              "resource": "region"}
    assert raw_api("GET", "/apps/on-mars").status_code == 404
    assert raw_api("GET", "/regions/mars").status_code == 404


# -- app update ----------------------------------------------------------------------------------

@BOTH
def test_rename_keeps_releases_and_refuses_a_taken_or_bad_name(raw_api):
    app = raw_api.create_app("old-name")
    raw_api.create_app("taken")
    _release(raw_api, "old-name", {"web": "./web"})
    renamed = raw_api("PATCH", "/apps/old-name", json={"name": "new-name"}).json()
    assert renamed["id"] == app["id"] and renamed["web_url"] == "https://new-name.herokuapp.com/"
    assert len(raw_api("GET", "/apps/new-name/releases").json()) == 1
    taken = raw_api("PATCH", "/apps/new-name", json={"name": "taken"})
    assert taken.status_code == 422 and taken.json()["message"] == "Name taken is already taken."
    assert raw_api("PATCH", "/apps/new-name", json={"name": "Bad Name"}).status_code == 422
    assert raw_api("GET", "/apps/new-name").json()["name"] == "new-name"


@pytest.mark.parametrize("value", ["yes", 2, None, [True]])
@BOTH
def test_maintenance_takes_true_false_or_heroku3s_one_and_zero(raw_api, value):
    raw_api.create_app("maint")
    assert raw_api("PATCH", "/apps/maint", json={"maintenance": 1}).json()["maintenance"] is True
    assert raw_api("PATCH", "/apps/maint", json={"maintenance": 0}).json()["maintenance"] is False
    answer = raw_api("PATCH", "/apps/maint", json={"maintenance": value})
    assert answer.status_code == (200 if value is None else 422)
    assert raw_api("GET", "/apps/maint").json()["maintenance"] is False


@BOTH
def test_build_stack_is_used_by_the_next_slug_and_becomes_the_stack_when_released(raw_api):
    raw_api.create_app("moving", stack="heroku-22")
    updated = raw_api("PATCH", "/apps/moving", json={"build_stack": "heroku-24"}).json()
    assert (updated["stack"]["name"], updated["build_stack"]["name"]) == ("heroku-22", "heroku-24")
    slug = raw_api.uploaded_slug("moving", b"code")
    assert slug["stack"]["name"] == "heroku-24"
    raw_api.release("moving", slug["id"])
    assert raw_api("GET", "/apps/moving").json()["stack"]["name"] == "heroku-24"
    assert raw_api("PATCH", "/apps/moving", json={"build_stack": "cedar"}).status_code == 422


# -- formation -----------------------------------------------------------------------------------

@BOTH
def test_formation_follows_the_current_releases_process_types(raw_api):
    raw_api.create_app("procs")
    assert raw_api("GET", "/apps/procs/formation").json() == []
    _release(raw_api, "procs", {"web": "./web", "worker": "./work"})
    assert _formation(raw_api, "procs") == {"web": (1, "Standard-1X"), "worker": (0, "Standard-1X")}
    raw_api("PATCH", "/apps/procs/formation", json={"updates": [{"type": "worker", "quantity": 3}]})
    _release(raw_api, "procs", {"web": "./web2", "worker": "./work", "clock": "./tick"})
    assert _formation(raw_api, "procs") == {"clock": (0, "Standard-1X"), "web": (1, "Standard-1X"),
                                            "worker": (3, "Standard-1X")}
    assert raw_api("GET", "/apps/procs/formation/web").json()["command"] == "./web2"
    _release(raw_api, "procs", {"web": "./web"})
    assert _formation(raw_api, "procs") == {"web": (1, "Standard-1X")}


@BOTH
def test_scale_absolute_relative_and_size_and_all_or_nothing(raw_api):
    raw_api.create_app("scaled")
    _release(raw_api, "scaled", {"web": "./web", "worker": "./work"})
    updates = [{"type": "web", "quantity": "+2", "size": "standard-2x"}, {"type": "worker", "quantity": "4"}]
    answer = raw_api("PATCH", "/apps/scaled/formation", json={"updates": updates}).json()
    assert {e["type"]: (e["quantity"], e["size"]) for e in answer} == {"web": (3, "Standard-2X"),
                                                                         "worker": (4, "Standard-1X")}
    assert raw_api("PATCH", "/apps/scaled/formation/worker", json={"quantity": "-1"}).json()["quantity"] == 3
    for bad in ({"type": "web", "quantity": -1}, {"type": "web", "quantity": "-9"},
                {"type": "web", "quantity": 10_001}, {"type": "web", "quantity": "+9999"},
                {"type": "web", "quantity": "lots"}, {"type": "web", "size": "huge"}, {"quantity": 1}):
        refused = raw_api("PATCH", "/apps/scaled/formation",
                          json={"updates": [{"type": "worker", "quantity": 0}, bad]})
        assert refused.status_code == 422, bad
    unknown = raw_api("PATCH", "/apps/scaled/formation",
                      json={"updates": [{"type": "worker", "quantity": 0}, {"type": "clock", "quantity": 1}]})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Couldn't find that process type (clock)."
    assert _formation(raw_api, "scaled") == {"web": (3, "Standard-2X"), "worker": (3, "Standard-1X")}


# -- domains, buildpacks, rollback ---------------------------------------------------------------

@BOTH
def test_the_default_domain_follows_the_name(raw_api):
    raw_api.create_app("domained")
    (domain,) = raw_api("GET", "/apps/domained/domains").json()
    assert (domain["hostname"], domain["kind"]) == ("domained.herokuapp.com", "heroku")
    assert raw_api("GET", f"/apps/domained/domains/{domain['id']}").json() == domain
    raw_api("PATCH", "/apps/domained", json={"name": "renamed"})
    assert raw_api("GET", "/apps/renamed/domains/renamed.herokuapp.com").status_code == 200
    assert raw_api("GET", "/apps/renamed/domains/domained.herokuapp.com").status_code == 404


@BOTH
def test_buildpack_installations_are_kept_in_order(raw_api):
    raw_api.create_app("packed")
    updates = [{"buildpack": "heroku/ruby"}, {"buildpack": "heroku/nodejs"}]
    raw_api("PUT", "/apps/packed/buildpack-installations", json={"updates": updates})
    listed = raw_api("GET", "/apps/packed/buildpack-installations").json()
    assert [(each["ordinal"], each["buildpack"]["name"]) for each in listed] == [(0, "heroku/ruby"),
                                                                                (1, "heroku/nodejs")]
    for bad in ({"updates": "heroku/ruby"}, {"updates": [{"buildpack": ""}]}, ["heroku/ruby"]):
        assert raw_api("PUT", "/apps/packed/buildpack-installations", json=bad).status_code == 422


@BOTH
def test_rollback_to_a_release_without_slug_is_refused_and_makes_no_release(raw_api):
    raw_api.create_app("config-first")
    raw_api("PATCH", "/apps/config-first/config-vars", json={"A": "1"})
    _release(raw_api, "config-first", {"web": "./web"})
    first = raw_api("GET", "/apps/config-first/releases/1").json()
    assert first["eligible_for_rollback"] is False
    refused = raw_api("POST", "/apps/config-first/releases", json={"release": first["id"]})
    assert refused.status_code == 422 and "not eligible for rollback" in refused.json()["message"]
    assert len(raw_api("GET", "/apps/config-first/releases").json()) == 2


# -- ETags ---------------------------------------------------------------------------------------

@BOTH
def test_if_none_match_gives_304_until_the_resource_changes(raw_api):
    raw_api.create_app("tagged")
    first = raw_api("GET", "/apps/tagged")
    tag = first.headers["ETag"]
    unchanged = raw_api("GET", "/apps/tagged", headers={"If-None-Match": f'"other", W/{tag}'})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == tag
    raw_api("PATCH", "/apps/tagged/config-vars", json={"A": "1"})
    assert raw_api("GET", "/apps/tagged/config-vars", headers={"If-None-Match": tag}).status_code == 200
    listed = raw_api("GET", "/apps")
    assert raw_api("GET", "/apps", headers={"If-None-Match": listed.headers["ETag"]}).status_code == 304


@BOTH
def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(raw_api):
    raw_api.create_app("guarded")
    tag = raw_api("GET", "/apps/guarded").headers["ETag"]
    assert raw_api("PATCH", "/apps/guarded", json={"maintenance": True},
                   headers={"If-Match": tag}).status_code == 200
    stale = raw_api("PATCH", "/apps/guarded", json={"name": "stolen"}, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["id"] == "precondition_failed"
    weak = f"W/{raw_api('GET', '/apps/guarded').headers['ETag']}"  # If-Match compares strongly
    assert raw_api("PATCH", "/apps/guarded", json={"name": "stolen"},
                   headers={"If-Match": weak}).status_code == 412
    assert raw_api("GET", "/apps/guarded").json()["name"] == "guarded"
    config_tag = raw_api("GET", "/apps/guarded/config-vars").headers["ETag"]
    assert raw_api("PATCH", "/apps/guarded/config-vars", json={"B": "2"},
                   headers={"If-Match": config_tag}).status_code == 200
    assert raw_api("PATCH", "/apps/missing", json={}, headers={"If-Match": "*"}).status_code == 412


# -- state from before these endpoints -----------------------------------------------------------

@services.FILE_STORE
def test_a_data_dir_from_before_gains_the_new_columns_and_loses_nothing(start_api_server, make_raw_api,
                                                                        tmp_path):
    data_dir = tmp_path / "old-state"
    data_dir.mkdir()
    old = sqlite3.connect(data_dir / "api.sqlite3")
    old.executescript(migrations.known()[0].sql)  # the tables as slugbuild 0.1 made them, before migrations
    old.execute("INSERT INTO apps (id, name, stack, config, created_at, updated_at) VALUES "
                "('0190a000-0000-7000-8000-000000000001', 'veteran', 'heroku-22', '{\"A\": \"1\"}', "
                "'2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')")
    old.commit()
    old.close()
    raw_api = make_raw_api(start_api_server(data_dir=data_dir))
    app = raw_api("GET", "/apps/veteran").json()
    assert (app["region"]["name"], app["maintenance"]) == ("us", False)
    assert app["build_stack"]["name"] == "heroku-22"
    assert raw_api("GET", "/apps/veteran/config-vars").json() == {"A": "1"}
    assert raw_api("PATCH", "/apps/veteran", json={"maintenance": True}).json()["maintenance"] is True
