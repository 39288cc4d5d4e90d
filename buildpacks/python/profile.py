"""What a dyno sources at start (.profile.d/python.sh, WEB_CONCURRENCY.sh, python.gunicorn.sh), with the
values Heroku's bin/compile writes."""

from __future__ import annotations

from importlib.resources import files

from slugbuild.buildpack import BuildContext

PROFILE = """\
export PATH="$HOME/.heroku/python/bin:$PATH"
export PYTHONUNBUFFERED="true"
export PYTHONHOME="$HOME/.heroku/python"
export LIBRARY_PATH="$HOME/.heroku/python/lib${LIBRARY_PATH:+:${LIBRARY_PATH}}"
export LD_LIBRARY_PATH="$HOME/.heroku/python/lib${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
export LANG="${LANG:-en_US.UTF-8}"
export PYTHONPATH="${PYTHONPATH:-$HOME}"
"""
PIP_PROFILE = 'export PIP_DISABLE_PIP_VERSION_CHECK="1"\n'
GUNICORN = """\
# Written by the Python buildpack: gunicorn trusts the router's X-Forwarded-* and logs requests to stdout.
export FORWARDED_ALLOW_IPS='*'
export GUNICORN_CMD_ARGS=${GUNICORN_CMD_ARGS:-"--access-logfile -"}
"""


def scripts(manager: str) -> dict[str, str]:
    """The .profile.d scripts by file name."""
    concurrency = files("slugbuild.buildpacks.python").joinpath("WEB_CONCURRENCY.sh").read_text()
    return {
        "python.sh": PROFILE + (PIP_PROFILE if manager == "pip" else ""),
        "WEB_CONCURRENCY.sh": concurrency,
        "python.gunicorn.sh": GUNICORN,
    }


def write(ctx: BuildContext, manager: str) -> None:
    for name, text in scripts(manager).items():
        ctx.write_profile(name, text)
