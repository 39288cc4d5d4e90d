"""State that lasts: restarts, concurrent releases, the key file, and `slugbuild serve` as a user runs it."""

from __future__ import annotations

import ast
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import services

import slugbuild.platform.server

ACCEPT = "application/vnd.heroku+json; version=3"
FACTORY = "slugbuild.platform.server:from_environment"


def _headers(key: str) -> dict[str, str]:
    return {"Accept": ACCEPT, "Authorization": f"Bearer {key}"}


def test_a_restart_loses_nothing(start_api_server, make_raw_api, tmp_path):
    first = start_api_server(data_dir=tmp_path / "state")
    api = make_raw_api(first)
    api.create_app("durable")
    api("PATCH", "/apps/durable/config-vars", json={"FOO": "bar"})
    slug = api.uploaded_slug("durable", b"slug that survives")
    api.release("durable", slug["id"])
    blob_url = api("GET", f"/apps/durable/slugs/{slug['id']}").json()["blob"]["url"]
    before = api("GET", "/apps/durable/releases").json()
    first.stop()

    second = start_api_server(data_dir=tmp_path / "state")
    api = make_raw_api(second)
    assert [a["name"] for a in api("GET", "/apps").json()] == ["durable"]
    assert api("GET", "/apps/durable/config-vars").json() == {"FOO": "bar"}
    assert api("GET", "/apps/durable/releases").json() == before
    # A URL signed before the restart still works: the signing secret is kept in the data dir.
    old_port_url = blob_url.replace(first.url, second.url)
    assert requests.get(old_port_url, timeout=30).content == b"slug that survives"
    assert api.release("durable", slug["id"]).json()["version"] == 3


