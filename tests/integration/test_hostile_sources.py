"""Source trees and paths a fuzzing run found tracebacks on, built and run through the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BUILDPACK = FIXTURES / "classic-greeter"
LONG_NAME = "d" * 250  # 17 of these make a path longer than PATH_MAX (4096) at a depth anything can remove


def slugbuild(*args: str | bytes, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    # Strict UTF-8 on stdout, as under an en_US.UTF-8 locale (C.UTF-8 would hide the bug by escaping).
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "TMPDIR": str(tmp),
           "SLUGBUILD_CACHE_DIR": str(cwd / "c")}
    return subprocess.run([sys.executable, "-m", "slugbuild", *args], capture_output=True, env=env, cwd=cwd,
                          timeout=120)


@pytest.fixture
def place(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "classic-app", tmp_path / "src")
    (tmp_path / "tmp").mkdir()
    return tmp_path


def test_regression_a_slug_path_that_is_not_utf8_is_printed_as_its_own_bytes(place):
    done = slugbuild(b"build", b"src", b"-b", bytes(BUILDPACK), b"-o", b"\xff\xfe.tgz", cwd=place,
                     tmp=place / "tmp")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1] == b"       Path: " + bytes(place) + b"/\xff\xfe.tgz"
    assert (place / os.fsdecode(b"\xff\xfe.tgz")).is_file()
    assert (place / os.fsdecode(b"\xff\xfe.tgz.json")).is_file()


def test_regression_a_source_directory_that_is_not_utf8_is_named_in_one_line(place):
    done = slugbuild(b"build", b"\xfemissing", cwd=place, tmp=place / "tmp")
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert done.stderr.strip() == (b"!     source directory \xfemissing does not exist; "
                                   b"give the app's directory")


def test_regression_a_600_level_tree_is_copied_packed_run_and_cleaned_up(place):
    deep = place / "src"
    for _ in range(600):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("found\n")
    built = slugbuild("build", "src", "-b", str(BUILDPACK), "-o", "deep.tgz", cwd=place, tmp=place / "tmp")
    assert built.returncode == 0, built.stderr.decode(errors="replace")[-2000:]
    with tarfile.open(place / "deep.tgz") as tar:
        assert "./app/" + "d/" * 600 + "bottom.txt" in tar.getnames()
    ran = slugbuild("run", "deep.tgz", "--", "cat", "d/" * 600 + "bottom.txt", cwd=place, tmp=place / "tmp")
    assert ran.returncode == 0, ran.stderr.decode(errors="replace")[-2000:]
    assert ran.stdout.splitlines()[-1] == b"found"
    assert list((place / "tmp").iterdir()) == []
    shutil.rmtree(place / "src")  # here, not in pytest's clean-up of old runs, which may start deeper


def test_regression_a_tree_deeper_than_paths_can_be_is_one_line_naming_the_fix(place):
    os.chdir(place / "src")  # built by relative steps: its full path is longer than PATH_MAX
    try:
        for _ in range(17):
            os.mkdir(LONG_NAME)
            os.chdir(LONG_NAME)
    finally:
        os.chdir(place)
    done = slugbuild("build", "src", "-b", str(BUILDPACK), "-o", "deep.tgz", cwd=place, tmp=place / "tmp")
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1].decode()
    assert line.startswith("!     could not copy the source ") and len(line) < 300
    assert line.endswith(": File name too long; shorten the path or leave it out with .slugignore")
    assert list((place / "tmp").iterdir()) == []
    assert not (place / "deep.tgz").exists()
