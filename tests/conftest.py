"""Shared fixtures: run the CLI in-process and see what a user would see."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
MIRROR = ROOT / ".cache" / "mirror"
# Where slugbuild would write without --cache-dir or --data-dir, relative to HOME.
USER_DIRS = (Path(".cache") / "slugbuild", Path(".local") / "share" / "slugbuild")
_HOME = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """The tests run with a HOME of their own, so none of them reads or fills the developer's home."""
    home = Path(tempfile.mkdtemp(prefix="slugbuild-tests-home-"))
    for variable in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        os.environ.pop(variable, None)
    os.environ["HOME"] = str(home)
    config.stash[_HOME] = home


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that wrote into the user's cache or data directory fails the run, naming the directory."""
    home = session.config.stash.get(_HOME, None)
    if home is None:
        return
    leaked = [str(d) for d in USER_DIRS if (home / d).exists()]
    shutil.rmtree(home, ignore_errors=True)
    if leaked:
        print(f"\nA test wrote outside its temporary directory, into {', '.join(leaked)} under HOME: give "
              "it --cache-dir / --data-dir (or SLUGBUILD_CACHE_DIR)", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED



@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


@pytest.fixture
def run_cli(tmp_path):
    """Run `slugbuild ARGS` as a user would (a subprocess), with its cache inside tmp_path by default."""

    def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 600) -> CliResult:
        import os

        full_env = {**os.environ, "SLUGBUILD_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "slugbuild", *map(str, args)], capture_output=True,
                              text=True, env=full_env, cwd=cwd or tmp_path, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
