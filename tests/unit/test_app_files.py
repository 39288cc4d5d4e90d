"""Files a buildpack reads from the app: never through a symlink out of the app, never a non-file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from slugbuild.buildpacks.go import gomod
from slugbuild.buildpacks.go import inventory as go_inventory
from slugbuild.buildpacks.go.hooks import run as run_hook
from slugbuild.buildpacks.node import package_json, package_manager, yarn
from slugbuild.buildpacks.python import versions as python_versions
from slugbuild.buildpacks.ruby import gemfile_lock
from test_go_buildpack import EXAMPLE, GoApp

from slugbuild import app_files, procfile
from slugbuild.errors import SlugbuildError
from slugbuild.log import RecordingLog

SECRET = "s3cret-outside-the-app"

# (file name, the buildpack's own reader of it)
READERS: list[tuple[str, Callable[[Path], object]]] = [
    ("package.json", package_json.read),
    ("yarn.lock", package_manager.lockfiles),
    ("package-lock.json", package_manager.lockfiles),
    ("go.mod", gomod.read),
    ("Gemfile.lock", gemfile_lock.read),
    ("Gemfile", gemfile_lock.gemfile_ruby),
    (".ruby-version", gemfile_lock.dot_ruby_version),
    ("Procfile", lambda app: procfile.read(app, RecordingLog())),
    (".yarnrc.yml", yarn.settings),
    ("go.sum", go_inventory.read),
    (".python-version", lambda app: python_versions.request(app, "pip")),
    ("Pipfile.lock", lambda app: python_versions.pipfile_lock_version(app / "Pipfile.lock")),
]


@pytest.fixture
def app(tmp_path) -> Path:
    (tmp_path / "outside").write_text(f'{{"name": "{SECRET}"}}\nmodule {SECRET}\nruby "{SECRET}"\n')
    app = tmp_path / "app"
    app.mkdir()
    return app


@pytest.mark.parametrize(("name", "reader"), READERS, ids=[name for name, _ in READERS])
def test_a_file_linking_out_of_the_app_is_refused_in_one_line_naming_it(app, name, reader):
    (app / name).symlink_to(app.parent / "outside")
    with pytest.raises(SlugbuildError) as caught:
        reader(app)
    message = str(caught.value)
    assert message.startswith(f"{name} is a symlink pointing outside the app; nothing outside the source")
    assert SECRET not in message and "\n" not in message


@pytest.mark.parametrize(("name", "reader"), READERS, ids=[name for name, _ in READERS])
def test_a_link_out_through_a_relative_path_or_a_link_chain_is_refused_too(app, name, reader):
    (app / "hop").symlink_to("../outside")
    (app / name).symlink_to("hop")
    with pytest.raises(SlugbuildError, match=f"^{name} is a symlink pointing outside the app"):
        reader(app)


def test_a_link_that_stays_inside_the_app_is_read(app):
    (app / "config").mkdir()
    (app / "config" / "ruby-version").write_text("ruby-3.1.2\n")
    (app / ".ruby-version").symlink_to("config/ruby-version")
    assert gemfile_lock.dot_ruby_version(app) == "3.1.2"


@pytest.mark.parametrize("kind", ["directory", "fifo", "loop"])
def test_a_name_that_is_no_regular_file_is_refused_rather_than_read(app, kind):
    target = app / "go.mod"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)  # reading it would block the build for ever
    else:
        target.symlink_to("go.mod")
    with pytest.raises(SlugbuildError, match="^go.mod is (not a regular file|a loop of symlinks)"):
        gomod.read(app)


def test_a_missing_file_reads_as_none(app):
    assert app_files.read_text(app, "Gemfile.lock") is None
    assert app_files.path(app, "go.mod") is None
    (app / "go.mod").symlink_to("nowhere-inside")
    assert app_files.path(app, "go.mod") is None


def test_a_go_hook_linking_out_of_the_app_is_neither_made_executable_nor_run(tmp_path):
    go_app = GoApp(tmp_path, EXAMPLE)
    outside = tmp_path / "outside-hook"
    outside.write_text("#!/bin/sh\ntouch ran\n")
    outside.chmod(0o644)
    (go_app.app_dir / "bin").mkdir(exist_ok=True)
    (go_app.app_dir / "bin" / "go-pre-compile").symlink_to(outside)
    with pytest.raises(SlugbuildError, match="^bin/go-pre-compile is a symlink pointing outside the app"):
        run_hook(go_app.context(), "go-pre-compile", {})
    assert outside.stat().st_mode & 0o777 == 0o644
    assert not (go_app.app_dir / "ran").exists()
