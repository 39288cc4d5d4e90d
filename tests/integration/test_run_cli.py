"""`slugbuild run` and classic buildpacks through the CLI, as a user runs them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from processes import is_gone

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

GREETER = FIXTURES / "classic-greeter"
READER = FIXTURES / "classic-export-reader"


@pytest.fixture
def greeter_slug(run_cli, tmp_path: Path) -> Path:
    """classic-app built with classic-greeter then classic-export-reader, GREETING_STYLE=loud."""
    result = run_cli("build", FIXTURES / "classic-app", "-b", GREETER, "-b", READER,
                     "--env", "GREETING_STYLE=loud", "-o", tmp_path / "greeter.tgz")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "greeter.tgz"


def test_a_classic_buildpack_builds_and_its_output_is_indented(run_cli, tmp_path: Path):
    result = run_cli("build", FIXTURES / "classic-app", "--buildpack", GREETER, "-o", tmp_path / "s.tgz")
    assert result.exit_code == 0, result.stderr
    assert "-----> Greeter app detected" in result.stdout
    assert "       build number 1 according to the cache" in result.stdout
    again = run_cli("build", FIXTURES / "classic-app", "--buildpack", GREETER, "-o", tmp_path / "s.tgz")
    assert "       build number 2 according to the cache" in again.stdout
    assert not (GREETER / "export").exists()


def test_run_check_boots_web_and_prints_its_answer(run_cli, greeter_slug: Path):
    result = run_cli("run", greeter_slug, "--check")
    assert result.exit_code == 0, result.stderr
    assert "web answered HTTP 200: Hello from a classic buildpack (loud)" in result.stdout


def test_run_a_process_type_that_uses_a_later_buildpacks_output(run_cli, greeter_slug: Path):
    result = run_cli("run", greeter_slug, "worker")
    assert result.exit_code == 0, result.stderr
    assert "greeter-tool says hi in style loud" in result.stdout


def test_run_a_command_with_config_vars_and_its_exit_status(run_cli, greeter_slug: Path, tmp_path: Path):
    env_file = tmp_path / "app.env"
    env_file.write_text("FROM_FILE=filed\nGREETER_MOOD=grumpy\n")
    result = run_cli("run", greeter_slug, "--env", "FLAG=flagged", "--env-file", env_file, "--port", "6123",
                     "--", "echo $FLAG $FROM_FILE $GREETER_MOOD $GREETER_READY $DYNO $PORT; exit 7")
    assert result.exit_code == 7, result.stderr
    assert "flagged filed grumpy yes run.1 6123" in result.stdout


def test_a_command_keeps_its_argument_boundaries_and_its_exit_status(run_cli, greeter_slug: Path):
    printed = run_cli("run", greeter_slug, "--", "printf", "%s|", "console.log(1)", "two words", 'a "q"',
                      "$DYNO")
    assert printed.exit_code == 0
    assert printed.stdout.splitlines()[-1] == 'console.log(1)|two words|a "q"|run.1|'
    assert run_cli("run", greeter_slug, "--", "sh", "-c", "exit 7").exit_code == 7


def test_release_config_vars_are_defaults(run_cli, greeter_slug: Path):
    result = run_cli("run", greeter_slug, "--", "echo", "mood=$GREETER_MOOD")
    assert "mood=cheerful" in result.stdout


def test_an_unknown_process_type_is_one_line(run_cli, greeter_slug: Path):
    result = run_cli("run", greeter_slug, "clock")
    assert result.exit_code == 2
    assert result.last_error_line.endswith(
        f"process type 'clock' is not in {greeter_slug}.json (it has: web, worker); pick one of those or "
        "give -- COMMAND")


def test_run_passes_sigterm_on_and_cleans_up(greeter_slug: Path, tmp_path: Path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    command = "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    proc = subprocess.Popen([sys.executable, "-m", "slugbuild", "run", greeter_slug, "--", command],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmpdir)})
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]  # never read to EOF: an orphaned dyno would hold the pipe for ever
    assert proc.returncode == 0
    assert "got TERM" in rest
    assert list(tmpdir.iterdir()) == []


def test_check_fails_with_the_output_of_a_web_process_that_crashes(run_cli, tmp_path: Path):
    assert run_cli("build", FIXTURES / "classic-app-web-crashes", "-b", GREETER,
                   "-o", tmp_path / "crash.tgz").exit_code == 0
    result = run_cli("run", tmp_path / "crash.tgz", "--check")
    assert result.exit_code == 1
    assert "exited with status 1 before answering HTTP on port" in result.last_error_line
    assert result.last_error_line.endswith("its last output is above")
    assert "       Error: Cannot find module 'express'" in result.stdout.splitlines()  # a line of its own
    assert "Traceback" not in result.stderr


def test_check_shows_a_crashing_stack_as_lines_and_ends_with_one(run_cli, tmp_path: Path):
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "classic-app-web-crashes", app)
    (app / "Procfile").write_text("web: printf 'Error: boom\\n    at main (web.js:3)\\n"
                                  "    at run (node:1)\\n' >&2; exit 1\n")
    assert run_cli("build", app, "-b", GREETER, "-o", tmp_path / "crash.tgz").exit_code == 0
    result = run_cli("run", tmp_path / "crash.tgz", "--check", "--quiet")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [line.strip() for line in lines[-4:-1]] == ["Error: boom", "at main (web.js:3)", "at run (node:1)"]
    assert lines[-1].endswith("its last output is above")


def test_check_stops_a_web_process_that_never_binds_with_its_children(run_cli, tmp_path: Path):
    assert run_cli("build", FIXTURES / "classic-app-never-binds", "-b", GREETER,
                   "-o", tmp_path / "deaf.tgz").exit_code == 0
    pidfile = tmp_path / "child.pid"
    result = run_cli("run", tmp_path / "deaf.tgz", "--check", "--timeout", "2", "--port", "6124",
                     "--env", f"PIDFILE={pidfile}")
    assert result.exit_code == 1
    assert result.last_error_line.endswith(
        "the process never bound port 6124 within 2 s; make it listen on $PORT")
    assert is_gone(int(pidfile.read_text()))


def test_build_check_refuses_to_release_a_slug_that_does_not_boot(run_cli, tmp_path: Path, api_server):
    env = {"SLUGBUILD_API_URL": api_server.url, "HEROKU_API_KEY": api_server.key}
    assert run_cli("apps", "create", "crashy", env=env).exit_code == 0
    result = run_cli("build", FIXTURES / "classic-app-web-crashes", "-b", GREETER, "--app", "crashy",
                     "--check", "-o", tmp_path / "crash.tgz", env=env)
    assert result.exit_code == 1
    assert result.last_error_line.endswith("its last output is above")
    assert "       Error: Cannot find module 'express'" in result.stdout.splitlines()
    assert "[]" in run_cli("releases", "--app", "crashy", "--json", env=env).stdout
    assert not {"crash.tgz", "crash.tgz.json", "crash.tgz.cdx.json", "crash.tgz.intoto.json"} & {
        p.name for p in tmp_path.iterdir()}


def test_build_check_then_release_then_run_the_apps_current_slug(run_cli, tmp_path: Path, api_server):
    env = {"SLUGBUILD_API_URL": api_server.url, "HEROKU_API_KEY": api_server.key}
    assert run_cli("apps", "create", "greeter", env=env).exit_code == 0
    assert run_cli("config", "set", "--app", "greeter", "GREETER_MOOD=sunny", env=env).exit_code == 0
    built = run_cli("build", FIXTURES / "classic-app", "-b", GREETER, "--app", "greeter", "--check",
                    "-o", tmp_path / "g.tgz", env=env)
    assert built.exit_code == 0, built.stderr
    assert "web answered HTTP 200: Hello from a classic buildpack (plain)" in built.stdout
    checked = run_cli("run", "--app", "greeter", "--check", env=env)
    assert checked.exit_code == 0, checked.stderr
    assert "web answered HTTP 200: Hello from a classic buildpack (plain)" in checked.stdout
    mood = run_cli("run", "--app", "greeter", "--", "echo", "mood=$GREETER_MOOD", env=env)
    assert "mood=sunny" in mood.stdout


@pytest.mark.parametrize(("buildpack", "message"), [
    ("classic-greeter", "App not compatible with buildpack: {bp} (no greeting.txt in the app)"),
    ("classic-no-compile", "buildpack {bp} has no bin/compile; a classic buildpack needs bin/detect and "
                           "bin/compile"),
    ("classic-compile-fails", "buildpack {bp}: bin/compile failed with exit status 3; its last output: "
                              "resolving dependencies | fetching widget 1.2 | widget 1.2 needs a compiler "
                              "this stack lacks"),
])
def test_classic_buildpack_failures_end_as_one_line(run_cli, tmp_path: Path, buildpack: str, message: str):
    app = tmp_path / "empty-app"
    app.mkdir()
    (app / "README").write_text("no greeting here\n")
    bp = FIXTURES / buildpack
    result = run_cli("build", app, "--buildpack", bp, "-o", tmp_path / "s.tgz")
    assert result.exit_code == 1
    assert result.last_error_line.endswith(message.format(bp=bp))
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s.tgz").exists()


def test_unreadable_release_yaml_is_one_line(run_cli, tmp_path: Path):
    bp = FIXTURES / "classic-bad-release-yaml"
    result = run_cli("build", FIXTURES / "classic-app", "--buildpack", bp, "-o", tmp_path / "s.tgz")
    assert result.exit_code == 1
    assert f"buildpack {bp}: bin/release printed unreadable YAML (" in result.last_error_line
    assert result.last_error_line.endswith("it must print a mapping with default_process_types")


def git(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *map(str, args)],
                   cwd=cwd, check=True, capture_output=True)


def test_a_classic_buildpack_by_git_url_with_a_ref(run_cli, tmp_path: Path):
    repo = tmp_path / "greeter.git"
    shutil.copytree(GREETER, repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-qm", "greeter", cwd=repo)
    result = run_cli("build", FIXTURES / "classic-app", "-b", f"file://{repo}#main", "-o", tmp_path / "s.tgz")
    assert result.exit_code == 0, result.stderr
    assert f"-----> Cloning buildpack file://{repo} at main" in result.stdout
    assert "-----> Greeter app detected" in result.stdout
    assert run_cli("run", tmp_path / "s.tgz", "--check").exit_code == 0


def test_a_changed_git_buildpack_clone_is_cloned_again_or_offline_named_in_one_line(run_cli, tmp_path: Path):
    repo = tmp_path / "greeter.git"
    shutil.copytree(GREETER, repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-qm", "greeter", cwd=repo)
    build = ("build", FIXTURES / "classic-app", "-b", f"file://{repo}", "-o", tmp_path / "s.tgz")
    assert run_cli(*build).exit_code == 0
    [compile_script] = (tmp_path / "cache" / "buildpacks" / "git").glob("*/dir/bin/compile")
    st = compile_script.stat()
    compile_script.write_bytes(b"#!/bin/sh\nexit 0\n".ljust(st.st_size, b"#"))
    os.utime(compile_script, ns=(st.st_atime_ns, st.st_mtime_ns))
    offline = run_cli(*build, "--offline")
    assert offline.exit_code == 1 and "Traceback" not in offline.stderr
    assert offline.last_error_line.endswith(
        f"--offline: the cached clone of buildpack file://{repo} was changed after it was cloned "
        "(bin/compile) and has been discarded; run the build once online to clone it again")
    online = run_cli(*build)
    assert online.exit_code == 0, online.stderr
    assert f"-----> Cloning buildpack file://{repo}" in online.stdout
    with tarfile.open(tmp_path / "s.tgz") as slug:  # the real bin/compile ran
        page = slug.extractfile("./app/public/index.html")
        assert page is not None and page.read() == b"Hello from a classic buildpack (plain)\n"


def test_a_classic_buildpack_by_tgz_url(run_cli, tmp_path: Path, httpserver):
    archive = shutil.make_archive(str(tmp_path / "greeter"), "gztar", GREETER)
    httpserver.expect_request("/greeter.tgz").respond_with_data(Path(archive).read_bytes())
    url = httpserver.url_for("/greeter.tgz")
    result = run_cli("build", FIXTURES / "classic-app", "-b", url, "-b", READER, "-o", tmp_path / "s.tgz")
    assert result.exit_code == 0, result.stderr
    assert "-----> Export Reader app detected" in result.stdout
    assert "greeter-tool says hi in style plain" in run_cli("run", tmp_path / "s.tgz", "worker").stdout


def test_check_on_a_slug_without_web_says_so(run_cli, tmp_path: Path):
    built = run_cli("build", FIXTURES / "classic-app", "-b", GREETER, "-b", READER, "-o", tmp_path / "s.tgz")
    assert built.exit_code == 0, built.stderr
    metadata = tmp_path / "s.tgz.json"
    metadata.write_text(metadata.read_text().replace('"web"', '"www"'))
    result = run_cli("run", tmp_path / "s.tgz", "--check")
    assert result.exit_code == 2
    assert result.last_error_line.endswith(
        f"--check boots the web process, but {tmp_path / 's.tgz'} has none (it has: worker, www); declare "
        "web in the Procfile")


def test_sigterm_during_check_stops_the_web_process_and_cleans_up(run_cli, tmp_path: Path):
    assert run_cli("build", FIXTURES / "classic-app-never-binds", "-b", GREETER,
                   "-o", tmp_path / "deaf.tgz").exit_code == 0
    tmpdir, pidfile = tmp_path / "tmp", tmp_path / "child.pid"
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "slugbuild", "run", tmp_path / "deaf.tgz", "--check",
                             "--timeout", "120", "--env", f"PIDFILE={pidfile}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pidfile.exists(), "the web process never started"
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-1].endswith("terminated")
    assert is_gone(int(pidfile.read_text()))
    assert list(tmpdir.iterdir()) == []
