"""The real CLI and client against the real local API on 127.0.0.1: build and release, release, promote,
releases across pages, rollback, apps, config vars, and the errors a user can meet."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import services

from slugbuild import slug as slugs
from slugbuild.config import Sourced
from slugbuild.fetch import file_sha256
from slugbuild.log import RecordingLog
from slugbuild.platform import release
from slugbuild.platform.auth import Credentials
from slugbuild.platform.client import PlatformClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def api(api_server) -> Iterator[PlatformClient]:
    creds = Credentials(Sourced(api_server.url, "test"), Sourced(api_server.key, "test"))
    with PlatformClient(creds) as client:
        yield client


class Cli:
    """`slugbuild ARGS` pointed at the local server (`.url`), in a home without a netrc."""

    def __init__(self, run_cli, url: str, key: str, home: Path) -> None:
        self.run_cli, self.url = run_cli, url
        self.env = {"SLUGBUILD_API_URL": url, "HEROKU_API_KEY": key, "HOME": str(home)}

    def __call__(self, *args: object, **extra_env: str):
        return self.run_cli(*args, env={**self.env, **extra_env})


@pytest.fixture
def cli(run_cli, api_server, tmp_path) -> Cli:
    return Cli(run_cli, api_server.url, api_server.key, tmp_path)


def make_slug(path: Path, text: str, process_types: dict[str, str] | None = None) -> Path:
    """A slug with ./app/hello.txt holding `text`, and its metadata when `process_types` is given."""
    app = path.parent / f"{path.stem}-app"
    app.mkdir()
    (app / "hello.txt").write_text(text)
    packed = slugs.pack(app, path, RecordingLog(), max_size_b=1 << 30)
    if process_types is not None:
        slugs.write_metadata(path, {"checksum": packed.checksum, "size": packed.size, "stack": "heroku-24",
                                    "process_types": process_types, "commit": "abc123",
                                    "buildpack_provided_description": "Hand-made"})
    return path


def slug_text(api: PlatformClient, app: str, dest: Path, name: str = "app/hello.txt") -> str:
    """The file `name` in the app's current slug, downloaded as `slugbuild run --app` does."""
    dest = dest / "downloads"
    dest.mkdir(exist_ok=True)
    path, _ = release.download_current_slug(api, app, dest)
    assert path == dest / "slug.tgz"
    with tarfile.open(path) as tar:
        member = tar.extractfile(f"./{name}")
        assert member is not None
        return member.read().decode()


def test_release_a_prebuilt_slug_with_its_metadata(cli, api, tmp_path):
    api.post("/apps", {"name": "demo-app"})
    path = make_slug(tmp_path / "slug.tgz", "hello v1", {"web": "./bin/web"})
    result = cli("release", path, "--app", "demo-app", "--description", "first one")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Released v1 on demo-app"
    current = api.get("/apps/demo-app/releases/1")
    assert current["description"] == "first one" and current["current"] is True
    created = api.get(f"/apps/demo-app/slugs/{current['slug']['id']}")
    assert created["process_types"] == {"web": "./bin/web"}
    assert (created["commit"], created["stack"]["name"]) == ("abc123", "heroku-24")
    assert created["checksum"] == json.loads(slugs.metadata_path(path).read_text())["checksum"]
    assert slug_text(api, "demo-app", tmp_path) == "hello v1"


