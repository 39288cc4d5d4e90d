"""slugbuild's SBOM extension: `build --app` and `release` send the SBOM to `slugbuild serve`, which keeps it
with the slug and answers it at GET /apps/{app}/slugs/{id}/sbom, for every app the slug is promoted to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slugbuild import SERVE_HEADER

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def cli(run_cli, api_server, tmp_path):
    env = {"SLUGBUILD_API_URL": api_server.url, "HEROKU_API_KEY": api_server.key, "HOME": str(tmp_path)}
    return lambda *args: run_cli(*args, env=env)


def build_and_release(cli, tmp_path: Path, app: str) -> dict:
    result = cli("build", FIXTURES / "classic-app", "--buildpack", FIXTURES / "classic-greeter",
                 "--app", app, "-o", tmp_path / "slug.tgz", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_build_app_keeps_the_sbom_with_the_slug_and_promote_carries_it(cli, raw_api, tmp_path):
    raw_api.create_app("staging")
    raw_api.create_app("production")
    report = build_and_release(cli, tmp_path, "staging")
    sent = json.loads(Path(report["sbom"]).read_text())
    kept = raw_api("GET", f"/apps/staging/slugs/{report['slug_id']}/sbom")
    assert kept.status_code == 200 and kept.json() == sent
    assert cli("promote", "--from", "staging", "--to", "production").exit_code == 0
    promoted = raw_api("GET", "/apps/production/releases/1").json()["slug"]["id"]
    assert promoted == report["slug_id"]
    assert raw_api("GET", f"/apps/production/slugs/{promoted}/sbom").json() == sent


def test_the_server_says_it_is_slugbuild_and_keeps_only_an_sbom_of_that_slug(raw_api, tmp_path):
    raw_api.create_app("demo")
    slug = raw_api.uploaded_slug("demo")
    assert raw_api("GET", "/apps/demo").headers[SERVE_HEADER]
    path = f"/apps/demo/slugs/{slug['id']}/sbom"
    assert raw_api("GET", path).json()["id"] == "not_found"
    other = {"bomFormat": "CycloneDX", "specVersion": "1.6",
             "metadata": {"properties": [{"name": "slugbuild:slug:sha256", "value": "0" * 64}]}}
    refused = raw_api("PUT", path, json=other)
    assert refused.status_code == 422 and "describes another slug" in refused.json()["message"]
    assert raw_api("PUT", path, json={"hello": "world"}).status_code == 422
    mine = {**other, "metadata": {"properties": [
        {"name": "slugbuild:slug:sha256", "value": slug["checksum"].removeprefix("SHA256:")}]}}
    assert raw_api("PUT", path, json=mine).status_code == 200
    assert raw_api.release("demo", slug["id"]).status_code == 201
    changed = {**mine, "version": 2}
    assert raw_api("PUT", path, json=changed).status_code == 409
    assert raw_api("PUT", path, json=mine).status_code == 200  # the same document again changes nothing
    assert raw_api("GET", path).json() == mine
