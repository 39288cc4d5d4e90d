"""Preparing the build directory: what is copied, what is left out, and which commit it came from."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slugbuild import source
from slugbuild.log import RecordingLog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def snapshot(root: Path) -> dict[str, tuple[int, int, float]]:
    return {str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime)
            for p in root.rglob("*")}


@pytest.fixture
def app(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "web.js").write_text("console.log('hi')\n")
    return src


def prepare(src: Path, tmp_path: Path, **kwargs) -> tuple[source.SourceTree, RecordingLog]:
    log = RecordingLog()
    return source.prepare(src, tmp_path / "build", log, **kwargs), log


def test_slugignore_follows_herokus_rules_before_any_buildpack_runs(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "slugignore-patterns", src)
    tree, log = prepare(src, tmp_path)
    assert files_under(tree.app_dir) == {
        ".slugignore", "Procfile", "app.js", "src/docs/keep.md", "src/main.js", "tmp/keep.txt"}
    assert log.texts("step") == ["Deleting 8 files matching .slugignore patterns."]
    assert log.texts("warn") == [
        ".slugignore: '!important.log' ignored: negation is not supported (as on Heroku)"]


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), [
    ("*.log", "a/b/c.log", False, True),
    ("docs", "src/docs", True, True),
    ("/docs", "src/docs", True, False),
    ("/docs", "docs", True, True),
    ("src/*.js", "src/a.js", False, True),
    ("src/*.js", "src/lib/a.js", False, False),
    ("src/**/*.js", "src/lib/deep/a.js", False, True),
    ("tmp/", "tmp", False, False),
    ("tmp/", "tmp", True, True),
    ("*.PSD", "art.psd", False, False),
])
def test_pattern_matching(pattern, path, is_dir, expected):
    assert source.IgnorePattern.parse(pattern).matches(tuple(path.split("/")), is_dir) is expected


def test_git_directories_are_left_out(app, tmp_path):
    (app / ".git" / "objects").mkdir(parents=True)
    (app / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    tree, _ = prepare(app, tmp_path)
    assert files_under(tree.app_dir) == {"web.js"}


def test_the_output_file_inside_the_source_is_left_out(app, tmp_path):
    (app / "slug.tgz").write_bytes(b"old slug")
    (app / "slug.tgz.json").write_text("{}")
    tree, _ = prepare(app, tmp_path, exclude=[app / "slug.tgz", app / "slug.tgz.json"])
    assert files_under(tree.app_dir) == {"web.js"}


def test_symlinks_are_copied_as_links_and_never_followed(app, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("do not copy")
    (app / "outside").symlink_to(secret)
    (app / "inside").symlink_to("web.js")
    (app / "dangling").symlink_to("missing")
    tree, _ = prepare(app, tmp_path)
    assert os.readlink(tree.app_dir / "outside") == str(secret)
    assert os.readlink(tree.app_dir / "inside") == "web.js"
    assert os.readlink(tree.app_dir / "dangling") == "missing"
    assert not (tree.app_dir / "outside").resolve().is_relative_to(tree.app_dir)


def test_exec_bits_are_kept(app, tmp_path):
    (app / "bin").mkdir()
    (app / "bin" / "start").write_text("#!/bin/sh\n")
    (app / "bin" / "start").chmod(0o755)
    tree, _ = prepare(app, tmp_path)
    assert os.access(tree.app_dir / "bin" / "start", os.X_OK)
    assert not os.access(tree.app_dir / "web.js", os.X_OK)


def test_the_source_is_never_modified(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "slugignore-patterns", src)
    before = snapshot(src)
    tree, _ = prepare(src, tmp_path)
    (tree.app_dir / "app.js").write_text("changed by a buildpack")
    assert snapshot(src) == before


def test_a_fifo_is_left_out_with_a_warning(app, tmp_path):
    os.mkfifo(app / "pipe")
    tree, log = prepare(app, tmp_path)
    assert files_under(tree.app_dir) == {"web.js"}
    assert log.texts("warn") == ["pipe: not a regular file, directory or symlink; left out of the slug"]


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_the_commit_of_a_git_checkout_wins_over_the_flag(app, tmp_path):
    git(app, "init", "-q")
    git(app, "add", ".")
    git(app, "commit", "-qm", "first")
    head = git(app, "rev-parse", "HEAD")
    tree, log = prepare(app, tmp_path, commit="abc123")
    assert tree.commit == head
    assert log.texts("warn") == [f"--commit abc123 ignored: {app} is a git checkout at {head}"]


def test_outside_a_checkout_the_commit_comes_from_the_flag_or_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name, flag in (("a", "abc123"), ("b", None)):
        src = tmp_path / name
        src.mkdir()
        assert source.prepare(src, tmp_path / f"build-{name}", RecordingLog(), commit=flag).commit == flag


def test_a_checkout_without_commits_has_no_commit(app, tmp_path):
    git(app, "init", "-q")
    tree, _ = prepare(app, tmp_path)
    assert tree.commit is None


def _reference_match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """The obvious recursive reading of `**` (exponential in their number): the rules, for small inputs."""
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_reference_match(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], pattern[0]) and _reference_match(pattern[1:], path[1:])


_PARTS = st.sampled_from(["**", "*", "a", "b", "a*", "?", "[ab]"])
_NAMES = st.sampled_from(["a", "b", "ab", "ba", "c"])


@given(st.lists(_PARTS, min_size=1, max_size=6), st.lists(_NAMES, min_size=1, max_size=7))
def test_globstar_matching_agrees_with_the_recursive_rules(pattern, path):
    parsed = source.IgnorePattern.parse("/" + "/".join(pattern))
    assert parsed.matches(tuple(path), False) is _reference_match(parsed.parts, tuple(path))


def test_seven_globstars_cost_at_most_one_part_match_per_pattern_part_and_path_part(monkeypatch):
    # Regression: backtracking over seven `**` took 52 s for one path; the work must stay linear.
    calls = []
    real = fnmatch.fnmatchcase
    monkeypatch.setattr(fnmatch, "fnmatchcase", lambda name, pat: calls.append(pat) or real(name, pat))
    pattern = source.IgnorePattern.parse("a/**/**/**/**/**/**/**/z")
    path = ("a", *["d"] * 200)
    assert pattern.matches(path, False) is False
    assert len(calls) <= len(path) * len(pattern.parts)
    assert pattern.matches((*path, "z"), False) is True
