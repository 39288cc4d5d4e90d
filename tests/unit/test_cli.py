"""`slugbuild build` as a user runs it, with a fake buildpack installed as a third-party plugin."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PLUGIN = '''
import os
from slugbuild.buildpack import Detection, ReleaseInfo
from slugbuild.fetch import extract

class FakeBuildpack:
    name = "fake"

    def detect(self, app_dir):
        return Detection("Fake") if (app_dir / "fake.txt").exists() else None

    def compile(self, ctx):
        ctx.run(["sh", "-c", "echo compiling for $STACK; test ! -e fail || { echo broken >&2; exit 4; }"])
        (ctx.app_dir / "bin").mkdir(exist_ok=True)
        (ctx.app_dir / "bin" / "web").write_text("#!/bin/sh\\necho hello\\n")
        os.chmod(ctx.app_dir / "bin" / "web", 0o755)
        if "SLUGBUILD_FAKE_RUNTIME" in ctx.env:
            url, sha256 = ctx.env["SLUGBUILD_FAKE_RUNTIME"].split("#")
            extract(ctx.fetcher.fetch(url, sha256).path, ctx.app_dir / ".fake")

    def release(self, ctx):
        return ReleaseInfo({"web": "bin/web"})
'''


def error_line(result) -> str:
    """The last stderr line without Heroku's ` !     ` prefix."""
    return result.last_error_line.strip().removeprefix("!").strip()


@pytest.fixture
def plugin_env(tmp_path) -> dict[str, str]:
    """A third-party buildpack registered through the entry-point group, as `pip install` would."""
    site = tmp_path / "site"
    dist_info = site / "fakebp-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (site / "fakebp.py").write_text(PLUGIN)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebp\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[slugbuild.buildpacks]\nfake = fakebp:FakeBuildpack\n")
    return {"PYTHONPATH": str(site)}


@pytest.fixture
def app(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "fake.txt").write_text("hello\n")
    (src / "Procfile").write_text("worker: bin/worker\n")
    return src


def test_build_prints_types_size_checksum_and_writes_the_report(run_cli, plugin_env, app, tmp_path):
    result = run_cli("build", app, "--buildpack", "fake", env=plugin_env)
    assert result.exit_code == 0, result.stderr
    assert "-----> Fake app detected" in result.stdout
    assert "       compiling for heroku-24" in result.stdout
    assert "       Procfile declares types -> worker" in result.stdout
    report = json.loads((tmp_path / "slug.tgz.json").read_text())
    assert report["process_types"] == {"web": "bin/web", "worker": "bin/worker"}
    assert f"       Checksum: {report['checksum']}" in result.stdout
    assert f"       Path: {tmp_path / 'slug.tgz'}" in result.stdout
    assert report["size"] == (tmp_path / "slug.tgz").stat().st_size


def test_json_puts_only_the_report_on_stdout(run_cli, plugin_env, app, tmp_path):
    result = run_cli(app, "-o", "out/my.tgz", "--json", "--commit", "abc123", env=plugin_env)
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads((tmp_path / "out" / "my.tgz.json").read_text())
    assert printed["commit"] == "abc123" and printed["checksum"].startswith("SHA256:")
    assert "-----> Fake app detected" in result.stderr


def test_two_builds_in_different_places_and_times_give_the_same_sha256(run_cli, plugin_env, app, tmp_path):
    first = run_cli(app, "-o", "a.tgz", "--json", env=plugin_env)
    copy = tmp_path / "elsewhere" / "src"
    shutil.copytree(app, copy)
    later = time.time() + 3600
    for path in copy.rglob("*"):
        os.utime(path, (later, later))
    second = run_cli(copy, "-o", "b.tgz", "--json", env=plugin_env)
    assert json.loads(first.stdout)["checksum"] == json.loads(second.stdout)["checksum"]
    assert (tmp_path / "a.tgz").read_bytes() == (tmp_path / "b.tgz").read_bytes()


