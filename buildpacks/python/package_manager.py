"""Which package manager an app uses, from its files, with Heroku's messages for the near misses
(lib/package_manager.sh and bin/detect of heroku/heroku-buildpack-python)."""

from __future__ import annotations

from pathlib import Path

from slugbuild.errors import BuildFailed

# Files that make an app a Python app for detection. Wider than the package managers' files on purpose,
# as Heroku's bin/detect: an app missing its lockfile is detected and then told what is missing.
PROJECT_FILES = (
    ".python-version", "__init__.py", "app.py", "main.py", "manage.py", "pdm.lock", "Pipfile",
    "Pipfile.lock", "poetry.lock", "pyproject.toml", "requirements.txt", "runtime.txt", "server.py",
    "setup.cfg", "setup.py", "uv.lock",
    # requirements.txt as it is commonly misspelled (pip does not write it, people type it)
    "requeriments.txt", "requirement.txt", "requirements", "requirements.text", "Requirements.txt",
    "requirements.txt.txt", "requirments.txt",
    "__pycache__", ".venv", "venv",
)
# (lockfile, package manager, how Heroku names it in the "several found" message), in Heroku's order
LOCKFILES = (
    ("Pipfile.lock", "pipenv", "Pipfile.lock (Pipenv)"),
    ("requirements.txt", "pip", "requirements.txt (pip)"),
    ("poetry.lock", "poetry", "poetry.lock (Poetry)"),
    ("uv.lock", "uv", "uv.lock (uv)"),
)
NEEDED = "a 'requirements.txt', 'Pipfile.lock', 'poetry.lock' or 'uv.lock' file in the app's root directory"
EMPTY_REQUIREMENTS = "(an app without dependencies can commit an empty requirements.txt)"


def is_python_project(app_dir: Path) -> bool:
    """True when any file Heroku's Python bin/detect looks for is there."""
    return any((app_dir / name).exists() for name in PROJECT_FILES)


def determine(app_dir: Path) -> str:
    """The one package manager the app's lockfile names (pip, pipenv, poetry or uv), else BuildFailed."""
    if (app_dir / "Pipfile").is_file() and not (app_dir / "Pipfile.lock").is_file():
        raise BuildFailed("No 'Pipfile.lock' found: a Pipfile without its lockfile leaves dependency "
                          "versions unpinned, which is no longer supported; run 'pipenv lock' and commit "
                          "Pipfile.lock (not listed in .gitignore or .slugignore)")
    found = [(manager, shown) for lock, manager, shown in LOCKFILES if (app_dir / lock).is_file()]
    if len(found) == 1:
        return found[0][0]
    if len(found) > 1:
        names = ", ".join(shown for _, shown in found)
        raise BuildFailed(f"Multiple Python package manager files were found ({names}); exactly one "
                          "should be present: decide which package manager the app uses and delete the "
                          "others' files and config")
    if (app_dir / "setup.py").is_file():
        raise BuildFailed("Implicit setup.py file support has been sunset: the app has a setup.py but no "
                          "package manager file; to keep installing it with pip in editable mode, create "
                          "a requirements.txt containing '--editable .'")
    present = ", ".join(_listing(app_dir)) or "nothing"
    raise BuildFailed(f"Couldn't find any supported Python package manager files (the app's root has: "
                      f"{present}); add {NEEDED} {EMPTY_REQUIREMENTS}")


def _listing(app_dir: Path) -> list[str]:
    """The root directory as Heroku shows it (`ls -1A --indicator-style=slash`)."""
    return sorted(p.name + ("/" if p.is_dir() else "") for p in app_dir.iterdir())