def test_release_a_hand_made_tarball_needs_process_types(cli, api, tmp_path):
    api.post("/apps", {"name": "demo-app"})
    path = make_slug(tmp_path / "hand.tgz", "by hand")
    refused = cli("release", path, "--app", "demo-app")
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert refused.last_error_line.endswith(
        f'slug {path} has no hand.tgz.json beside it and no --process-type; give one, as in '
        '--process-type web="./bin/server"')
    assert api.get("/apps/demo-app/releases") == []
    result = cli("release", path, "--app", "demo-app", "--process-type", "web=./serve --port $PORT", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 1
    _, types = release.download_current_slug(api, "demo-app", tmp_path)
    assert types == {"web": "./serve --port $PORT"}


def test_build_and_release_uses_the_apps_config_vars_with_env_overriding(cli, api, tmp_path):
    api.post("/apps", {"name": "greeter"})
    api.patch("/apps/greeter/config-vars", {"GREETING_STYLE": "quiet"})
    args = ("build", FIXTURES / "classic-app", "--buildpack", FIXTURES / "classic-greeter",
            "--app", "greeter", "--json")
    first = cli(*args, "-o", tmp_path / "one.tgz")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    config_release = api.get("/apps/greeter/releases/1")  # the config change made v1
    assert report["release"] == {"app": "greeter", "version": 2, "id": report["release"]["id"]}
    assert report["release"]["id"] != config_release["id"]
    assert report["slug_id"] == api.get("/apps/greeter/releases/2")["slug"]["id"]
    created = api.get(f"/apps/greeter/slugs/{report['slug_id']}")
    assert created["checksum"] == report["checksum"] == f"SHA256:{file_sha256(tmp_path / 'one.tgz')}"
    assert report["process_types"]["web"].startswith("python3 -m http.server")
    assert "(quiet)" in slug_text(api, "greeter", tmp_path, "app/public/index.html")

    second = cli(*args[:-1], "-o", tmp_path / "two.tgz", "--env", "GREETING_STYLE=loud")
    assert second.exit_code == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "Released v3 on greeter"
    assert "(loud)" in slug_text(api, "greeter", tmp_path, "app/public/index.html")


def test_promote_releases_the_same_slug_on_every_target(cli, api, tmp_path):
    for name in ("staging", "production", "canary"):
        api.post("/apps", {"name": name})
    path = make_slug(tmp_path / "slug.tgz", "promoted", {"web": "./bin/web"})
    assert cli("release", path, "--app", "staging").exit_code == 0
    result = cli("promote", "--from", "staging", "--to", "production", "--to", "canary")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["Released v1 on production", "Released v1 on canary"]
    apps = ("staging", "production", "canary")
    slug_ids = {api.get(f"/apps/{name}/releases/1")["slug"]["id"] for name in apps}
    assert len(slug_ids) == 1
    assert slug_text(api, "production", tmp_path) == "promoted"


def test_promote_from_an_app_without_releases_says_so(cli, api):
    api.post("/apps", {"name": "empty-app"})
    api.post("/apps", {"name": "production"})
    result = cli("promote", "--from", "empty-app", "--to", "production")
    assert result.exit_code == 1
    assert "app empty-app has no current release" in result.last_error_line


def test_releases_lists_every_page_newest_first(cli, api, tmp_path):
    api.post("/apps", {"name": "busy-app"})
    path = make_slug(tmp_path / "slug.tgz", "many", {"web": "./bin/web"})
    first = release.release_slug(api, "busy-app", release.load_slug(path, ()), None, RecordingLog())
    for _ in range(259):
        release.create_release(api, "busy-app", first.slug_id, None)
    listed = cli("releases", "--app", "busy-app", "--json")
    assert listed.exit_code == 0, listed.stderr
    versions = [r["version"] for r in json.loads(listed.stdout)]
    assert versions == list(range(260, 0, -1))
    table = cli("releases", "--app", "busy-app").stdout.splitlines()
    assert table[0] == "=== busy-app Releases - Current: v260"
    assert table[1].startswith("v260 ") and table[1].endswith("current") and table[-1].startswith("v1 ")


def test_rollback_to_the_previous_release_and_to_a_named_one(cli, api, tmp_path):
    api.post("/apps", {"name": "demo-app"})
    for text in ("one", "two", "three"):
        path = make_slug(tmp_path / f"{text}.tgz", text, {"web": "./bin/web"})
        assert cli("release", path, "--app", "demo-app").exit_code == 0
    back = cli("rollback", "--app", "demo-app")
    assert back.exit_code == 0, back.stderr
    assert back.stdout.strip() == "Released v4 on demo-app"
    assert api.get("/apps/demo-app/releases/4")["description"] == "Rollback to v2"
    assert slug_text(api, "demo-app", tmp_path) == "two"
    named = cli("rollback", "--app", "demo-app", "v1", "--json")
    assert json.loads(named.stdout)["version"] == 5
    assert slug_text(api, "demo-app", tmp_path) == "one"
    bad = cli("rollback", "--app", "demo-app", "latest")
    assert bad.exit_code == 2
    assert "release 'latest' is not a version; give one like v12" in bad.last_error_line
    missing = cli("rollback", "--app", "demo-app", "v99")
    assert missing.exit_code == 1
    assert missing.last_error_line.endswith(
        "app demo-app has no release v99; `slugbuild releases --app demo-app` lists its releases")
    no_app = cli("rollback", "--app", "no-such-app", "v1")
    assert "Couldn't find that app. (404 not_found)" in no_app.last_error_line


def test_apps_create_list_destroy(cli):
    assert cli("apps", "create", "first-app").stdout.strip() == "Created first-app"
    created = cli("apps", "create", "second-app", "--stack", "heroku-22", "--json")
    assert json.loads(created.stdout)["stack"]["name"] == "heroku-22"
    listed = cli("apps", "list")
    assert listed.stdout.splitlines()[0] == "=== Apps"
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["first-app", "second-app"]
    assert cli("apps", "destroy", "first-app").stdout.strip() == "Destroyed first-app"
    assert [a["name"] for a in json.loads(cli("apps", "list", "--json").stdout)] == ["second-app"]


def test_config_set_show_unset(cli, api):
    api.post("/apps", {"name": "demo-app"})
    shown = cli("config", "set", "--app", "demo-app", "DATABASE_URL=postgres://db/x", "MODE=fast")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines() == ["=== demo-app Config Vars", "DATABASE_URL:  postgres://db/x",
                                         "MODE:          fast"]
    assert cli("config", "unset", "--app", "demo-app", "MODE").exit_code == 0
    assert json.loads(cli("config", "--app", "demo-app", "--json").stdout) == {"DATABASE_URL": "postgres://db/x"}
    assert [r["description"] for r in api.get("/apps/demo-app/releases")][-1].startswith("Remove MODE")
    bad = cli("config", "set", "--app", "demo-app", "not a pair")
    assert bad.exit_code == 2 and "config set 'not a pair' is not KEY=VALUE" in bad.last_error_line


def test_a_wrong_key_is_a_401_line_that_never_shows_the_key(cli, api_server):
    result = cli("releases", "--app", "demo-app", "--debug", HEROKU_API_KEY="wrong-key-4242")
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.stderr  # --debug
    assert "(401 unauthorized): the API key from HEROKU_API_KEY was refused" in result.last_error_line
    assert "wrong-key-4242" not in result.stdout + result.stderr
    assert api_server.key not in result.stdout + result.stderr


def test_an_unknown_app_is_a_404_line(cli):
    result = cli("config", "--app", "nowhere")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        "Couldn't find that app. (404 not_found): check the name (`slugbuild apps list` shows the apps) "
        f"and that {cli.url} (SLUGBUILD_API_URL) is the right API")


