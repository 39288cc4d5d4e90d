"""The official Heroku CLI (npm package `heroku`, pinned in the Makefile), unchanged, against `serve`.

`make runtimes` installs it into .cache/heroku-cli with the mirror's Node.js. Each run gets its own HOME,
telemetry and update checks off, HEROKU_HOST and HEROKU_PARTICLEBOARD_URL (the CLI asks it about
delinquent accounts) at the server, and data/loopback_guard.cjs preloaded: it refuses and records any
lookup or connection for a host other than 127.0.0.1, and every command checks that record is empty.
The CLI takes a second or more to start, so each test groups several commands.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / ".cache" / "heroku-cli"
NODE = CLI_DIR / "node" / "bin" / "node"
CLI = CLI_DIR / "node_modules" / "heroku" / "bin" / "run.js"
GUARD = Path(__file__).parent / "data" / "loopback_guard.cjs"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def shown(self) -> str:
        """What the terminal shows: the CLI prints results on stdout and progress (`done, v3`) on stderr."""
        return self.out + self.err


class HerokuCli:
    def __init__(self, url: str, key: str, home: Path) -> None:
        home.mkdir()
        self.home, self.off_loopback = home, home / "off-loopback.log"
        self.off_loopback.touch()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "HEROKU_HOST": url, "HEROKU_PARTICLEBOARD_URL": url, "HEROKU_API_KEY": key,
            "NO_COLOR": "1", "FORCE_COLOR": "0", "DISABLE_TELEMETRY": "true",
            "HEROKU_DISABLE_AUTOUPDATE": "true", "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
            "HEROKU_SKIP_ANALYTICS": "1", "NODE_OPTIONS": f"--require {GUARD}",
            "LOOPBACK_GUARD_LOG": str(self.off_loopback),
        }

    def __call__(self, *args: str, **env: str) -> Ran:
        done = subprocess.run([str(NODE), str(CLI), *args], cwd=self.home, env={**self.env, **env},
                              capture_output=True, text=True, timeout=60)
        return Ran(done.returncode, done.stdout, done.stderr)

    def checked(self, *args: str) -> Ran:
        """Run a command that must reach nothing but the local server."""
        ran = self(*args)
        assert self.off_loopback.read_text() == "", f"heroku {' '.join(args)} went off loopback"
        return ran

    def ok(self, *args: str) -> Ran:
        ran = self.checked(*args)
        assert ran.code == 0, f"heroku {' '.join(args)}: {ran.err}"
        return ran

    def fails(self, *args: str) -> str:
        ran = self.checked(*args)
        assert ran.code != 0, f"heroku {' '.join(args)} succeeded: {ran.out}"
        return " ".join(ran.err.replace("›", " ").split())  # the CLI wraps its error box


@pytest.fixture
def heroku(api_server, tmp_path) -> HerokuCli:
    if not CLI.is_file() or not NODE.is_file():
        pytest.fail(f"the Heroku CLI is not in {CLI_DIR}; run `make runtimes` (or `make heroku-cli`) first")
    return HerokuCli(api_server.url, api_server.key, tmp_path / "home")


def _released(raw_api, app: str, process_types: dict[str, str]) -> dict:
    slug = raw_api.uploaded_slug(app, b"code", process_types=process_types)
    response = raw_api.release(app, slug["id"])
    assert response.status_code == 201, response.text
    return response.json()


def test_apps_create_list_info_rename_destroy(heroku, raw_api):
    created = heroku.ok("apps:create", "staging", "--region", "eu", "--stack", "heroku-22").shown
    assert "Creating staging... done, region is eu" in created
    generated = re.search(r"Creating app\.\.\. done, ([a-z][a-z0-9-]+)", heroku.ok("apps:create").shown)
    assert generated and raw_api("GET", f"/apps/{generated[1]}").json()["region"]["name"] == "us"
    assert "Couldn't find that region." in heroku.fails("apps:create", "lost", "--region", "mars")
    listed = heroku.ok("apps").out
    assert "owner@slugbuild.localhost Apps" in listed and "staging (eu)" in listed
    assert heroku.ok("apps", "--all").out.splitlines() == listed.splitlines()
    info = json.loads(heroku.ok("apps:info", "-a", "staging", "--json").out)
    assert info["app"]["region"]["name"] == "eu" and info["app"]["stack"]["name"] == "heroku-22"
    assert info["addons"] == [] and info["dynos"] == []
    assert "Stack:" in heroku.ok("apps:info", "-a", "staging").shown
    renamed = heroku.ok("apps:rename", "production", "-a", "staging").shown
    assert "https://production.herokuapp.com/" in renamed
    assert raw_api("GET", "/apps/staging").status_code == 404
    assert raw_api("GET", "/apps/production").json()["region"]["name"] == "eu"
    heroku.ok("apps:destroy", "production", "--confirm", "production")
    assert raw_api("GET", "/apps/production").status_code == 404


def test_maintenance_on_and_off(heroku, raw_api):
    raw_api.create_app("web-shop")
    assert heroku.ok("maintenance", "-a", "web-shop").out.strip() == "off"
    heroku.ok("maintenance:on", "-a", "web-shop")
    assert heroku.ok("maintenance", "-a", "web-shop").out.strip() == "on"
    assert raw_api("GET", "/apps/web-shop").json()["maintenance"] is True
    heroku.ok("maintenance:off", "-a", "web-shop")
    assert heroku.ok("maintenance", "-a", "web-shop").out.strip() == "off"


def test_config_releases_and_rollback(heroku, raw_api):
    raw_api.create_app("shop")
    assert "done, v1" in heroku.ok("config:set", "GREETING=hello", "COLOUR=blue", "-a", "shop").shown
    refused = heroku.fails("rollback", "v1", "-a", "shop")
    assert "Release v1 is not eligible for rollback" in refused
    first = _released(raw_api, "shop", {"web": "./web"})
    assert heroku.ok("config:get", "GREETING", "-a", "shop").out.strip() == "hello"
    assert "done, v3" in heroku.ok("config:unset", "COLOUR", "-a", "shop").shown
    assert "COLOUR" not in heroku.ok("config", "-a", "shop").shown
    releases = heroku.ok("releases", "-a", "shop").shown
    assert "Current: v3" in releases and "Deploy" in releases
    assert "Eligible for Rollback?: Yes" in heroku.ok("releases:info", "v2", "-a", "shop").shown
    assert "done, v4" in heroku.ok("rollback", "-a", "shop").shown  # the release before the current one
    assert raw_api("GET", "/apps/shop/config-vars").json() == {"COLOUR": "blue", "GREETING": "hello"}
    assert raw_api("GET", "/apps/shop/releases/4").json()["slug"]["id"] == first["slug"]["id"]
    assert "done, v5" in heroku.ok("rollback", "v3", "-a", "shop").shown
    assert raw_api("GET", "/apps/shop/config-vars").json() == {"GREETING": "hello"}


def test_ps_and_scale_follow_the_release(heroku, raw_api):
    raw_api.create_app("worker-app")
    assert "No process types on worker-app" in heroku.fails("ps:scale", "-a", "worker-app")
    _released(raw_api, "worker-app", {"web": "./web", "worker": "./work"})
    assert "No dynos on worker-app" in heroku.ok("ps", "-a", "worker-app").shown
    assert heroku.ok("ps:scale", "-a", "worker-app").out.split() == ["web=1:Standard-1X",
                                                                      "worker=0:Standard-1X"]
    scaled = heroku.ok("ps:scale", "web=1", "worker=2", "-a", "worker-app").shown
    assert "web at 1:Standard-1X, worker at 2:Standard-1X" in scaled
    unknown = heroku.fails("ps:scale", "clock=1", "-a", "worker-app")
    assert "Couldn't find that process type (clock)." in unknown
    assert heroku.ok("ps:scale", "-a", "worker-app").out.split() == ["web=1:Standard-1X",
                                                                      "worker=2:Standard-1X"]


def test_whoami_regions_and_stack(heroku, raw_api):
    raw_api.create_app("stacked", stack="heroku-22")
    assert heroku.ok("auth:whoami").out.strip() == "owner@slugbuild.localhost"
    regions = heroku.ok("regions").out
    assert "eu   Europe" in regions and "us   United States" in regions
    stacks = heroku.ok("stack", "-a", "stacked").out.splitlines()
    assert "* heroku-22" in stacks and "  heroku-24" in stacks


def test_the_guard_notices_a_request_off_loopback(heroku):
    heroku("auth:whoami", HEROKU_PARTICLEBOARD_URL="")  # the CLI's default: https://particleboard.heroku.com
    assert "particleboard.heroku.com" in heroku.off_loopback.read_text()
