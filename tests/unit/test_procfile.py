"""Procfile rules: Heroku's `name: command` lines, with warnings where Heroku stays silent."""

from __future__ import annotations

import pytest

from slugbuild import procfile
from slugbuild.errors import SlugbuildError
from slugbuild.log import RecordingLog


def parse(text: str) -> tuple[dict[str, str], list[str]]:
    log = RecordingLog()
    return procfile.parse(text, log), log.texts("warn")


def test_reads_name_command_lines_with_or_without_a_space_after_the_colon():
    types, warnings = parse("web: node web.js\nworker:python worker.py\n")
    assert types == {"web": "node web.js", "worker": "python worker.py"}
    assert warnings == []


def test_blank_lines_and_comments_are_ignored():
    types, warnings = parse("# the web server\n\n   \nweb: bin/web\n  # indented comment\n")
    assert types == {"web": "bin/web"} and warnings == []


def test_command_keeps_its_own_colons_and_spaces():
    types, _ = parse("web: bundle exec rackup -p ${PORT:-5000} --host 0.0.0.0\n")
    assert types["web"] == "bundle exec rackup -p ${PORT:-5000} --host 0.0.0.0"


def test_last_duplicate_wins_with_a_warning_naming_the_line():
    types, warnings = parse("web: old\nworker: w\nweb: new\n")
    assert types == {"worker": "w", "web": "new"}
    assert warnings == ["Procfile:3: process type 'web' declared again; the last one wins"]


@pytest.mark.parametrize("line", ["just some words", ": no name", "web:", "web:   "])
def test_a_line_that_is_not_name_command_is_skipped_with_its_line_number(line):
    types, warnings = parse(f"web: ok\n{line}\n")
    assert types == {"web": "ok"}
    assert len(warnings) == 1 and warnings[0].startswith("Procfile:2: ")


@pytest.mark.parametrize("name", ["we b", "web.1", "wéb", "x" * 129, "a/b"])
def test_a_bad_process_type_is_an_error_naming_line_and_type(name):
    with pytest.raises(procfile.BadProcessType) as err:
        parse(f"# header\n{name}: run\n")
    expected = f"Procfile:2: process type {name!r} may use only letters, digits, - and _"
    assert str(err.value).startswith(expected)


@pytest.mark.parametrize("name", ["web", "worker-2", "clock_x", "A9", "x" * 128])
def test_names_of_letters_digits_dash_and_underscore_are_valid(name):
    types, _ = parse(f"{name}: run")
    assert types == {name: "run"}


def test_windows_line_endings_and_a_byte_order_mark(tmp_path):
    (tmp_path / "Procfile").write_bytes(b"\xef\xbb\xbfweb: a\r\nworker: b\r\n")
    assert procfile.read(tmp_path, RecordingLog()) == {"web": "a", "worker": "b"}


def test_no_procfile_gives_none(tmp_path):
    assert procfile.read(tmp_path, RecordingLog()) is None


def test_a_procfile_that_is_not_utf8_is_one_clear_error(tmp_path):
    (tmp_path / "Procfile").write_bytes(b"web: \xff\xfe\n")
    with pytest.raises(procfile.UnreadableProcfile, match="^Procfile: not valid UTF-8; save it as"):
        procfile.read(tmp_path, RecordingLog())


def test_a_procfile_linking_outside_the_app_is_not_read(tmp_path):
    outside = tmp_path / "secret"
    outside.write_text("web: leaked\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "Procfile").symlink_to(outside)
    with pytest.raises(SlugbuildError, match="^Procfile is a symlink pointing outside the app"):
        procfile.read(app, RecordingLog())