def test_a_taken_app_name_is_a_422_line_with_the_apis_message(cli):
    assert cli("apps", "create", "taken-name").exit_code == 0
    result = cli("apps", "create", "taken-name")
    assert result.exit_code == 1
    assert result.last_error_line.endswith("Name taken-name is already taken. (422 invalid_params): "
                                           "change the value the message names and try again")


@services.FILE_STORE
def test_an_expired_blob_url_is_a_403_line_and_no_release(start_api_server, run_cli, tmp_path):
    server = start_api_server(blob_ttl_s=-60)
    creds = Credentials(Sourced(server.url, "test"), Sourced(server.key, "test"))
    with PlatformClient(creds) as api:
        api.post("/apps", {"name": "demo-app"})
        path = make_slug(tmp_path / "slug.tgz", "late", {"web": "./bin/web"})
        result = run_cli("release", path, "--app", "demo-app", env={
            "SLUGBUILD_API_URL": server.url, "HEROKU_API_KEY": server.key, "HOME": str(tmp_path)})
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert f"uploading {path} failed: " in result.last_error_line
        assert "answered 403 Forbidden (This blob URL has expired" in result.last_error_line
        assert "Signature" not in result.stderr
        assert api.get("/apps/demo-app/releases") == []


def test_no_key_anywhere_is_one_line_naming_the_three_ways(run_cli, api_server, tmp_path):
    result = run_cli("apps", "list", env={"SLUGBUILD_API_URL": api_server.url, "HEROKU_API_KEY": "",
                                          "HOME": str(tmp_path), "NETRC": str(tmp_path / "no-netrc")})
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        "no API key for 127.0.0.1: pass --api-key KEY, set HEROKU_API_KEY, or add "
        f"`machine 127.0.0.1 login EMAIL password KEY` to {tmp_path / 'no-netrc'}")


def test_the_netrc_entry_for_the_api_host_is_used(run_cli, api_server, tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login me@example.com password {api_server.key}\n")
    netrc.chmod(0o600)
    result = run_cli("apps", "create", "from-netrc", env={
        "SLUGBUILD_API_URL": api_server.url, "HEROKU_API_KEY": "", "HOME": str(tmp_path)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Created from-netrc"
