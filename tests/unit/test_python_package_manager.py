"""Detecting a Python app and its one package manager. File sets ported from heroku/heroku-buildpack-python
spec/fixtures/<name> (commit b4e7e72); expectations from spec/hatchet/package_manager_spec.rb,
detect_spec.rb and pipenv_spec.rb, in slugbuild's one-line form."""

from __future__ import annotations

from pathlib import Path

import pytest
from slugbuild.buildpacks.python import PythonBuildpack, package_manager

from slugbuild.buildpack import detection_order
from slugbuild.errors import BuildFailed


def app(tmp_path: Path, *names: str) -> Path:
    for name in names:
        path = tmp_path / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
    return tmp_path


@pytest.mark.parametrize(("files", "manager"), [
    (("requirements.txt",), "pip"),  # pip_basic
    (("Pipfile", "Pipfile.lock"), "pipenv"),  # pipenv_basic
    (("pyproject.toml", "poetry.lock"), "poetry"),  # poetry_basic
    (("pyproject.toml", "uv.lock", ".python-version"), "uv"),  # uv_basic
])
def test_each_lockfile_names_its_package_manager(tmp_path, files, manager):
    assert package_manager.determine(app(tmp_path, *files)) == manager


def test_several_package_managers_are_refused_listing_them(tmp_path):
    # spec/fixtures/multiple_package_managers
    root = app(tmp_path, "Pipfile", "Pipfile.lock", "requirements.txt", "poetry.lock", "pyproject.toml",
               "uv.lock")
    with pytest.raises(BuildFailed) as exc:
        package_manager.determine(root)
    assert str(exc.value).startswith("Multiple Python package manager files were found (Pipfile.lock "
                                     "(Pipenv), requirements.txt (pip), poetry.lock (Poetry), uv.lock (uv))")


def test_a_pyproject_toml_without_lockfile_lists_the_root(tmp_path):
    # spec/fixtures/pyproject_toml_only
    root = app(tmp_path, ".example-dotfile", "pyproject.toml", "subdir/")
    detection = PythonBuildpack().detect(root)
    assert detection is not None and detection.name == "Python"
    assert detection.error == ("Couldn't find any supported Python package manager files (the app's root "
                               "has: .example-dotfile, pyproject.toml, subdir/); add a 'requirements.txt', "
                               "'Pipfile.lock', 'poetry.lock' or 'uv.lock' file in the app's root directory "
                               "(an app without dependencies can commit an empty requirements.txt)")


def test_a_lone_setup_py_is_told_about_editable_requirements(tmp_path):
    # spec/fixtures/setup_py_only
    detection = PythonBuildpack().detect(app(tmp_path, "setup.py"))
    assert detection.error.startswith("Implicit setup.py file support has been sunset")
    assert "'--editable .'" in detection.error


def test_a_pipfile_without_its_lock_is_refused(tmp_path):
    # spec/fixtures/pipenv_no_lockfile
    detection = PythonBuildpack().detect(app(tmp_path, "Pipfile"))
    assert detection.error.startswith("No 'Pipfile.lock' found") and "run 'pipenv lock'" in detection.error


@pytest.mark.parametrize("name", ["requirments.txt", "__pycache__/", "venv/", "app.py", "manage.py"])
def test_near_miss_files_are_detected_then_explained(tmp_path, name):
    # spec/fixtures/detect_spec.rb
    detection = PythonBuildpack().detect(app(tmp_path, name))
    assert detection.error.startswith("Couldn't find any supported Python package manager files")


def test_an_app_with_no_python_files_is_not_detected(tmp_path):
    # spec/fixtures/no_python_project_files
    assert PythonBuildpack().detect(app(tmp_path, "README.md", "subdir/main.py")) is None


def test_python_is_detected_after_node_and_before_go():
    assert [bp.name for bp in detection_order()][:4] == ["ruby", "node", "python", "go"]
