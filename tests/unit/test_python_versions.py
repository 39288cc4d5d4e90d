"""Which Python an app gets. Inputs ported from heroku/heroku-buildpack-python spec/fixtures/<name>
(commit b4e7e72), each test naming its fixture; the expectations are spec/hatchet/python_version_spec.rb's
and pipenv_spec.rb's, in slugbuild's one-line form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slugbuild.buildpacks.python import versions

from slugbuild.errors import BuildFailed


def app(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


def pipfile_lock(**requires: str) -> str:
    return json.dumps({"_meta": {"requires": requires, "sources": []}, "default": {}, "develop": {}})


def error_of(tmp_path: Path, files: dict[str, str | bytes], manager: str = "pip") -> str:
    with pytest.raises(BuildFailed) as exc:
        versions.request(app(tmp_path, files), manager)
    return str(exc.value)


# python_version_eol/.python-version: comments, blank and indented lines around the version
COMMENTED_3_9 = ("# Comments are supported.\n    # Even when indented\n#\n"
                 "# So are empty lines, and leading/trailing whitespace.\n\n  \n  3.9  \n  \n")


def test_a_major_version_means_its_newest_patch_release(tmp_path):
    # spec/fixtures/python_3.13
    got = versions.request(app(tmp_path, {".python-version": "3.13\n"}), "pip")
    assert (got.version, got.requested, got.source) == ("3.13.15", "3.13", ".python-version")
    assert got.warnings == ()


def test_an_exact_version_stays_and_an_older_patch_is_warned_about(tmp_path):
    # spec/fixtures/python_version_outdated
    got = versions.request(app(tmp_path, {".python-version": "3.14.0\n"}), "pip")
    assert got.version == "3.14.0"
    assert got.warnings[0].startswith("A Python patch update is available: the app uses Python 3.14.0, "
                                      "but 3.14.7 is out")


def test_comments_blank_lines_and_whitespace_are_ignored_then_eol_refused(tmp_path):
    # spec/fixtures/python_version_eol
    message = error_of(tmp_path, {".python-version": COMMENTED_3_9})
    assert message.startswith("The requested Python version has reached end-of-life: Python 3.9")
    assert "upgrade to at least Python 3.10 in your .python-version file" in message


def test_an_unknown_major_is_refused(tmp_path):
    # spec/fixtures/python_version_non_existent_major
    message = error_of(tmp_path, {".python-version": "3.999\n"})
    assert message.startswith("The requested Python version isn't recognised: Python 3.999")


def test_two_versions_in_the_file_are_refused_naming_both(tmp_path):
    # spec/fixtures/python_version_file_multiple_versions
    text = "# Valid comment\n3.12\n  \n  # Indentation should be stripped in the error message\n  2.7  \n"
    message = error_of(tmp_path, {".python-version": text})
    assert message.startswith("Multiple Python versions found in .python-version (3.12, 2.7)")


def test_an_empty_file_names_the_missing_version(tmp_path):
    # spec/fixtures/python_version_file_no_version
    message = error_of(tmp_path, {".python-version": ""})
    assert message.startswith("No Python version found in .python-version")


def test_invisible_characters_are_shown_in_the_invalid_version(tmp_path):
    # spec/fixtures/python_version_file_invalid_version
    text = "# Comments are supported.\r\n\r\n  \u200bpython -\t\u00a0 3.12.0\x1b[0m  \r\n  \r\n"
    message = error_of(tmp_path, {".python-version": text})
    assert message.startswith("Invalid Python version in .python-version: '\ufffdpython -")
    assert "without quotes, a 'python-' prefix or wildcards" in message


def test_a_file_saved_with_a_bom_is_refused_for_its_encoding(tmp_path):
    # spec/fixtures/python_version_file_unsupported_encoding
    text = "\ufeff# This file is saved with the encoding: UTF-8 with BOM\n3.13\n".encode()
    message = error_of(tmp_path, {".python-version": text})
    assert message == ("Unable to read .python-version: it uses an unsupported text encoding (UTF-8 with "
                       "BOM); save it as UTF-8 without a BOM")


def test_a_misspelled_file_name_is_refused_with_the_right_name(tmp_path):
    # spec/fixtures/python_version_file_misspelled
    message = error_of(tmp_path, {".python-version ": "3.13\n", ".python-version": "3.13\n"})
    assert message.startswith("Your .python-version file is spelled incorrectly: it is named "
                              "'.python-version '")


def test_runtime_txt_wins_over_python_version_with_a_deprecation_warning(tmp_path):
    # spec/fixtures/runtime_txt_and_python_version_file
    runtime = ("# Comments are supported\n    # Even when indented\n\n# This version should be ignored, "
               "since it's commented out\n# 2.7.18\n \n  python-3.13  \n ")
    got = versions.request(app(tmp_path, {"runtime.txt": runtime, ".python-version": "3.9\n"}), "pip")
    assert (got.version, got.source) == ("3.13.15", "runtime.txt")
    assert got.warnings[0].startswith("The runtime.txt file is deprecated")


def test_an_invalid_runtime_txt_points_to_python_version(tmp_path):
    # spec/fixtures/runtime_txt_invalid_version
    runtime = "# 2.7.18\n  \n  \u200bpython-3.12.0\x1b  \n\0\0\n"
    message = error_of(tmp_path, {"runtime.txt": runtime})
    assert message.startswith("Invalid Python version in runtime.txt; runtime.txt is deprecated")


def test_an_end_of_life_runtime_txt_is_refused(tmp_path):
    # spec/fixtures/runtime_txt_eol_version
    message = error_of(tmp_path, {"runtime.txt": "python-2.7.18\n"})
    assert "Python 2.7" in message and "in your runtime.txt file" in message


def test_uv_refuses_runtime_txt(tmp_path):
    # spec/fixtures/uv_runtime_txt
    message = error_of(tmp_path, {"runtime.txt": "python-3.13\n"}, manager="uv")
    assert message.startswith("The runtime.txt file isn't supported when using uv")


def test_uv_requires_a_python_version_file(tmp_path):
    # spec/fixtures/uv_no_python_version_file
    message = error_of(tmp_path, {}, manager="uv")
    assert message.startswith("No Python version was specified: with uv") and "uv python pin 3.14" in message


def test_no_version_gives_the_default_with_a_warning(tmp_path):
    # spec/fixtures/python_version_unspecified
    got = versions.request(app(tmp_path, {}), "pip")
    assert (got.version, got.requested, got.source) == ("3.14.7", None, "default")
    assert got.warnings[0].startswith("No Python version was specified, so the buildpack default Python 3.14")


def test_pipfile_lock_full_version_is_used_and_3_10_is_deprecated(tmp_path):
    # spec/fixtures/pipenv_python_full_version
    got = versions.request(app(tmp_path, {"Pipfile.lock": pipfile_lock(python_full_version="3.10.0")}),
                           "pipenv")
    assert (got.version, got.source) == ("3.10.0", "Pipfile.lock")
    assert any(w.startswith("Support for Python 3.10 is deprecated") for w in got.warnings)


def test_python_version_file_wins_over_pipfile_lock(tmp_path):
    # spec/fixtures/pipenv_python_version_and_python_version_file
    files = {".python-version": "3.13\n", "Pipfile.lock": pipfile_lock(python_version="3.12")}
    got = versions.request(app(tmp_path, files), "pipenv")
    assert (got.version, got.source) == ("3.13.15", ".python-version")


@pytest.mark.parametrize(("requires", "shown"), [
    ({"python_version": "^3.12"}, "'^3.12'"),  # pipenv_python_version_invalid
    ({"python_full_version": "3.9.*"}, "'3.9.*'"),  # pipenv_python_full_version_invalid
])
def test_an_invalid_pipfile_lock_version_is_refused(tmp_path, requires, shown):
    message = error_of(tmp_path, {"Pipfile.lock": pipfile_lock(**requires)}, manager="pipenv")
    assert message.startswith(f"Invalid Python version in Pipfile.lock: {shown}")


def test_an_end_of_life_pipfile_lock_version_is_refused(tmp_path):
    # spec/fixtures/pipenv_python_version_eol
    message = error_of(tmp_path, {"Pipfile.lock": pipfile_lock(python_version="3.8")}, manager="pipenv")
    assert "Python 3.8 no longer receives security updates" in message and "Pipfile.lock" in message


def test_an_unparsable_pipfile_lock_names_the_fix(tmp_path):
    # spec/fixtures/pipenv_lockfile_invalid_json
    message = error_of(tmp_path, {"Pipfile.lock": "INVALID JSON\n"}, manager="pipenv")
    assert message.startswith("Can't parse Pipfile.lock (") and message.endswith("run 'pipenv lock' to "
                                                                                 "regenerate it")


def test_pipfile_lock_is_read_only_for_pipenv_apps(tmp_path):
    got = versions.request(app(tmp_path, {"Pipfile.lock": "INVALID JSON\n"}), "pip")
    assert got.source == "default"


def test_the_table_resolves_every_supported_major():
    assert [versions.resolve(major, ".python-version") for major in versions.LATEST] == \
        list(versions.LATEST.values())