def _at_once(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_clients_releasing_at_once_get_versions_without_gaps(raw_api, api_server):
    raw_api.create_app("busy")
    slug = raw_api.uploaded_slug("busy")
    headers = _headers(api_server.key)

    def work(index: int) -> int:
        url = f"{api_server.url}/apps/busy"
        with requests.Session() as session:  # one client each, each on its own connection
            if index % 4 == 0:
                return session.patch(f"{url}/config-vars", json={f"K{index}": "v"}, headers=headers,
                                     timeout=60).status_code
            return session.post(f"{url}/releases", json={"slug": slug["id"]}, headers=headers,
                                timeout=60).status_code

    statuses = _at_once(20, work)
    assert sorted(statuses) == [200] * 5 + [201] * 15
    releases = raw_api("GET", "/apps/busy/releases", headers={"Range": "version .."}).json()
    assert [r["version"] for r in releases] == list(range(1, 21))
    assert [r["version"] for r in releases if r["current"]] == [20]
    assert len(raw_api("GET", "/apps/busy/config-vars").json()) == 5


def _start_serve(data_dir, *args: str,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, list[str]]:
    """Run `slugbuild serve` and read its banner up to the Ctrl-C line."""
    full_env = {k: v for k, v in os.environ.items() if k != "SLUGBUILD_SERVE_KEY"} | (env or {})
    proc = subprocess.Popen([sys.executable, "-m", "slugbuild", "serve", "--port", "0", "--data-dir",
                             str(data_dir), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env)
    banner: list[str] = []
    while not banner or "Ctrl-C" not in banner[-1]:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
    return proc, banner


def _stop(proc: subprocess.Popen, signum: int = signal.SIGINT) -> tuple[int, str, str]:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)  # a bound for a hang, generous on a loaded machine
    return proc.returncode, out, err


def _url_from(banner: list[str]) -> str:
    line = next(line for line in banner if "export SLUGBUILD_API_URL=" in line)
    return line.split("=", 1)[1].strip()


def test_serve_prints_how_to_connect_never_the_key_and_keeps_it_0600(tmp_path):
    data_dir = tmp_path / "data"
    proc, banner = _start_serve(data_dir)
    key_file = data_dir / "api-key"
    key = key_file.read_text().strip()
    url = _url_from(banner)
    answer = requests.get(f"{url}/apps", headers=_headers(key), timeout=30)
    code, out, err = _stop(proc)
    assert answer.status_code == 200
    assert code == 0, err
    assert f'export HEROKU_API_KEY="$(cat {key_file})"' in "\n".join(banner)
    assert key not in "\n".join(banner) + out + err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    proc, _ = _start_serve(data_dir)  # a restart keeps the same key
    _stop(proc)
    assert key_file.read_text().strip() == key


def test_serve_takes_the_key_from_the_environment_and_never_prints_it(tmp_path):
    key = "key-from-the-environment-123"
    proc, banner = _start_serve(tmp_path / "data", env={"SLUGBUILD_SERVE_KEY": key})
    url = _url_from(banner)
    good = requests.get(f"{url}/apps", headers=_headers(key), timeout=30)
    code, out, err = _stop(proc)
    assert good.status_code == 200 and code == 0
    assert key not in "\n".join(banner) + out + err
    assert not (tmp_path / "data" / "api-key").exists()


def test_serve_on_a_port_in_use_ends_with_one_line(run_cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--data-dir", tmp_path / "data", "--key", "k")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        f"port {port} on 127.0.0.1 is in use; stop the other server or pass --port with a free port")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_ctrl_c_or_sigterm(tmp_path, signum):
    proc, banner = _start_serve(tmp_path / "data", "--key", "k")
    assert requests.get(f"{_url_from(banner)}/apps", headers=_headers("k"), timeout=30).status_code == 200
    code, out, err = _stop(proc, signum)
    assert code == 0 and "Traceback" not in err
    assert out.splitlines()[-1] == "-----> Stopped"


def test_the_server_never_imports_the_client():
    package = Path(slugbuild.platform.server.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        platform = {m for m in modules if m and m.startswith("slugbuild.platform")}
        assert all(m.startswith("slugbuild.platform.server") for m in platform), (path, platform)


def test_serve_reads_the_key_from_key_file_and_help_warns_that_key_shows_in_ps(run_cli, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("key-from-a-file-456\n")
    proc, banner = _start_serve(tmp_path / "data", "--key-file", str(key_file))
    url = _url_from(banner)
    good = requests.get(f"{url}/apps", headers=_headers("key-from-a-file-456"), timeout=30)
    code, out, err = _stop(proc)
    assert good.status_code == 200 and code == 0
    assert f'export HEROKU_API_KEY="$(cat {key_file})"' in "\n".join(banner)
    assert "key-from-a-file-456" not in "\n".join(banner) + out + err
    help_text = " ".join(run_cli("serve", "--help").stdout.split())
    assert "--key-file" in help_text and "other users can read it in `ps`" in help_text


def test_a_missing_key_file_is_one_line(run_cli, tmp_path):
    result = run_cli("serve", "--port", "0", "--data-dir", tmp_path / "data", "--key-file", tmp_path / "nope")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        f"--key-file {tmp_path / 'nope'}: No such file or directory; give a readable file holding the key")


def test_a_state_from_a_newer_slugbuild_stops_serve_in_one_line(run_cli, tmp_path):
    import sqlite3

    proc, _ = _start_serve(tmp_path / "data", "--key", "k")
    _stop(proc)
    with sqlite3.connect(tmp_path / "data" / "api.sqlite3") as db:
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')")
    result = run_cli("serve", "--port", "0", "--data-dir", tmp_path / "data", "--key", "k")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "schema version 999, from a newer slugbuild" in result.last_error_line
    assert result.last_error_line.endswith("upgrade slugbuild, or point --data-dir elsewhere")


def test_serve_with_two_workers_answers_and_stops_cleanly(tmp_path):
    proc, banner = _start_serve(tmp_path / "data", "--key", "k", "--workers", "2")
    url = _url_from(banner)
    made = requests.post(f"{url}/apps", json={"name": "twoworkers"}, headers=_headers("k"), timeout=30)
    listed = [requests.get(f"{url}/apps", headers=_headers("k"), timeout=30).json() for _ in range(6)]
    code, out, err = _stop(proc, signal.SIGTERM)
    assert made.status_code == 201
    assert all([app["name"] for app in apps] == ["twoworkers"] for apps in listed)
    assert code == 0 and "Traceback" not in err and out.splitlines()[-1] == "-----> Stopped"


def test_the_same_app_runs_under_uvicorn_directly_as_the_readme_shows(tmp_path):
    port = services.free_port()
    env = {**os.environ, "SLUGBUILD_SERVE_DATA_DIR": str(tmp_path / "data"), "SLUGBUILD_SERVE_KEY": "k"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", FACTORY, "--port", str(port),
                             "--workers", "2"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "Application startup complete" in line or "Started parent process" in line:
                break
        answers = [_wait_for(f"http://127.0.0.1:{port}/apps", _headers("k")) for _ in range(3)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert answers == [200, 200, 200]


def test_a_bad_setting_under_uvicorn_is_one_line_too(tmp_path):
    env = {**os.environ, "SLUGBUILD_SERVE_DATA_DIR": str(tmp_path / "data"), "SLUGBUILD_BLOB_STORE": "ftp://x"}
    proc = subprocess.run([sys.executable, "-m", "uvicorn", "--factory", FACTORY, "--port",
                           str(services.free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "slugbuild: --blob-store (or SLUGBUILD_BLOB_STORE) 'ftp://x' is not s3://BUCKET[/PREFIX]")


def _wait_for(url: str, headers: dict[str, str]) -> int:
    for _ in range(100):
        try:
            return requests.get(url, headers=headers, timeout=5).status_code
        except requests.ConnectionError:
            time.sleep(0.1)
    return 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_as_soon_as_serve_starts_talking_still_stops_it_cleanly(tmp_path, workers):
    for attempt, signum in enumerate([signal.SIGINT, signal.SIGTERM] * 2):
        proc = subprocess.Popen([sys.executable, "-m", "slugbuild", "serve", "--port", "0", "--key", "k",
                                 "--data-dir", str(tmp_path / "data"), "--workers", workers],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.stdout.readline()  # the first banner line: the handlers are in place, uvicorn not yet
        code, out, err = _stop(proc, signum)
        assert code == 0 and "Traceback" not in err, (attempt, err)
        assert out.splitlines()[-1] == "-----> Stopped"