def test_a_bad_procfile_ends_as_one_line_without_traceback(run_cli, plugin_env, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "procfile-bad-type", src)
    (src / "fake.txt").write_text("")
    result = run_cli("build", src, "--buildpack", "fake", env=plugin_env)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert error_line(result) == ("Procfile:3: process type 'we b' may use only letters, digits, "
                                      "- and _ (at most 128 characters); rename it")
    assert not (tmp_path / "slug.tgz").exists()


def test_a_slug_above_max_size_is_refused_and_nothing_is_written(run_cli, plugin_env, app, tmp_path):
    result = run_cli("build", app, "--max-size", "100", env=plugin_env)
    assert result.exit_code == 1
    assert error_line(result).startswith("Compiled slug size: ")
    assert error_line(result).endswith("is too large (max is 100B); leave files out with .slugignore "
                                           "or raise --max-size")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "site", "src"]


def test_in_quiet_mode_a_failing_command_replays_its_output(run_cli, plugin_env, app):
    (app / "fail").write_text("")
    result = run_cli("build", app, "--quiet", env=plugin_env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "       broken" in result.stderr and "       compiling for heroku-24" in result.stderr
    assert error_line(result).endswith("failed with exit status 4")
    assert "Traceback" not in result.stderr


def test_no_buildpack_detects_names_the_fix(run_cli, plugin_env, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("build", empty, env=plugin_env)
    assert result.exit_code == 1
    assert error_line(result).startswith("no buildpack detected this app (tried ")
    assert error_line(result).endswith("fake); pick one with --buildpack NAME")


NO_KEY = {"HEROKU_API_KEY": "", "NETRC": "/nonexistent/netrc", "HOME": "/nonexistent"}


@pytest.mark.parametrize(("args", "env", "status", "message"), [
    (["build", "missing-dir"], {}, 2, "source directory missing-dir does not exist; give the app's "),
    (["build", ".", "--max-size", "lots"], {}, 2, "--max-size 'lots' is not a size"),
    (["build", ".", "--env", "1BAD=x"], {}, 2, "--env '1BAD=x' is not KEY=VALUE"),
    (["build", ".", "--buildpack", "nosuch"], {}, 2, "unknown buildpack 'nosuch': use one of "),
    (["run", "missing.tgz"], {}, 2, "slug missing.tgz does not exist; build one with `slugbuild build SRC`"),
    (["run", "."], {}, 2, "slug . is a directory, not a slug file; build one with `slugbuild build SRC`"),
    (["release", "missing.tgz", "--app", "a", "--api-key", "k"], {}, 2, "slug missing.tgz does not exist; "),
    (["release", "missing.tgz", "--app", "a"], NO_KEY, 2, "slug missing.tgz does not exist; "),
    (["apps", "create", "a", "--api-url", "ftp://x", "--api-key", "k"], {}, 2,
     "--api-url 'ftp://x' is not an http(s) URL; give one like https://api.heroku.com"),
    (["apps", "create", "a", "--api-url", "http://127.0.0.1:9"], NO_KEY, 1, "no API key for 127.0.0.1: "),
    (["serve", "--port", "99999"], {}, 2, "--port 99999 is not a TCP port; give one from 1 to 65535"),
    (["run", "missing.tgz", "--port", "-1"], {}, 2, "--port -1 is not a TCP port; give one from 1 to 65535"),
])
def test_bad_input_ends_as_one_line(run_cli, args, env, status, message):
    result = run_cli(*args, env=env)
    assert result.exit_code == status
    assert error_line(result).startswith(message)
    assert "Traceback" not in result.stderr


def test_serving_on_a_port_in_use_is_one_line_and_writes_no_state(run_cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", port, "--data-dir", tmp_path / "state")
    assert result.exit_code == 2
    assert error_line(result) == (f"port {port} on 127.0.0.1 is in use; stop the other server or pass "
                                  "--port with a free port")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_serving_from_a_data_dir_that_cannot_be_made_is_one_line(run_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("serve", "--port", "0", "--data-dir", blocker / "state")
    assert result.exit_code == 2
    assert error_line(result) == (f"data directory {blocker / 'state'}: Not a directory; pass --data-dir "
                                  "with a writable directory")
    assert "Traceback" not in result.stderr


def test_two_builds_sharing_one_cache_at_the_same_time_both_succeed(plugin_env, app, tmp_path):
    runtime = tmp_path / "mirror" / "fake-runtime.tgz"
    runtime.parent.mkdir()
    with tarfile.open(runtime, "w:gz") as tar:
        payload = os.urandom(1 << 20)
        info = tarfile.TarInfo("bin/fake")
        info.size, info.mode = len(payload), 0o755
        tar.addfile(info, io.BytesIO(payload))
    sha256 = hashlib.sha256(runtime.read_bytes()).hexdigest()
    env = {**os.environ, **plugin_env, "SLUGBUILD_CACHE_DIR": str(tmp_path / "shared-cache"),
           "SLUGBUILD_FAKE_RUNTIME": f"{runtime.as_uri()}#{sha256}"}
    builds = [subprocess.Popen([sys.executable, "-m", "slugbuild", str(app), "-o", f"{name}.tgz", "--json"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
              for name in ("one", "two")]
    results = [(b.returncode, out, err) for b in builds for out, err in [b.communicate(timeout=120)]]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    checksums = {json.loads(out)["checksum"] for _, out, _ in results}
    assert len(checksums) == 1
    with tarfile.open(tmp_path / "one.tgz") as tar:
        assert tar.getmember("./app/.fake/bin/fake").size == 1 << 20


def test_a_mistyped_command_is_named_with_the_one_meant(run_cli, tmp_path):
    result = run_cli("relases", "--app", "x")
    assert result.exit_code == 2
    assert error_line(result) == "'relases' is neither a command nor a directory; did you mean " \
                                 "`slugbuild releases`?"
    assert "did you mean" not in run_cli("./relases").stderr  # a path, surely
    (tmp_path / "relases").mkdir()  # a directory of that name is a source to build, as ever
    assert "did you mean" not in run_cli("relases", "-o", tmp_path / "s.tgz").stderr


def test_with_json_a_failure_is_a_json_object_on_stdout(run_cli, tmp_path):
    result = run_cli("build", tmp_path / "missing", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": f"source directory {tmp_path / 'missing'} does not exist; give the app's directory",
        "exit_code": 2}
    unparsed = run_cli("releases", "--json")
    assert unparsed.exit_code == 2
    assert json.loads(unparsed.stdout) == {
        "error": "slugbuild releases: the following arguments are required: --app/-a", "exit_code": 2}
    assert unparsed.stderr.startswith("usage: slugbuild releases")


def test_config_set_states_the_rule_it_enforces_before_asking_for_a_key(run_cli):
    result = run_cli("config", "set", "--app", "a", "1BAD=x", env=NO_KEY)
    assert result.exit_code == 2
    assert error_line(result) == ("config set '1BAD=x' is not KEY=VALUE with a KEY of ASCII letters, digits "
                                  "and _ that does not start with a digit (a shell could not export it)")


def _help(run_cli, *command: str) -> str:
    result = run_cli(*command, "--help")
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.split())


def test_help_explains_every_flag_a_newcomer_meets(run_cli):
    assert "--to APP [--to APP ...]" in _help(run_cli, "promote")
    assert "repeat --to for several" in _help(run_cli, "promote")
    config = _help(run_cli, "config")
    assert config.startswith("usage: slugbuild config --app NAME [--json]")
    assert config.count("--app NAME") == 1 and "[--app" not in config
    serve = _help(run_cli, "serve")
    assert "--host HOST address to listen on" in serve and "--port PORT port to listen on" in serve
    assert "--app APP, -a APP the app to release the slug on" in _help(run_cli, "release")


def test_a_bad_procfile_fails_before_the_compile(run_cli, plugin_env, app):
    (app / "Procfile").write_text("web: ok\nwe b: bad\n")
    result = run_cli("build", app, "--buildpack", "fake", env=plugin_env)
    assert result.exit_code == 1
    assert error_line(result).startswith("Procfile:2: process type 'we b' may use only letters")
    assert "compiling for" not in result.stdout
