"""Build settings: each value resolved once, each bad value one UsageError naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from slugbuild import config
from slugbuild.errors import UsageError


def settings(**overrides) -> config.BuildSettings:
    values = dict(source=".", output=None, buildpacks=None, stack=None, cache_dir=None, clear_cache=False,
                  env=None, env_file=None, commit=None, max_size=None, offline=False)
    return config.build_settings(**{**values, **overrides})


@pytest.mark.parametrize(("text", "size"), [
    ("123", 123), ("500M", 500 << 20), ("1G", 1 << 30), ("1g", 1 << 30), ("1.5K", 1536), ("2GiB", 2 << 30),
    ("300MB", 300 << 20), (" 7 ", 7),
])
def test_sizes_are_bytes_or_1024_based_units(text, size):
    assert config.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1", "1X", "0", "0M", "1.2.3"])
def test_a_bad_size_names_the_value_and_the_forms(text):
    with pytest.raises(UsageError, match=f"^--max-size {text!r} is not a size above zero: use bytes"):
        config.parse_size(text)


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACK", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("SLUGBUILD_CACHE_DIR", str(tmp_path / "c"))
    s = settings()
    assert s.source_dir == tmp_path and s.output == tmp_path / "slug.tgz"
    assert s.stack == "heroku-24" and s.max_size_b == 1 << 30 and s.source_date_epoch == 0
    assert s.cache_dir == config.Sourced(tmp_path / "c", "SLUGBUILD_CACHE_DIR")


def test_flags_win_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK", "heroku-22")
    monkeypatch.setenv("SLUGBUILD_CACHE_DIR", str(tmp_path / "env-cache"))
    assert settings().stack == "heroku-22"
    s = settings(stack="heroku-24", cache_dir=str(tmp_path / "flag-cache"))
    assert s.stack == "heroku-24" and s.cache_dir == config.Sourced(tmp_path / "flag-cache", "--cache-dir")


def test_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert settings().source_date_epoch == 1_700_000_000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="^SOURCE_DATE_EPOCH='yesterday' is not a whole number"):
        settings()


def test_a_missing_or_non_directory_source_is_named(tmp_path):
    with pytest.raises(UsageError, match=f"^source directory {tmp_path}/nope does not exist; give the app"):
        settings(source=str(tmp_path / "nope"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=f"^source directory {tmp_path}/file is not a directory; give"):
        settings(source=str(tmp_path / "file"))


def test_an_output_that_is_a_directory_is_refused(tmp_path):
    message = f"^-o {tmp_path} is a directory; give the slug's file name, such as {tmp_path}/slug.tgz$"
    with pytest.raises(UsageError, match=message):
        settings(output=str(tmp_path))


def test_an_output_that_cannot_be_written_is_refused_before_the_build(tmp_path):
    (tmp_path / "file").write_text("")
    message = f"^-o {tmp_path}/file/sub/slug.tgz: cannot write in {tmp_path}/file; choose a writable place"
    with pytest.raises(UsageError, match=message):
        settings(output=str(tmp_path / "file" / "sub" / "slug.tgz"))


def test_env_flags_override_the_env_file_which_overrides_the_base(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("A=file\nB=file\n")
    s = settings(env=["B=flag", "C=x=y"], env_file=str(env_file))
    assert dict(s.config) == {"A": "file", "B": "flag", "C": "x=y"}
    assert config.config_vars(["A=flag"], None, {"A": "app", "Z": "app"}) == {"A": "flag", "Z": "app"}


@pytest.mark.parametrize("pair", ["NOEQUALS", "1ABC=x", "A-B=x", "=x"])
def test_a_bad_env_pair_is_named(pair):
    with pytest.raises(UsageError, match=f"^--env {pair!r} is not KEY=VALUE"):
        config.parse_env_pairs([pair])


def test_env_file_syntax(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n\n"
        "PLAIN=value # trailing comment\n"
        "export EXPORTED=yes\n"
        "SINGLE='no $expansion \\n here'\n"
        'DOUBLE="line one\\nline two \\"quoted\\" \\\\ end" # comment after quotes\n'
        "EMPTY=\n"
        "HASH=a#b\n"
        "  SPACED = padded  \n"
    )
    assert config.read_env_file(env_file) == {
        "PLAIN": "value", "EXPORTED": "yes", "SINGLE": "no $expansion \\n here",
        "DOUBLE": 'line one\nline two "quoted" \\ end', "EMPTY": "", "HASH": "a#b", "SPACED": "padded",
    }


@pytest.mark.parametrize("line", ["JUST TEXT", "1BAD=x", 'OPEN="never closed', "X='a' junk"])
def test_a_bad_env_file_line_is_named_with_its_number(tmp_path, line):
    env_file = tmp_path / ".env"
    env_file.write_text(f"OK=1\n{line}\n")
    with pytest.raises(UsageError, match=f"^{env_file}:2: .* is not KEY=VALUE; fix or remove the line$"):
        config.read_env_file(env_file)


def test_an_unreadable_env_file_is_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match=f"^--env-file {tmp_path}/missing: No such file or directory; give"):
        config.read_env_file(tmp_path / "missing")
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(UsageError, match="is not UTF-8 text; save it as UTF-8"):
        config.read_env_file(Path(binary))
