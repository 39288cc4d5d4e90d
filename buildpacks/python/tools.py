"""The package managers at the versions Heroku pins (requirements/*.txt of heroku/heroku-buildpack-python
at b4e7e72): pip goes into the app's Python, as on Heroku; Pipenv, Poetry and uv into virtual
environments kept in the build cache, made from the cached (unchanging) copy of the runtime."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed
from slugbuild.fetch import manifest

PIP_VERSION = "26.2.1"
PIPENV_VERSION = "2026.7.1"
POETRY_VERSION = "2.4.1"
UV_VERSION = "0.12.5"
SETUPTOOLS_VERSION = "70.3.0"  # Heroku still adds it for Python 3.12 and older
SETUPTOOLS_MAJORS = ("3.10", "3.11", "3.12")
VERSIONS = {"pip": PIP_VERSION, "pipenv": PIPENV_VERSION, "poetry": POETRY_VERSION, "uv": UV_VERSION}
NAMES = {"pip": "pip", "pipenv": "Pipenv", "poetry": "Poetry", "uv": "uv"}
# Heroku's export_env_dir deny list, plus what would point the tools at another Python.
DENIED_CONFIG = re.compile(r"^(PATH|GIT_DIR|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LANG|BUILD_DIR|"
                           r"PYTHONHOME|PYTHONPATH|VIRTUAL_ENV)$")


def bundled_pip(python_home: Path, major: str) -> Path:
    """The pip module inside the wheel the standard library bundles for ensurepip (Python runs it from
    the zip), which bootstraps the pinned pip without get-pip.py."""
    wheels = sorted((python_home / "lib" / f"python{major}" / "ensurepip" / "_bundled").glob("pip-*.whl"))
    if not wheels:
        raise BuildFailed(f"{python_home}/lib/python{major}/ensurepip/_bundled holds no pip wheel, so pip "
                          "cannot be installed; the Python archive is incomplete: rebuild the mirror")
    return wheels[-1] / "pip"


def tool_env(ctx: BuildContext, python_home: Path) -> dict[str, str]:
    """What every install step runs with: the app's config vars (PIP_INDEX_URL, UV_INDEX_URL, ...),
    the tools' caches in the build cache, and no pip configuration of the building machine."""
    env = {k: v for k, v in ctx.config.items() if not DENIED_CONFIG.match(k)}
    env.update({
        "PATH": f"{python_home / 'bin'}:{ctx.env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "LANG": "en_US.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CONFIG_FILE": "/dev/null",  # a dyno's build has no global pip.conf; neither does this one
        "PIP_ROOT_USER_ACTION": "ignore",  # builds often run as root in containers; Heroku's never do
    })
    env.setdefault("PIP_CACHE_DIR", str(ctx.cache_dir / "pip-cache"))
    env.setdefault("UV_CACHE_DIR", str(ctx.cache_dir / "uv-cache"))
    env.setdefault("POETRY_CACHE_DIR", str(ctx.cache_dir / "poetry-cache"))
    env.setdefault("PIPENV_CACHE_DIR", str(ctx.cache_dir / "pipenv-cache"))
    if ctx.offline:
        env.update({"PIP_NO_INDEX": "1", "UV_OFFLINE": "1"})
    return env


def install_pip(ctx: BuildContext, python_home: Path, major: str, env: Mapping[str, str]) -> None:
    """pip (and setuptools up to Python 3.12) at Heroku's versions, into the app's Python."""
    packages = [f"pip=={PIP_VERSION}"]
    shown = f"pip {PIP_VERSION}"
    if major in SETUPTOOLS_MAJORS:
        packages.append(f"setuptools=={SETUPTOOLS_VERSION}")
        shown += f" and setuptools {SETUPTOOLS_VERSION}"
    ctx.log.step(f"Installing {shown}")
    python = python_home / "bin" / "python3"
    try:
        ctx.run([python, bundled_pip(python_home, major), "install", "--no-input", "--quiet",
                 "--no-warn-script-location", *packages], env=env)
    except CommandFailed:
        raise _unreachable("pip", ctx.offline) from None


def install_tool(ctx: BuildContext, tool: str, runtime_tree: Path, major: str,
                 env: Mapping[str, str]) -> Path:
    """Pipenv, Poetry or uv in its own virtual environment in the build cache; return its bin/ directory.
    Kept per tool version and runtime checksum, so a rebuild reuses it once its manifest checks out. One
    build at a time installs it (a lock beside it); the others wait and then use what it installed."""
    version = VERSIONS[tool]
    home = ctx.cache_dir / "tools" / f"{tool}-{version}-{runtime_tree.parent.name}"
    seal = home.with_name(f"{home.name}.{manifest.MANIFEST}")  # beside it: a venv runs from a fixed path
    home.parent.mkdir(parents=True, exist_ok=True)
    with _installing(home):
        if _intact(ctx, home, seal, f"{tool}=={version}"):
            ctx.log.step(f"Using cached {NAMES[tool]} {version}")
            return home / "bin"
        ctx.log.step(f"Installing {NAMES[tool]} {version}")
        seal.unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)  # an earlier attempt that did not finish, or a changed one
        quiet = {**env, "PYTHONDONTWRITEBYTECODE": "1"}  # the cached runtime is shared: never write into it
        try:
            ctx.run([runtime_tree / "bin" / "python3", "-m", "venv", "--without-pip", home], env=quiet)
            ctx.run([home / "bin" / "python3", bundled_pip(runtime_tree, major), "install", "--no-input",
                     "--quiet", f"{tool}=={version}"], env=env)
        except CommandFailed:
            shutil.rmtree(home, ignore_errors=True)
            raise _unreachable(NAMES[tool], ctx.offline) from None
        manifest.write(seal, manifest.scan(home), f"{tool}=={version}")  # last: marks it usable
    return home / "bin"


@contextlib.contextmanager
def _installing(home: Path) -> Iterator[None]:
    """An exclusive lock on `home`'s lock file for as long as the block runs."""
    with open(home.with_name(f".{home.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _intact(ctx: BuildContext, home: Path, seal: Path, requirement: str) -> bool:
    """Whether `home` is as it was installed; a changed one is named in one warning. Without a manifest
    (an install that did not finish) it is simply not there yet."""
    if not (home.is_dir() and seal.is_file()):
        return False
    entries = manifest.read(seal, requirement)
    changed = seal.name if entries is None else manifest.first_change(home, entries)
    if changed is None:
        return True
    ctx.log.warn(f"the cached {requirement} in the build cache was changed after it was installed "
                 f"({changed}); installing it again")
    return False


def _unreachable(name: str, offline: bool) -> BuildFailed:
    if offline:
        return BuildFailed(f"--offline: {name} is not in the build cache yet; build once online or drop "
                           "--offline")
    return BuildFailed(f"Unable to install {name} from the package index; check PIP_INDEX_URL (a config "
                       "var) and the network, then build again")
