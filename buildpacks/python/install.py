"""Installing the app's dependencies as Heroku does: `pip install -r requirements.txt`, `pipenv install
--deploy`, `poetry sync --only main`, `uv sync --locked --no-default-groups` (lib/pip.sh, pipenv.sh,
poetry.sh and uv.sh of heroku/heroku-buildpack-python), into .heroku/python itself, never a venv."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed

COMMANDS = {
    "pip": ["pip", "install", "-r", "requirements.txt"],
    "pipenv": ["pipenv", "install", "--deploy"],
    "poetry": ["poetry", "sync", "--only", "main"],
    "uv": ["uv", "sync", "--locked", "--no-default-groups"],
}
# Flags Heroku passes but does not show in the log line.
QUIET_FLAGS = {
    "pip": ["--exists-action=w", "--no-input", "--progress-bar", "off", "--no-warn-script-location"],
    "pipenv": [],
    "poetry": ["--compile", "--no-ansi", "--no-interaction"],
    "uv": ["--compile-bytecode", "--no-progress", "--color", "never"],
}
LOCKFILES = {"pip": "requirements.txt", "pipenv": "Pipfile.lock", "poetry": "poetry.lock", "uv": "uv.lock"}
FIXES = {
    "pip": "fix requirements.txt (a name or version the package index does not have?) or PIP_INDEX_URL",
    "pipenv": "run 'pipenv lock' if Pipfile.lock is out of date, and commit it",
    "poetry": "run 'poetry lock' if poetry.lock is out of date, and commit it",
    "uv": "run 'uv lock' if uv.lock is out of date, and commit it",
}
_ERROR_LINE = re.compile(r"^(ERROR:|error:|Error:|\s*[-x] )|(No matching distribution|needs to be updated|"
                         r"pyproject\.toml changed)")


def check_lockfile(app_dir: Path, manager: str) -> None:
    """An unparsable poetry.lock or uv.lock (or a uv.lock without pyproject.toml) stops the build before
    any tool runs; Pipfile.lock is parsed with the Python version."""
    if manager not in ("poetry", "uv"):
        return
    lock = LOCKFILES[manager]
    if not (app_dir / "pyproject.toml").is_file():
        raise BuildFailed(f"{lock} was found but pyproject.toml was not; commit the pyproject.toml the "
                          f"lockfile was made from")
    for name in (lock, "pyproject.toml"):
        try:
            tomllib.loads((app_dir / name).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            tool = "poetry lock" if manager == "poetry" else "uv lock"
            raise BuildFailed(f"Can't parse {name}: {exc}; fix the file and run '{tool}' to regenerate "
                              f"{lock}") from None


def manager_env(manager: str, python_home: Path) -> dict[str, str]:
    """The variables Heroku sets so the tool installs into the app's Python, not a virtualenv."""
    env: dict[str, str] = {}
    if manager == "pip":
        env["PIP_SRC"] = str(python_home / "src")
    if manager == "pipenv":
        env.update({"PIPENV_SYSTEM": "1", "PIPENV_VERBOSITY": "-1", "PIPENV_NOSPIN": "1",
                    "VIRTUAL_ENV": str(python_home), "PIP_SRC": str(python_home / "src")})
    if manager == "poetry":
        env.update({"POETRY_VIRTUALENVS_CREATE": "false", "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true",
                    "VIRTUAL_ENV": str(python_home)})
    if manager == "uv":
        env.update({"UV_PROJECT_ENVIRONMENT": str(python_home), "UV_NO_MANAGED_PYTHON": "1",
                    "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy"})
    return env


def install(ctx: BuildContext, manager: str, env: Mapping[str, str], tool_bin: Path | None) -> None:
    """Run the package manager; a failure ends as one line naming the lockfile and the fix."""
    shown = COMMANDS[manager]
    ctx.log.step(f"Installing dependencies using '{' '.join(shown)}'")
    program = [str(tool_bin / shown[0])] if tool_bin is not None else [shown[0]]
    try:
        ctx.run([*program, *shown[1:], *QUIET_FLAGS[manager]], env=env)
    except CommandFailed as exc:
        raise BuildFailed(f"Unable to install dependencies using {manager} ({LOCKFILES[manager]}): "
                          f"{_reason(exc.tail)}; {FIXES[manager]}") from None


def _reason(tail: Sequence[str]) -> str:
    """The line of the tool's output that says what went wrong, else its last line."""
    lines = [line.strip() for line in tail if line.strip()]
    found = [line for line in lines if _ERROR_LINE.search(line)]
    return (found or lines or ["no output"])[-1]
