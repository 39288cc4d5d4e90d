"""Python end to end: the real (relocated Debian) Python from the loopback mirror, packages installed by
pip, uv and Poetry from a real package index on 127.0.0.1, the slug booted as a dyno boots it with only
the stack's PATH, and its answer naming the interpreter that served it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pypi
import pytest
from test_ruby import programs_in_group

from slugbuild import run
from slugbuild.buildpack import host_arch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
BOOT_TIMEOUT_S = 60
VERSION = "3.11.2"


@pytest.fixture(scope="module")
def index_env(mirror_env, python_index) -> dict[str, str]:
    if "SLUGBUILD_PYTHON_MIRROR" not in mirror_env:
        pytest.fail("the mirror has no Python: run `make runtimes` first", pytrace=False)
    return {**mirror_env, "PIP_INDEX_URL": f"{python_index.url}/simple"}


def build(run_cli, source: Path, output: Path, env: dict[str, str]) -> tuple[dict, str]:
    """Build through the real CLI, the index given as the app's PIP_INDEX_URL config var."""
    config = f"PIP_INDEX_URL={env['PIP_INDEX_URL']}"
    result = run_cli("build", source, "-o", output, "--json", "--env", config, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def answer(report: dict, dyno: Path) -> tuple[str, Path, list[Path]]:
    """What the web process answered, where the slug was unpacked, and the programs that served it."""
    app_dir = run.unpack(Path(report["path"]), dyno)
    port = run.free_port()
    with run.booted(app_dir, report["process_types"]["web"], port=port) as proc:
        body = run.wait_for_http(port, proc, BOOT_TIMEOUT_S)
        programs = programs_in_group(proc.pid)
    return body, app_dir, programs


def assert_served_by_the_slugs_python(body: str, app_dir: Path, programs: list[Path], greeting: str) -> None:
    assert body == f"{greeting} {VERSION} at {app_dir / '.heroku' / 'python'}\n"
    slug_python = (app_dir / ".heroku" / "python" / "bin" / "python3.11").resolve()
    pythons = [p for p in programs if p.name.startswith("python")]
    assert pythons and set(pythons) == {slug_python}  # gunicorn and its workers: none of the machine's


def site_packages(report: dict, tmp_path: Path) -> set[str]:
    app_dir = run.unpack(Path(report["path"]), tmp_path / "unpacked")
    return {p.name.split("-")[0] for p in (app_dir / ".heroku/python/lib/python3.11/site-packages").iterdir()}


def test_flask_with_requirements_txt_answers_from_the_slugs_python(run_cli, index_env, python_index,
                                                                      tmp_path):
    report, log = build(run_cli, ROOT / "examples" / "python", tmp_path / "slug.tgz", index_env)
    [python] = report["runtimes"]
    name = f"python-{VERSION}-ubuntu-24.04-{host_arch()}.tar.zst"
    assert python == {"name": "python", "requested": VERSION, "source": ".python-version", "version": VERSION,
                      "url": f"{index_env['SLUGBUILD_PYTHON_MIRROR']}/{name}", "sha256": python["sha256"]}
    assert f"Using Python {VERSION} specified in .python-version" in log
    assert "Installing pip 26.2.1 and setuptools 70.3.0" in log
    assert "Successfully installed" in log and "flask-3.1.3" in log
    assert "/simple/flask/" in python_index.requests  # from the index, not from the machine's wheels
    sbom = json.loads((tmp_path / "slug.tgz.cdx.json").read_text())
    purls = {c.get("purl") for c in sbom["components"]}
    assert {"pkg:pypi/flask@3.1.3", "pkg:pypi/gunicorn@27.0.1", "pkg:pypi/werkzeug@3.1.9"} <= purls
    assert sbom["compositions"][0]["aggregate"] == "complete"
    body, app_dir, programs = answer(report, tmp_path / "dyno")
    assert_served_by_the_slugs_python(body, app_dir, programs, "Hello from Python")
    check = run_cli("run", tmp_path / "slug.tgz", "--check")
    assert check.exit_code == 0 and "web answered HTTP 200: Hello from Python 3.11.2 at " in check.stdout


def test_an_unchanged_rebuild_installs_nothing(run_cli, index_env, python_index, runtime_mirror, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "python", source)
    first, _ = build(run_cli, source, tmp_path / "first.tgz", index_env)
    index_mark, mirror_mark = len(python_index.requests), len(runtime_mirror.requests)
    second, log = build(run_cli, source, tmp_path / "second.tgz", index_env)
    assert "Restoring cache" in log
    assert "Successfully installed" not in log and "Downloading" not in log
    assert python_index.requests_since(index_mark) == []
    assert not [p for p in runtime_mirror.requests_since(mirror_mark) if p.endswith(".tar.zst")]
    assert second["checksum"] == first["checksum"]
    offline = run_cli("build", source, "-o", tmp_path / "offline.tgz", "--offline", env=index_env)
    assert offline.exit_code == 0, offline.stderr


def unpacked_uv(tmp_path: Path) -> Path:
    """The uv binary from the prefetched wheel (its scripts directory), for locking the test app."""
    [wheel] = pypi.PACKAGES_DIR.glob("uv-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".data/scripts/uv"))
        target = tmp_path / "uv"
        target.write_bytes(zf.read(member))
    target.chmod(0o755)
    return target


def locked_copy(app: str, tmp_path: Path, lock: list[str], env: dict[str, str]) -> Path:
    """A copy of tests/e2e/apps/<app> with its lockfile made against the loopback index, as a user's
    would be committed (the index's port changes from run to run)."""
    source = tmp_path / app
    shutil.copytree(APPS / app, source)
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    done = subprocess.run(lock, cwd=source, env=clean, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return source


def test_a_uv_app_installs_its_locked_packages_without_dev_groups(run_cli, index_env, tmp_path):
    index = index_env["PIP_INDEX_URL"]
    uv = unpacked_uv(tmp_path)
    source = locked_copy("python-uv", tmp_path, [str(uv), "lock", "--default-index", index],
                         {"UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable})
    env = {**index_env, "UV_DEFAULT_INDEX": index}
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--json", "--env",
                     f"UV_DEFAULT_INDEX={index}", env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "Installing uv 0.12.5" in result.stderr
    assert "Installing dependencies using 'uv sync --locked --no-default-groups'" in result.stderr
    installed = site_packages(report, tmp_path)
    assert "flask" in installed and "zipp" not in installed  # the dev group stays out
    body, app_dir, programs = answer(report, tmp_path / "dyno")
    assert_served_by_the_slugs_python(body, app_dir, programs, "Hello from uv on Python")
    check = run_cli("run", tmp_path / "slug.tgz", "--check")
    assert check.exit_code == 0, check.stderr


def test_a_uv_lockfile_out_of_date_stops_the_build_in_one_line(run_cli, index_env, tmp_path):
    index = index_env["PIP_INDEX_URL"]
    uv = unpacked_uv(tmp_path)
    source = locked_copy("python-uv", tmp_path, [str(uv), "lock", "--default-index", index],
                         {"UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable})
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"gunicorn==27.0.1"', '"gunicorn==27.0.1", "zipp"'))
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--env", f"UV_DEFAULT_INDEX={index}",
                     env=index_env)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.startswith(" !     Unable to install dependencies using uv (uv.lock): ")
    assert result.last_error_line.endswith("run 'uv lock' if uv.lock is out of date, and commit it")
    assert not (tmp_path / "slug.tgz").exists()


def poetry_tool(tmp_path: Path) -> Path:
    """Poetry from the prefetched wheels in a venv of the test's own, for locking the test app."""
    venv = tmp_path / "poetry-venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", "--isolated", "--no-index", "--find-links",
                    pypi.PACKAGES_DIR, "poetry==2.4.1"], check=True, timeout=300)
    return venv / "bin" / "poetry"


def test_a_poetry_app_installs_its_main_group(run_cli, index_env, tmp_path):
    index = index_env["PIP_INDEX_URL"]
    source = tmp_path / "python-poetry"
    shutil.copytree(APPS / "python-poetry", source)
    with open(source / "pyproject.toml", "a") as fh:
        fh.write(f'[[tool.poetry.source]]\nname = "loopback"\nurl = "{index}/"\npriority = "primary"\n')
    poetry = poetry_tool(tmp_path)
    clean = {"PATH": f"{poetry.parent}:{os.environ['PATH']}", "HOME": str(tmp_path),
             "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    locked = subprocess.run([poetry, "lock"], cwd=source, env=clean, capture_output=True,
                            text=True, timeout=300)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    report, log = build(run_cli, source, tmp_path / "slug.tgz", index_env)
    assert "Installing Poetry 2.4.1" in log
    assert "Installing dependencies using 'poetry sync --only main'" in log
    installed = site_packages(report, tmp_path)
    assert "gunicorn" in installed and "zipp" not in installed
    body, app_dir, programs = answer(report, tmp_path / "dyno")
    assert_served_by_the_slugs_python(body, app_dir, programs, "Hello from Poetry on Python")
    check = run_cli("run", tmp_path / "slug.tgz", "--check")
    assert check.exit_code == 0, check.stderr
    _, again = build(run_cli, source, tmp_path / "again.tgz", index_env)  # Poetry ran: its venv is unchanged
    assert "Using cached Poetry 2.4.1" in again and "changed after it was installed" not in again


def test_a_requirement_the_index_lacks_stops_the_build_in_one_line(run_cli, index_env, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "python", source)
    (source / "requirements.txt").write_text("flask==3.1.3\nno-such-package-slugbuild==1.0\n")
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--env",
                     f"PIP_INDEX_URL={index_env['PIP_INDEX_URL']}", env=index_env)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line == (
        " !     Unable to install dependencies using pip (requirements.txt): ERROR: No matching distribution "
        "found for no-such-package-slugbuild==1.0; fix requirements.txt (a name or version the package "
        "index does not have?) or PIP_INDEX_URL")
    assert not (tmp_path / "slug.tgz").exists()


def test_django_static_files_are_collected_and_the_app_answers(run_cli, index_env, tmp_path):
    report, log = build(run_cli, APPS / "python-django", tmp_path / "slug.tgz", index_env)
    assert "$ python manage.py collectstatic --noinput" in log
    body, app_dir, programs = answer(report, tmp_path / "dyno")
    assert (app_dir / "staticfiles" / "hello" / "site.css").read_text() == "body { color: purple; }\n"
    assert_served_by_the_slugs_python(body, app_dir, programs, "Hello from Django on Python")


def test_a_misconfigured_django_stops_the_build_saying_why(run_cli, index_env, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(APPS / "python-django", source)
    settings = source / "hello" / "settings.py"
    settings.write_text(settings.read_text().replace('STATIC_ROOT = BASE_DIR / "staticfiles"\n', ""))
    result = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--env",
                     f"PIP_INDEX_URL={index_env['PIP_INDEX_URL']}", env=index_env)
    assert result.exit_code == 1 and "ImproperlyConfigured" in result.stdout  # the traceback is shown
    assert result.last_error_line.startswith(" !     Unable to generate Django static files: 'python "
                                             "manage.py collectstatic --noinput' failed: the Django "
                                             "settings are incomplete (is STATIC_ROOT set?)")
    disabled = run_cli("build", source, "-o", tmp_path / "slug.tgz", "--env", "DISABLE_COLLECTSTATIC=1",
                       "--env", f"PIP_INDEX_URL={index_env['PIP_INDEX_URL']}", env=index_env)
    assert disabled.exit_code == 0, disabled.stderr
