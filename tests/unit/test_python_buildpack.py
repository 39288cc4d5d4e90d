"""The Python buildpack against a fake Python (stub python3 and pip) from a file:// mirror: what it
installs, what the dyno sources, what it keeps between builds, and how it fails."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest
from python_fakes import STACK, VERSION, PythonApp
from slugbuild.buildpacks.python import (
    PythonBuildpack,
    cache,
    django,
    install,
    inventory,
    profile,
    relocate,
    runtime,
    tools,
)
from slugbuild.buildpacks.python.mirror import fill, lay_out

from slugbuild.buildpack import Runtime
from slugbuild.errors import BuildFailed, DownloadFailed, UsageError
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog


@pytest.fixture
def python_app(tmp_path) -> PythonApp:
    return PythonApp(tmp_path)


def test_python_is_installed_verified_and_recorded(python_app):
    ctx = python_app.context()
    PythonBuildpack().compile(ctx)
    assert (python_app.app_dir / ".heroku" / "python" / "bin" / "python3").is_file()
    [python] = ctx.runtimes
    assert python.as_json() == {"name": "python", "requested": VERSION, "source": ".python-version",
                                "version": VERSION, "url": python_app.archive.as_uri(),
                                "sha256": python_app.sha256}


def test_pip_is_bootstrapped_then_installs_the_requirements_with_config_vars(python_app):
    log = python_app.compile(config={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PYTHONHOME": "/x"})
    bootstrap, pip = python_app.calls()
    assert bootstrap.startswith("python3 ") and "pip-23.0.1-py3-none-any.whl/pip install" in bootstrap
    assert bootstrap.endswith("pip==26.2.1 setuptools==70.3.0")
    assert pip.startswith("pip install -r requirements.txt --exists-action=w")
    assert pip.endswith("INDEX=http://127.0.0.1:9/simple CONFIG=/dev/null")  # not the machine's pip.conf
    assert "Installing dependencies using 'pip install -r requirements.txt'" in log.texts("step")


def test_console_scripts_run_the_python_beside_them_wherever_the_slug_lands(python_app, tmp_path):
    python_app.compile()
    moved = tmp_path / "elsewhere"
    (python_app.app_dir / ".heroku").rename(moved)
    (moved / "python" / "bin" / "python3").write_text('#!/bin/sh\necho "slug python $*"\n')
    out = subprocess.run([moved / "python" / "bin" / "flask", "run"], capture_output=True, text=True)
    assert out.stdout == f"slug python {moved / 'python' / 'bin' / 'flask'} run\n"


def test_the_dyno_profile_is_herokus(python_app):
    python_app.compile()
    profile_d = python_app.app_dir / ".profile.d"
    assert sorted(p.name for p in profile_d.iterdir()) == ["WEB_CONCURRENCY.sh", "python.gunicorn.sh",
                                                            "python.sh"]
    text = (profile_d / "python.sh").read_text()
    assert 'export PATH="$HOME/.heroku/python/bin:$PATH"' in text
    assert 'export PYTHONUNBUFFERED="true"' in text and 'export LANG="${LANG:-en_US.UTF-8}"' in text
    assert 'export PIP_DISABLE_PIP_VERSION_CHECK="1"' in text


def test_no_default_process_types_as_on_heroku(python_app):
    buildpack = PythonBuildpack()
    ctx = python_app.context()
    buildpack.compile(ctx)
    assert dict(buildpack.release(ctx).process_types) == {}


def test_an_unchanged_rebuild_restores_the_packages_and_stores_nothing_new(python_app):
    python_app.compile()
    stored = list((python_app.root / "cache" / "python" / STACK / "installed").iterdir())
    python_app.app_dir.joinpath(".heroku").rename(python_app.root / "old-heroku")
    for script in python_app.app_dir.joinpath(".profile.d").iterdir():
        script.unlink()
    log = python_app.compile(FAKE_PIP_FAILS="")
    assert "Restoring cache" in log.texts("step") and "Saving cache" not in log.texts("step")
    site = python_app.app_dir / ".heroku/python/lib/python3.11/site-packages/flask/__init__.py"
    assert site.read_text() == "installed\n"
    assert [p.name for p in (python_app.root / "cache/python" / STACK / "installed").iterdir()] == \
        [p.name for p in stored]


def test_stored_packages_rewritten_with_size_and_mtime_kept_are_not_put_back(python_app):
    python_app.compile()
    [stored] = (python_app.root / "cache/python" / STACK / "installed").glob(
        "*/dir/lib/python3.11/site-packages/flask/__init__.py")
    st = stored.stat()
    stored.write_text("EVIL = 1\n\n".ljust(st.st_size))
    os.utime(stored, ns=(st.st_atime_ns, st.st_mtime_ns))
    python_app.app_dir.joinpath(".heroku").rename(python_app.root / "old-heroku")
    log = python_app.compile()
    assert [w for w in log.texts("warn") if "cached" in w] == [
        "the cached packages for this lockfile, Python and stack were changed after they were stored "
        "(lib/python3.11/site-packages/flask/__init__.py); discarding them and installing again"]
    assert "Saving cache" in log.texts("step")
    site = python_app.app_dir / ".heroku/python/lib/python3.11/site-packages/flask/__init__.py"
    assert site.read_text() == "installed\n"
    fresh = python_app.root / "fresh" / ".heroku" / "python"
    fresh.mkdir(parents=True)
    ctx = python_app.context()
    key = cache.key(python_app.app_dir, "pip", tools.VERSIONS["pip"], python_app.sha256, STACK)
    assert cache.restore(ctx, key, fresh) and ctx.log.texts("warn") == []  # stored again, intact
    assert (fresh / "lib/python3.11/site-packages/flask/__init__.py").read_text() == "installed\n"


def test_a_changed_lockfile_installs_afresh(python_app):
    python_app.compile()
    python_app.app_dir.joinpath(".heroku").rename(python_app.root / "old-heroku")
    (python_app.app_dir / "requirements.txt").write_text("flask\ngunicorn\n")
    log = python_app.compile()
    assert "No cached packages for this lockfile, Python and stack: installing them all" in log.texts("step")


def test_a_requirement_the_index_lacks_is_one_line_naming_the_file(python_app):
    with pytest.raises(BuildFailed) as exc:
        python_app.compile(FAKE_PIP_FAILS="No matching distribution found for nosuch==1.0")
    assert str(exc.value) == ("Unable to install dependencies using pip (requirements.txt): ERROR: No "
                              "matching distribution found for nosuch==1.0; fix requirements.txt (a name or "
                              "version the package index does not have?) or PIP_INDEX_URL")


def test_a_python_version_the_mirror_lacks_is_named(tmp_path):
    app = PythonApp(tmp_path, {"requirements.txt": "", ".python-version": "3.11.99"})
    with pytest.raises(BuildFailed, match=r"^The requested Python version isn't available: \.python-version "
                                          r"asks for Python 3\.11\.99"):
        app.compile()


def test_offline_without_the_archive_names_the_download(python_app):
    with pytest.raises(DownloadFailed, match="--offline"):
        python_app.compile(offline=True)


@pytest.mark.parametrize(("files", "message"), [
    # spec/fixtures/python_in_app_source and venv_in_app_source
    ({"requirements.txt": "", ".heroku/python/bin/python": ""}, "Existing '.heroku/python/' directory found"),
    ({"requirements.txt": "", "venv/pyvenv.cfg": ""}, "Existing 'venv/' directory found"),
    ({"uv.lock": "version = 1\n", ".python-version": "3.13"}, "uv.lock was found but pyproject.toml was not"),
    ({"uv.lock": "version = [\n", "pyproject.toml": "", ".python-version": "3.13"}, "Can't parse uv.lock:"),
    ({"poetry.lock": "", "pyproject.toml": "[tool.poetry\n"}, "Can't parse pyproject.toml:"),
])
def test_bad_input_stops_before_anything_is_installed(tmp_path, files, message):
    app = PythonApp(tmp_path, {})
    for name, text in files.items():
        (app.app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (app.app_dir / name).write_text(text)
    with pytest.raises(BuildFailed) as exc:
        app.compile()
    assert str(exc.value).startswith(message)
    assert app.calls() == []


@pytest.mark.parametrize("name", [".heroku", ".profile.d"])
def test_a_link_where_the_build_writes_is_refused_and_nothing_lands_outside(tmp_path, name):
    app = PythonApp(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (app.app_dir / name).symlink_to(outside)
    with pytest.raises(BuildFailed, match=f"^'{name}' in the app is a link or a file"):
        app.compile()
    assert list(outside.iterdir()) == []


def test_old_and_unknown_stacks_are_refused():
    with pytest.raises(BuildFailed, match="^The 'heroku-20' stack is no longer supported"):
        runtime.check_stack("heroku-20")
    with pytest.raises(BuildFailed, match="^The 'heroku-99' stack isn't recognised"):
        runtime.check_stack("heroku-99")


def test_the_archive_url_follows_herokus_layout():
    url = runtime.archive_url({}, "heroku-22", "3.13.15", "arm64")
    assert url == ("https://heroku-buildpack-python.s3.dualstack.us-east-1.amazonaws.com/"
                   "python-3.13.15-ubuntu-22.04-arm64.tar.zst")
    assert runtime.archive_url({runtime.MIRROR_ENV: "http://127.0.0.1:1/py/"}, "heroku-24", "3.11.2",
                               "amd64") == "http://127.0.0.1:1/py/python-3.11.2-ubuntu-24.04-amd64.tar.zst"


def test_the_cache_key_changes_with_lockfile_python_stack_and_tool(tmp_path):
    (tmp_path / "requirements.txt").write_text("flask\n")
    base = cache.key(tmp_path, "pip", "26.2.1", "a" * 64, "heroku-24")
    assert base == cache.key(tmp_path, "pip", "26.2.1", "a" * 64, "heroku-24")
    others = {cache.key(tmp_path, "pip", "26.2.2", "a" * 64, "heroku-24"),
              cache.key(tmp_path, "pip", "26.2.1", "b" * 64, "heroku-24"),
              cache.key(tmp_path, "pip", "26.2.1", "a" * 64, "heroku-22")}
    (tmp_path / "requirements.txt").write_text("flask==3\n")
    others.add(cache.key(tmp_path, "pip", "26.2.1", "a" * 64, "heroku-24"))
    assert base not in others and len(others) == 4


def test_web_concurrency_is_the_lower_of_cores_and_memory(tmp_path):
    script = profile.scripts("pip")["WEB_CONCURRENCY.sh"]
    limit = tmp_path / "memory.max"
    script = script.replace("/sys/fs/cgroup/memory/memory.limit_in_bytes", str(tmp_path / "v1-absent"))
    script = script.replace("/sys/fs/cgroup/memory.max", str(limit))

    def concurrency(memory_b: str, preset: str | None = None) -> str:
        limit.write_text(memory_b)
        env = {"PATH": os.environ["PATH"], **({"WEB_CONCURRENCY": preset} if preset else {})}
        done = subprocess.run(["bash", "-c", f'{script}\necho "${{WEB_CONCURRENCY:-unset}}"'], env=env,
                              capture_output=True, text=True)
        return done.stdout.strip()

    cores = os.cpu_count() or 1
    assert concurrency(str(512 * 1048576)) == str(min(2, cores * 2 + 1))
    assert concurrency(str(100 * 1048576)) == "1"
    assert concurrency(str(64 * 1024 * 1048576)) == str(cores * 2 + 1)
    assert concurrency("max") == "unset"  # no limit to go by: left alone, as on Heroku
    assert concurrency(str(512 * 1048576), preset="7") == "7"


def test_manage_py_is_found_at_most_three_levels_down(tmp_path):
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "a/b/c/manage.py").write_text("")
    assert django.manage_py(tmp_path) is None
    (tmp_path / "a/b/manage.py").write_text("")
    assert django.manage_py(tmp_path) == tmp_path / "a/b/manage.py"


def test_the_reason_line_is_the_tools_error_not_its_last_line():
    tail = ["Resolved 3 packages", "error: The lockfile at `uv.lock` needs to be updated",
            "hint: run uv lock"]
    assert install._reason(tail) == "error: The lockfile at `uv.lock` needs to be updated"


def test_editable_installs_point_at_app(tmp_path):
    site = tmp_path / "python/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    (site / "__editable__.myapp.pth").write_text(f"{tmp_path / 'build/app'}/src\n")
    relocate.editable_paths(tmp_path / "python", tmp_path / "build/app")
    assert (site / "__editable__.myapp.pth").read_text() == "/app/src\n"


def test_the_mirror_refuses_a_debian_python_without_the_patch_it_undoes(tmp_path):
    usr = tmp_path / "usr"
    (usr / "lib/python3.11").mkdir(parents=True)
    (usr / "lib/python3.11/sysconfig.py").write_text("prefix_scheme = 'posix_prefix'\n")
    with pytest.raises(DownloadFailed, match="lacks the patch slugbuild undoes"):
        lay_out(usr, tmp_path / "tree", "3.11")


def test_the_mirror_makes_site_packages_herokus_and_drops_links_out(tmp_path):
    usr = tmp_path / "usr"
    stdlib = usr / "lib/python3.11"
    stdlib.mkdir(parents=True)
    (stdlib / "sysconfig.py").write_text("        prefix_scheme = 'posix_local'\n")
    (stdlib / "EXTERNALLY-MANAGED").write_text("")
    (stdlib / "sitecustomize.py").symlink_to("/etc/python3.11/sitecustomize.py")
    (usr / "share/python-wheels").mkdir(parents=True)
    (usr / "share/python-wheels/pip-23.0.1-py3-none-any.whl").write_text("")
    (usr / "bin").mkdir()
    (usr / "bin/python3.11").write_text("")
    tree = tmp_path / "tree"
    lay_out(usr, tree, "3.11")
    lib = tree / "lib/python3.11"
    assert "prefix_scheme = 'posix_prefix'" in (lib / "sysconfig.py").read_text()
    assert not (lib / "EXTERNALLY-MANAGED").exists() and not (lib / "sitecustomize.py").is_symlink()
    assert (lib / "ensurepip/_bundled/pip-23.0.1-py3-none-any.whl").is_file()
    assert os.readlink(tree / "bin/python3") == "python3.11"
    assert os.readlink(tree / "bin/python") == "python3"
    pth = tree / "lib/python3/dist-packages/slugbuild-site-packages.pth"
    assert pth.read_text().startswith("import site")


UV_APP = {"uv.lock": "version = 1\n", "pyproject.toml": "[project]\nname = 'x'\n",
          ".python-version": "3.11.2"}
POETRY_APP = {"poetry.lock": "", "pyproject.toml": "[tool.poetry]\npackage-mode = false\n",
              ".python-version": "3.11.2"}
PIPENV_APP = {"Pipfile": "", "Pipfile.lock": '{"_meta": {"requires": {"python_full_version": "3.11.2"}}}'}


@pytest.mark.parametrize(("files", "command"), [
    (UV_APP, "uv sync --locked --no-default-groups --compile-bytecode --no-progress --color never"),
    (POETRY_APP, "poetry sync --only main --compile --no-ansi --no-interaction"),
    (PIPENV_APP, "pipenv install --deploy"),
])
def test_each_tool_installs_into_the_apps_python_without_dev_groups(tmp_path, files, command):
    app = PythonApp(tmp_path, files)
    log = app.compile()
    tool = command.split()[0]
    [call] = [c for c in app.calls() if c.startswith(f"{tool} ")]
    home = app.app_dir / ".heroku" / "python"
    assert call.startswith(command)
    if tool == "uv":
        assert f"UV_PROJECT_ENVIRONMENT={home}" in call
    else:
        assert f"VIRTUAL_ENV={home}" in call
    assert f"Installing {tools.NAMES[tool]} {tools.VERSIONS[tool]}" in log.texts("step")


def test_a_tool_is_kept_in_the_build_cache_between_builds(tmp_path):
    app = PythonApp(tmp_path, UV_APP)
    app.compile()
    (app.app_dir / ".heroku").rename(tmp_path / "old-heroku")
    for script in (app.app_dir / ".profile.d").iterdir():
        script.unlink()
    log = app.compile()
    assert "Using cached uv 0.12.5" in log.texts("step")


def test_a_cached_tool_rewritten_with_its_size_and_mtime_kept_is_installed_again(tmp_path):
    app = PythonApp(tmp_path, UV_APP)
    app.compile()
    [uv] = (tmp_path / "cache" / "python" / "tools").glob("uv-*/bin/uv")
    st = uv.stat()
    uv.write_text('#!/bin/sh\necho "forged $*" >> "$FAKE_PYTHON_LOG"\n#'.ljust(st.st_size, "#"))
    os.utime(uv, ns=(st.st_atime_ns, st.st_mtime_ns))
    (app.app_dir / ".heroku").rename(tmp_path / "old-heroku")
    for script in (app.app_dir / ".profile.d").iterdir():
        script.unlink()
    app.calls_file.unlink()
    log = app.compile()
    assert [w for w in log.texts("warn") if "cached" in w] == [
        f"the cached uv=={tools.UV_VERSION} in the build cache was changed after it was installed (bin/uv); "
        "installing it again"]
    assert f"Installing uv {tools.UV_VERSION}" in log.texts("step")
    assert [c for c in app.calls() if c.startswith(("uv ", "forged "))][0].startswith("uv sync")


def _compile_uv_app(root: str) -> list[str]:
    """A uv app built on the cache shared at root/../cache; its steps, or the error it ended with."""
    app = PythonApp(Path(root), UV_APP)
    shared = Path(root).parent / "cache"
    log = RecordingLog()
    ctx = app.context(log=log, FAKE_INSTALL_PAUSE_S="1")
    ctx = dataclasses.replace(ctx, cache_dir=shared / "python",
                              fetcher=Fetcher(shared, log, retries=0))
    try:
        PythonBuildpack().compile(ctx)
    except Exception as exc:  # every failure is a finding; the assertion shows them
        return [f"{type(exc).__name__}: {exc}"]
    return log.texts("step")


def test_builds_sharing_a_cache_install_a_tool_once_and_all_use_it(tmp_path):
    roots = [str(tmp_path / f"app{n}") for n in range(3)]
    for root in roots:
        Path(root).mkdir()
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        steps = pool.map(_compile_uv_app, roots)
    installs = [s for s in sum(steps, []) if s.startswith("Installing uv")]
    assert installs == [f"Installing uv {tools.UV_VERSION}"], steps
    assert all(f"Using cached uv {tools.UV_VERSION}" in s for s in steps if installs[0] not in s), steps


DJANGO_APP = {"requirements.txt": "django\n", ".python-version": "3.11.2", "manage.py": ""}


def test_collectstatic_runs_when_django_is_installed(tmp_path):
    # spec/fixtures/django_staticfiles_latest_django
    app = PythonApp(tmp_path, DJANGO_APP)
    log = app.compile(FAKE_PIP_ALSO="django")
    assert "$ python manage.py collectstatic --noinput" in log.texts("step")
    assert any(c.endswith("manage.py collectstatic --noinput --traceback") for c in app.calls())


def test_disable_collectstatic_skips_it(tmp_path):
    # spec/fixtures/django_collectstatic_disabled_file, and DISABLE_COLLECTSTATIC in django_spec.rb
    app = PythonApp(tmp_path, DJANGO_APP)
    log = app.compile(config={"DISABLE_COLLECTSTATIC": "1"}, FAKE_PIP_ALSO="django")
    skipped = "Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set."
    assert skipped in log.texts("step")
    assert not [c for c in app.calls() if "manage.py collectstatic" in c]


def test_a_failing_collectstatic_says_why_and_how_to_skip_it(tmp_path):
    # spec/fixtures/django_staticfiles_misconfigured
    app = PythonApp(tmp_path, DJANGO_APP)
    with pytest.raises(BuildFailed) as exc:
        app.compile(FAKE_PIP_ALSO="django", FAKE_COLLECTSTATIC_FAILS="django.core.exceptions."
                    "ImproperlyConfigured: You're using the staticfiles app without STATIC_ROOT")
    assert str(exc.value) == ("Unable to generate Django static files: 'python manage.py collectstatic "
                              "--noinput' failed: the Django settings are incomplete (is STATIC_ROOT set?); "
                              "see the traceback above, then fix the app or set the config var "
                              "DISABLE_COLLECTSTATIC=1 to skip this step")


def test_without_django_collectstatic_is_not_attempted(tmp_path):
    # spec/fixtures/django_no_manage_py's mirror image: manage.py but no Django
    app = PythonApp(tmp_path, DJANGO_APP)
    app.compile()
    assert not [c for c in app.calls() if "manage.py collectstatic" in c]


def test_the_mirror_copies_another_mirror_with_its_checksum(python_app, tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.MIRROR_ENV, python_app.mirror.as_uri())
    dest = tmp_path / "copy"
    fill(dest, [VERSION], from_registries=False, cache_dir=tmp_path / "mcache", log=RecordingLog())
    copied = dest / python_app.archive.name
    assert copied.read_bytes() == python_app.archive.read_bytes()
    assert Path(f"{copied}.sha256").read_text() == f"{python_app.sha256}  {copied.name}\n"
    with pytest.raises(UsageError, match="is not a full Python version"):
        fill(dest, ["3.11"], from_registries=False, cache_dir=tmp_path / "mcache", log=RecordingLog())


def test_the_sbom_lists_what_landed_in_site_packages(tmp_path):
    site = tmp_path / "python/lib/python3.11/site-packages"
    for name, version, requires in (("Flask", "3.1.3", ["Werkzeug>=3.1", "click>=8.1.3",
                                                        'asgiref>=3.2; extra == "async"']),
                                    ("werkzeug", "3.1.9", []), ("click", "8.5.1", []), ("pip", "26.2.1", [])):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
        (info / "METADATA").write_text("\n".join(lines) + "\n\nlong description\n")
    (tmp_path / "requirements.txt").write_text("# web\nFlask==3.1.3\n-r more.txt\n")
    found = inventory.read(tmp_path, tmp_path / "python", "requirements.txt")
    assert found.complete and found.lockfile == "requirements.txt"
    assert [p.purl for p in found.packages] == ["pkg:pypi/click@8.5.1", "pkg:pypi/flask@3.1.3",
                                                "pkg:pypi/pip@26.2.1", "pkg:pypi/werkzeug@3.1.9"]
    flask = next(p for p in found.packages if p.name == "Flask")
    assert flask.depends_on == ("pkg:pypi/click@8.5.1", "pkg:pypi/werkzeug@3.1.9")  # not the async extra
    assert found.direct == ("pkg:pypi/flask@3.1.3",)


def test_verify_pins_the_archive_the_report_names(python_app, tmp_path):
    elsewhere = tmp_path / "elsewhere.tar.zst"
    elsewhere.write_bytes(python_app.archive.read_bytes())
    ctx = python_app.context(**{runtime.MIRROR_ENV: (tmp_path / "nowhere").as_uri()})
    ctx.pins = {"python": Runtime("python", VERSION, ".python-version", VERSION, elsewhere.as_uri(),
                                  python_app.sha256)}
    PythonBuildpack().compile(ctx)
    assert [r.url for r in ctx.runtimes] == [elsewhere.as_uri()]


def test_offline_with_packages_the_cache_lacks_says_so(python_app):
    python_app.compile(FAKE_PIP_FAILS="")  # once online: the archive is cached
    (python_app.app_dir / ".heroku").rename(python_app.root / "old-heroku")
    (python_app.app_dir / "requirements.txt").write_text("flask\nnew-package\n")
    with pytest.raises(BuildFailed) as exc:
        python_app.compile(offline=True, FAKE_PIP_FAILS="No matching distribution found for new-package")
    assert str(exc.value).endswith("--offline installs only what the build cache holds, and these packages "
                                   "are not there: build once online, or drop --offline")
