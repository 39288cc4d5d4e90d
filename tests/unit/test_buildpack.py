"""The buildpack contract's own machinery: running build commands, and loading third-party plugins."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from slugbuild import buildpack
from slugbuild.buildpack import BuildContext, write_profile_script
from slugbuild.errors import BuildFailed, UsageError
from slugbuild.log import RecordingLog

PLUGIN = """\
import nonexistent_dependency_of_brokenplug

class Buildpack:
    name = "broken"
"""


def context(tmp_path: Path, log: RecordingLog) -> BuildContext:
    return BuildContext(tmp_path, tmp_path / "cache", tmp_path / "env", {"PATH": os.environ["PATH"]}, {},
                        "heroku-24", fetcher=None, log=log)  # type: ignore[arg-type]


def test_a_command_that_leaves_a_background_process_holding_its_output_still_returns(tmp_path: Path):
    log = RecordingLog()
    try:
        context(tmp_path, log).run(["sh", "-c", "echo before; sleep 300 & echo $! > bg.pid; echo after"])
        assert log.texts("child") == ["before", "after"]
    finally:
        os.kill(int((tmp_path / "bg.pid").read_text()), signal.SIGKILL)


def test_the_last_line_without_a_newline_and_crlf_endings_are_shown(tmp_path: Path):
    log = RecordingLog()
    context(tmp_path, log).run(["printf", "one\\r\\ntwo"])
    assert log.texts("child") == ["one", "two"]


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution `brokenplug` registering two buildpacks: one fails to import, one is not
    a buildpack at all."""
    site = tmp_path / "site"
    info = site / "brokenplug-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[slugbuild.buildpacks]\nbroken = brokenplug:Buildpack\nodd = notabuildpack:Thing\n")
    (site / "brokenplug.py").write_text(PLUGIN)
    (site / "notabuildpack.py").write_text("class Thing:\n    name = 'odd'\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(buildpack, "_warned", set())
    return site


BROKEN = ("buildpack plugin 'broken' (slugbuild.buildpacks entry point brokenplug:Buildpack) failed to load "
          "(ModuleNotFoundError: No module named 'nonexistent_dependency_of_brokenplug')")
ODD = ("buildpack plugin 'odd' (slugbuild.buildpacks entry point notabuildpack:Thing) is not a buildpack "
       "(it needs name, detect, compile and release)")
FIX = "reinstall or uninstall brokenplug (pip uninstall brokenplug)"


def test_a_broken_plugin_is_skipped_with_one_warning_naming_its_package(broken_plugin: Path):
    log = RecordingLog()
    found = buildpack.registered(log)
    assert {"ruby", "node", "go"} <= set(found)
    assert "broken" not in found and "odd" not in found
    assert sorted(log.texts("warn")) == sorted([f"{BROKEN}; skipped it: {FIX}", f"{ODD}; skipped it: {FIX}"])
    buildpack.registered(log)
    assert len(log.texts("warn")) == 2  # once per run, not once per lookup


def test_asking_for_a_broken_plugin_by_name_is_one_line(broken_plugin: Path):
    with pytest.raises(UsageError) as failure:
        buildpack.by_name("broken")
    assert str(failure.value) == f"{BROKEN}; {FIX}"


def test_the_cli_names_the_broken_plugin_without_a_traceback(broken_plugin: Path, run_cli, tmp_path: Path):
    (tmp_path / "src").mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(broken_plugin), os.environ.get("PYTHONPATH", "")])}
    result = run_cli("build", tmp_path / "src", "--buildpack", "odd", env=env)
    assert result.exit_code == 2
    assert result.last_error_line.endswith(f"{ODD}; {FIX}")
    assert "Traceback" not in result.stderr


def test_profile_scripts_are_written_only_into_a_real_profile_d(tmp_path):
    app, outside = tmp_path / "app", tmp_path / "outside"
    app.mkdir()
    outside.mkdir()
    assert write_profile_script(app, "a.sh", "export A=1\n").read_text() == "export A=1\n"
    (app / ".profile.d" / "b.sh").symlink_to(outside / "victim.sh")
    write_profile_script(app, "b.sh", "export B=1\n")
    assert not (outside / "victim.sh").exists()
    assert (app / ".profile.d" / "b.sh").read_text() == "export B=1\n"
    (app / ".profile.d" / "a.sh").unlink()
    (app / ".profile.d" / "b.sh").unlink()
    (app / ".profile.d").rmdir()
    (app / ".profile.d").symlink_to(outside)
    with pytest.raises(BuildFailed, match="^'.profile.d' in the app is a link or a file"):
        write_profile_script(app, "c.sh", "export C=1\n")
    assert list(outside.iterdir()) == []
