"""The checkout keeps to itself: make's commands cache under .cache, `make clean` removes what they made,
`make runtimes` says what it does from the start, and .gitignore hides no tracked file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE_VARIABLES = ("SLUGBUILD_CACHE_DIR", "npm_config_cache", "PIP_CACHE_DIR")
SHOW_ENV = "show-env:\n\t@echo " + " ".join(f"$${name}" for name in CACHE_VARIABLES) + "\n"


def test_makes_commands_keep_their_caches_in_the_checkout():
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    shown = subprocess.run(["make", "-s", "-f", "Makefile", "-f", "-", "show-env"], input=SHOW_ENV, text=True,
                           capture_output=True, cwd=ROOT, env=env, check=True).stdout.split()
    assert len(shown) == len(CACHE_VARIABLES)
    assert all(Path(path).is_relative_to(ROOT / ".cache") for path in shown), shown


def test_make_clean_removes_what_the_make_commands_made(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    made = [".venv/bin", ".cache/mirror/node", ".cache/slugbuild", ".cache/npm", ".demo/api", ".pytest_cache"]
    for directory in made:
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "slug.tgz").write_bytes(b"")
    (tmp_path / "keep.txt").write_text("the user's own file\n")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile", "keep.txt"]


def test_mirror_says_what_it_fetches_before_the_first_registry_call(tmp_path):
    """`make runtimes` starts with `slugbuild mirror --from-registries`, whose first npm call can take
    seconds: a fake npm copies what was printed so far when it is called, then fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text('#!/bin/sh\ncp "$MIRROR_OUT" "$SEEN"\necho "npm error" >&2\nexit 1\n')
    (bin_dir / "npm").chmod(0o755)
    out = tmp_path / "out.txt"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MIRROR_OUT": str(out),
           "SEEN": str(tmp_path / "seen.txt")}
    with open(out, "w") as stdout:
        argv = [sys.executable, "-m", "slugbuild", "mirror", tmp_path / "mirror", "--node", "24",
                "--from-registries", "--cache-dir", tmp_path / "cache"]
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, text=True)
    assert done.returncode == 1 and "npm error" in done.stderr
    assert (tmp_path / "seen.txt").read_text().splitlines() == [
        f"-----> Mirroring node 24 from the npm registry into {tmp_path / 'mirror' / 'node'}"]


def test_gitignore_hides_no_tracked_file():
    ignored = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert ignored == []
