"""Django's `manage.py collectstatic --noinput`, as Heroku's bin/steps/collectstatic runs it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed

MAX_DEPTH = 3  # Heroku looks for manage.py this deep (`find -maxdepth 3`: ./a/b/manage.py at most)
# What the output says about the cause, and what Heroku's docs advise for it.
CAUSES = (
    ("SyntaxError", "a Python syntax error in the app's code"),
    ("ImproperlyConfigured", "the Django settings are incomplete (is STATIC_ROOT set?)"),
    ("The CSS file", "a CSS file refers to a file that does not exist"),
    ("OSError", "a file or directory it needs is missing"),
)


def manage_py(app_dir: Path) -> Path | None:
    """The shallowest manage.py at most three directories down, as Heroku finds it."""
    found = []
    for directory, dirs, files in os.walk(app_dir):
        depth = len(Path(directory).relative_to(app_dir).parts)
        if depth >= MAX_DEPTH - 1:
            dirs.clear()
        dirs[:] = sorted(d for d in dirs if not d.startswith(".heroku"))
        if "manage.py" in files:
            found.append((depth, str(Path(directory, "manage.py").relative_to(app_dir))))
    return app_dir / min(found)[1] if found else None


def collectstatic(ctx: BuildContext, python_home: Path, env: Mapping[str, str]) -> None:
    """Run collectstatic when Django is installed and a manage.py exists, unless DISABLE_COLLECTSTATIC."""
    if (ctx.app_dir / ".heroku" / "collectstatic_disabled").is_file():
        ctx.log.step("Skipping Django collectstatic since the file '.heroku/collectstatic_disabled' exists.")
        ctx.log.warn("The .heroku/collectstatic_disabled file is deprecated; remove it and set the config "
                     "var DISABLE_COLLECTSTATIC=1 instead")
        return
    if ctx.config.get("DISABLE_COLLECTSTATIC", "0") != "0":
        ctx.log.step("Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set.")
        return
    if not any((python_home / "lib").glob("python3.*/site-packages/django/__init__.py")):
        return
    manage = manage_py(ctx.app_dir)
    if manage is None:
        ctx.log.step("Skipping Django collectstatic since no manage.py file found.")
        return
    rel = manage.relative_to(ctx.app_dir)
    ctx.log.step(f"$ python {rel} collectstatic --noinput")
    run_env = {**env, "PYTHONPATH": ctx.config.get("PYTHONPATH", ".")}
    try:
        ctx.run([python_home / "bin" / "python3", rel, "collectstatic", "--noinput", "--traceback"],
                env=run_env)
    except CommandFailed as exc:
        cause = next((why for marker, why in CAUSES if any(marker in line for line in exc.tail)), None)
        because = f": {cause}" if cause else ""
        raise BuildFailed(f"Unable to generate Django static files: 'python {rel} collectstatic --noinput' "
                          f"failed{because}; see the traceback above, then fix the app or set the config var "
                          "DISABLE_COLLECTSTATIC=1 to skip this step") from None
