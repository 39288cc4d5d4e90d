"""List pagination as Heroku does it: Range in, Content-Range and Next-Range (with 206) out."""

from __future__ import annotations

import pytest

RELEASES = 260


@pytest.fixture
def many_releases(raw_api) -> str:
    raw_api.create_app("paged")
    slug = raw_api.uploaded_slug("paged")
    for _ in range(RELEASES):
        assert raw_api.release("paged", slug["id"]).status_code == 201
    return "/apps/paged/releases"


def _walk(raw_api, path: str, first_range: str | None) -> tuple[list[dict], list[int]]:
    """Follow Next-Range to the end; returns the items and the status of each page."""
    items, statuses, wanted = [], [], first_range
    while True:
        response = raw_api("GET", path, headers={"Range": wanted} if wanted else {})
        statuses.append(response.status_code)
        items += response.json()
        wanted = response.headers.get("Next-Range")
        if wanted is None:
            return items, statuses


def test_newest_first_across_pages(raw_api, many_releases):
    items, statuses = _walk(raw_api, many_releases, "version ..; order=desc, max=200")
    assert [r["version"] for r in items] == list(range(RELEASES, 0, -1))
    assert statuses == [206, 200]
    assert [r["version"] for r in items if r["current"]] == [RELEASES]


def test_default_range_is_id_with_pages_of_200(raw_api, many_releases):
    first = raw_api("GET", many_releases)
    assert first.status_code == 206 and len(first.json()) == 200
    assert first.headers["Accept-Ranges"] == "id, version"
    ids = [r["id"] for r in first.json()]
    assert ids == sorted(ids)
    assert [r["version"] for r in first.json()] == list(range(1, 201))  # ids are time-ordered: oldest first
    assert first.headers["Content-Range"] == f"id {ids[0]}..{ids[-1]}; max=200"
    assert first.headers["Next-Range"].startswith(f"id ]{ids[-1]}..")
    items, _ = _walk(raw_api, many_releases, None)
    assert sorted(r["version"] for r in items) == list(range(1, RELEASES + 1))


@pytest.mark.parametrize("header", ["version ..; order=desc,max=7", "version ..; max=7, order=desc",
                                    "version ..; max=7; order=desc;", "version ..;order=desc;max=7"])
def test_params_separated_by_commas_or_semicolons(raw_api, many_releases, header):
    response = raw_api("GET", many_releases, headers={"Range": header})
    assert response.status_code == 206
    assert [r["version"] for r in response.json()] == list(range(RELEASES, RELEASES - 7, -1))
    assert response.headers["Content-Range"] == f"version {RELEASES}..{RELEASES - 6}; max=7, order=desc"
    assert response.headers["Next-Range"] == f"version ]{RELEASES - 6}..; max=7, order=desc"


@pytest.mark.parametrize(("header", "versions"), [
    ("version 5..9", [5, 6, 7, 8, 9]),
    ("version ]5..9[", [6, 7, 8]),
    ("version 9..5; order=desc", [9, 8, 7, 6, 5]),
    ("version ]258..", [259, 260]),
])
def test_bounds_inclusive_or_exclusive(raw_api, many_releases, header, versions):
    response = raw_api("GET", many_releases, headers={"Range": header})
    assert response.status_code == 200
    assert [r["version"] for r in response.json()] == versions


def test_max_is_capped_at_1000(raw_api, many_releases):
    response = raw_api("GET", many_releases, headers={"Range": "version ..; max=5000"})
    assert response.status_code == 200 and len(response.json()) == RELEASES
    assert response.headers["Content-Range"] == f"version 1..{RELEASES}; max=1000"


@pytest.mark.parametrize("header", ["name ..", "version ..; max=0", "version ..; max=ten",
                                    "version ..; order=sideways", "version abc..", "version 5"])
def test_a_bad_range_is_416(raw_api, header):
    raw_api.create_app("paged")
    response = raw_api("GET", "/apps/paged/releases", headers={"Range": header})
    assert (response.status_code, response.json()["id"]) == (416, "requested_range_not_satisfiable")


def test_apps_list_by_name(raw_api):
    for name in ("app-c", "app-a", "app-b"):
        raw_api.create_app(name)
    first = raw_api("GET", "/apps", headers={"Range": "name ..; max=2"})
    assert first.status_code == 206 and [a["name"] for a in first.json()] == ["app-a", "app-b"]
    rest = raw_api("GET", "/apps", headers={"Range": first.headers["Next-Range"]})
    assert rest.status_code == 200 and [a["name"] for a in rest.json()] == ["app-c"]
