"""The local API server over loopback with plain requests: apps, config vars, slugs, releases, errors."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
import requests
import services

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

pytestmark = pytest.mark.parametrize("backend", services.BACKENDS, indirect=True)


def _basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


# -- apps ----------------------------------------------------------------------------------------

def test_create_app_with_a_name_and_stack(raw_api):
    response = raw_api("POST", "/apps", json={"name": "hello-world", "stack": "heroku-22"})
    assert response.status_code == 201
    app = response.json()
    assert app["name"] == "hello-world" and app["stack"]["name"] == "heroku-22"
    assert UUID.match(app["id"]) and app["released_at"] is None


def test_create_app_without_a_name_generates_a_valid_one(raw_api):
    first = raw_api("POST", "/apps").json()
    second = raw_api("POST", "/apps", json={}).json()
    for app in (first, second):
        assert re.match(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$", app["name"]), app["name"]
        assert app["stack"]["name"] == "heroku-24"
    assert first["name"] != second["name"]


def test_app_info_by_name_or_id_and_list(raw_api):
    app = raw_api.create_app("staging")
    raw_api.create_app("production")
    assert raw_api("GET", "/apps/staging").json()["id"] == app["id"]
    assert raw_api("GET", f"/apps/{app['id']}").json()["name"] == "staging"
    listed = raw_api("GET", "/apps")
    assert listed.status_code == 200
    assert sorted(a["name"] for a in listed.json()) == ["production", "staging"]


def test_delete_app_returns_it_and_then_it_is_gone(raw_api):
    app = raw_api.create_app("short-lived")
    slug = raw_api.uploaded_slug("short-lived", b"bytes")
    raw_api.release("short-lived", slug["id"])
    blob_url = raw_api("GET", f"/apps/short-lived/slugs/{slug['id']}").json()["blob"]["url"]
    deleted = raw_api("DELETE", "/apps/short-lived")
    assert deleted.status_code == 200 and deleted.json()["id"] == app["id"]
    assert raw_api("GET", "/apps/short-lived").status_code == 404
    assert requests.get(blob_url, timeout=30).status_code == 404  # its slug went with it


@pytest.mark.parametrize("name", ["Upper", "ab", "9lives", "ends-with-dash-", "a" * 31, "under_score"])
def test_create_app_refuses_a_bad_name(raw_api, name):
    response = raw_api("POST", "/apps", json={"name": name})
    assert response.status_code == 422
    assert response.json()["id"] == "invalid_params" and name in response.json()["message"]


def test_create_app_refuses_a_taken_name_and_an_unknown_stack(raw_api):
    raw_api.create_app("taken")
    taken = raw_api("POST", "/apps", json={"name": "taken"})
    assert (taken.status_code, taken.json()["id"]) == (422, "invalid_params")
    assert "already taken" in taken.json()["message"]
    stack = raw_api("POST", "/apps", json={"name": "other", "stack": "cedar-14"})
    assert (stack.status_code, stack.json()["id"]) == (422, "invalid_params")
    assert "cedar-14" in stack.json()["message"]


# -- config vars ---------------------------------------------------------------------------------

def test_config_vars_set_and_null_removes(raw_api):
    raw_api.create_app("configured")
    assert raw_api("GET", "/apps/configured/config-vars").json() == {}
    patched = raw_api("PATCH", "/apps/configured/config-vars", json={"FOO": "bar", "BAZ": "qux"})
    assert (patched.status_code, patched.json()) == (200, {"FOO": "bar", "BAZ": "qux"})
    removed = raw_api("PATCH", "/apps/configured/config-vars", json={"FOO": None})
    assert removed.json() == {"BAZ": "qux"}
    assert raw_api("GET", "/apps/configured/config-vars").json() == {"BAZ": "qux"}


def test_a_config_change_makes_a_release_of_the_current_slug(raw_api):
    raw_api.create_app("configured")
    slug = raw_api.uploaded_slug("configured")
    raw_api.release("configured", slug["id"])
    raw_api("PATCH", "/apps/configured/config-vars", json={"FOO": "bar"})
    raw_api("PATCH", "/apps/configured/config-vars", json={"FOO": "bar"})  # no change, no release
    releases = raw_api("GET", "/apps/configured/releases", headers={"Range": "version .."}).json()
    assert [r["version"] for r in releases] == [1, 2]
    assert releases[1]["slug"] == {"id": slug["id"]} and releases[1]["description"] == "Set FOO config vars"
    assert raw_api("GET", "/apps/configured/releases/2/config-vars").json() == {"FOO": "bar"}
    assert raw_api("GET", "/apps/configured/releases/1/config-vars").json() == {}


def test_config_change_on_an_app_never_released_gives_a_release_without_slug(raw_api):
    raw_api.create_app("fresh")
    raw_api("PATCH", "/apps/fresh/config-vars", json={"FOO": "bar"})
    (release,) = raw_api("GET", "/apps/fresh/releases").json()
    assert release["version"] == 1 and release["slug"] is None and release["current"] is True


@pytest.mark.parametrize("body", [{"FOO": 1}, {"BAD-KEY": "x"}, ["FOO"], {"FOO": {"a": "b"}}])
def test_config_patch_refuses_a_bad_body(raw_api, body):
    raw_api.create_app("configured")
    response = raw_api("PATCH", "/apps/configured/config-vars", json=body)
    assert (response.status_code, response.json()["id"]) == (422, "invalid_params")
    assert raw_api("GET", "/apps/configured/config-vars").json() == {}


# -- slugs ---------------------------------------------------------------------------------------

def test_slug_create_returns_a_put_blob_and_info_a_get_blob(raw_api, api_server, backend):
    raw_api.create_app("sluggy")
    created = raw_api("POST", "/apps/sluggy/slugs", json={
        "process_types": {"web": "node server.js"}, "commit": "abc123", "stack": "heroku-24",
        "buildpack_provided_description": "Node.js", "commit_description": "first"})
    assert created.status_code == 201
    slug = created.json()
    assert slug["blob"]["method"] == "PUT"
    assert slug["blob"]["url"].startswith(api_server.url + "/blobs/") == (backend == "local")
    assert (slug["commit"], slug["buildpack_provided_description"]) == ("abc123", "Node.js")
    assert slug["size"] is None
    info = raw_api("GET", f"/apps/sluggy/slugs/{slug['id']}")
    assert info.status_code == 200
    assert info.json()["blob"]["method"] == "GET"
    assert info.json()["process_types"] == {"web": "node server.js"}


@pytest.mark.parametrize("body", [
    {}, {"process_types": "web"}, {"process_types": {"we b": "x"}}, {"process_types": {"web": 1}},
    {"process_types": {"web": "x"}, "checksum": "MD5:abc"}, {"process_types": {"web": "x"}, "stack": "cedar"},
    {"process_types": {"web": "x"}, "commit": 12},
])
def test_slug_create_refuses_a_bad_body(raw_api, body):
    raw_api.create_app("sluggy")
    response = raw_api("POST", "/apps/sluggy/slugs", json=body)
    assert (response.status_code, response.json()["id"]) == (422, "invalid_params")


# -- releases ------------------------------------------------------------------------------------

def test_a_new_app_has_no_releases(raw_api):
    raw_api.create_app("empty")
    response = raw_api("GET", "/apps/empty/releases")
    assert (response.status_code, response.json()) == (200, [])


def test_release_a_slug(raw_api):
    app = raw_api.create_app("released")
    slug = raw_api.uploaded_slug("released", b"the slug", commit="abc")
    response = raw_api.release("released", slug["id"], "first deploy")
    assert response.status_code == 201
    release = response.json()
    assert (release["version"], release["current"], release["status"]) == (1, True, "succeeded")
    assert release["slug"] == {"id": slug["id"]} and release["description"] == "first deploy"
    assert release["app"] == {"id": app["id"], "name": "released"}
    shown = raw_api("GET", "/apps/released").json()
    assert shown["released_at"] is not None and shown["slug_size"] == len(b"the slug")


def test_release_info_by_id_or_version_and_current_on_one(raw_api):
    raw_api.create_app("released")
    slug = raw_api.uploaded_slug("released")
    first = raw_api.release("released", slug["id"]).json()
    raw_api.release("released", slug["id"])
    by_id = raw_api("GET", f"/apps/released/releases/{first['id']}").json()
    by_version = raw_api("GET", "/apps/released/releases/1").json()
    assert by_id == by_version and by_id["current"] is False
    assert raw_api("GET", "/apps/released/releases/2").json()["current"] is True
    currents = [r["version"] for r in raw_api("GET", "/apps/released/releases").json() if r["current"]]
    assert currents == [2]


def test_the_same_slug_released_on_two_apps(raw_api):
    raw_api.create_app("staging")
    raw_api.create_app("production")
    slug = raw_api.uploaded_slug("staging")
    raw_api.release("staging", slug["id"])
    promoted = raw_api.release("production", slug["id"])
    assert promoted.status_code == 201 and promoted.json()["slug"]["id"] == slug["id"]


def test_rollback_copies_slug_and_config_vars(raw_api):
    raw_api.create_app("rolling")
    old, new = raw_api.uploaded_slug("rolling", b"old"), raw_api.uploaded_slug("rolling", b"new")
    raw_api("PATCH", "/apps/rolling/config-vars", json={"MODE": "old"})  # v1, no slug
    v2 = raw_api.release("rolling", old["id"]).json()
    raw_api("PATCH", "/apps/rolling/config-vars", json={"MODE": "new", "EXTRA": "1"})  # v3
    raw_api.release("rolling", new["id"])  # v4
    response = raw_api("POST", "/apps/rolling/releases", json={"release": v2["id"]})
    assert response.status_code == 201
    rollback = response.json()
    assert (rollback["version"], rollback["description"]) == (5, "Rollback to v2")
    assert rollback["slug"] == {"id": old["id"]} and rollback["current"] is True
    assert raw_api("GET", "/apps/rolling/config-vars").json() == {"MODE": "old"}
    assert raw_api("GET", "/apps/rolling/releases/4").json()["current"] is False


def test_release_refuses_a_slug_never_uploaded(raw_api):
    raw_api.create_app("strict")
    slug = raw_api("POST", "/apps/strict/slugs", json={"process_types": {"web": "x"}}).json()
    response = raw_api.release("strict", slug["id"])
    assert (response.status_code, response.json()["id"]) == (422, "invalid_params")
    assert "no uploaded blob" in response.json()["message"]
    assert raw_api("GET", "/apps/strict/releases").json() == []


def test_release_refuses_bytes_that_do_not_match_the_checksum(raw_api):
    raw_api.create_app("strict")
    slug = raw_api.uploaded_slug("strict", b"tampered", checksum="SHA256:" + "0" * 64)
    response = raw_api.release("strict", slug["id"])
    assert (response.status_code, response.json()["id"]) == (422, "invalid_params")
    assert "do not match its checksum" in response.json()["message"]


@pytest.mark.parametrize("body", [{}, {"slug": "not-a-uuid"}, {"slug": 7}, {"release": "v1"}, [],
                                  {"slug": str(uuid.uuid4()), "release": str(uuid.uuid4())}])
def test_release_refuses_a_bad_body(raw_api, body):
    raw_api.create_app("strict")
    response = raw_api("POST", "/apps/strict/releases", json=body)
    assert (response.status_code, response.json()["id"]) == (422, "invalid_params")


def test_release_of_an_unknown_slug_or_rollback_to_an_unknown_release_is_404(raw_api):
    raw_api.create_app("strict")
    slug = raw_api.release("strict", str(uuid.uuid4()))
    assert (slug.status_code, slug.json()["message"]) == (404, "Couldn't find that slug.")
    rollback = raw_api("POST", "/apps/strict/releases", json={"release": str(uuid.uuid4())})
    assert (rollback.status_code, rollback.json()["message"]) == (404, "Couldn't find that release.")


# -- the wire: headers, versions, credentials, not found -----------------------------------------

def test_every_answer_carries_request_id_rate_limit_and_json(raw_api):
    for response in (raw_api("POST", "/apps", json={"name": "headers"}), raw_api("GET", "/apps/nope")):
        assert UUID.match(response.headers["Request-Id"])
        assert response.headers["RateLimit-Remaining"].isdigit()
        assert response.headers["Content-Type"] == "application/json"
    sent = raw_api("GET", "/apps", headers={"Request-Id": "my-request-1"})
    assert sent.headers["Request-Id"] == "my-request-1"


@pytest.mark.parametrize("accept", [None, "application/json", "application/vnd.heroku+json"])
def test_missing_version_is_400_with_error_and_message(api_server, accept):
    headers = {"Authorization": f"Bearer {api_server.key}"}
    if accept:
        headers["Accept"] = accept
    response = requests.get(api_server.url + "/apps", headers=headers, timeout=30)
    assert response.status_code == 400
    body = response.json()
    assert body["id"] == "missing_version" and "version=3" in body["error"]
    assert body["message"] == body["error"]


@pytest.mark.parametrize("authorization", [
    None, "Bearer wrong", "Bearer", "Token test", "Basic !!!", _basic("user@example.com", "wrong")])
def test_bad_credentials_are_401(api_server, authorization):
    headers = {"Accept": "application/vnd.heroku+json; version=3"}
    if authorization:
        headers["Authorization"] = authorization
    response = requests.get(api_server.url + "/apps", headers=headers, timeout=30)
    assert (response.status_code, response.json()["id"]) == (401, "unauthorized")


@pytest.mark.parametrize("login", ["", "user@example.com"])
def test_basic_with_the_key_as_password_is_accepted(api_server, login):
    headers = {"Accept": "application/vnd.heroku+json; version=3.sdk",
               "Authorization": _basic(login, api_server.key)}
    assert requests.get(api_server.url + "/apps", headers=headers, timeout=30).status_code == 200


@pytest.mark.parametrize(("path", "message"), [
    ("/apps/missing", "Couldn't find that app."),
    ("/apps/missing/config-vars", "Couldn't find that app."),
    ("/apps/there/releases/9", "Couldn't find that release."),
    (f"/apps/there/releases/{uuid.uuid4()}", "Couldn't find that release."),
    (f"/apps/there/slugs/{uuid.uuid4()}", "Couldn't find that slug."),
    ("/apps/there/slugs/not-a-uuid", "Couldn't find that slug."),
    ("/nothing-here", "The requested API endpoint was not found."),
])
def test_not_found_is_404_with_herokus_message(raw_api, path, message):
    raw_api.create_app("there")
    response = raw_api("GET", path)
    assert (response.status_code, response.json()["id"]) == (404, "not_found")
    assert response.json()["message"].startswith(message)


def test_a_body_that_is_not_json_is_400(raw_api):
    response = raw_api("POST", "/apps", data=b"{not json", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["id"]) == (400, "bad_request")
