"""The app's own files (Procfile, package.json, go.mod, Gemfile.lock, ...), read only from inside the app.

Every file slugbuild or a buildpack reads from the app goes through here, so one rule holds for all: a
symlink may point anywhere inside the app, but one pointing outside it, or a name that is not a regular
file (a directory, a FIFO that would block the build), is refused in one line naming the file. Nothing
outside the source is ever read, hashed, executed or echoed in a message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from slugbuild.errors import BuildFailed


class UnsafeAppFile(BuildFailed):
    """An app file that is a symlink out of the app or not a regular file."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name} {why}; nothing outside the source is read: commit the file itself in "
                         "its place")


def path(app_dir: Path, name: str) -> Path | None:
    """`app_dir/name` when it is a regular file inside the app (through links that stay inside), None when
    there is no such file; UnsafeAppFile when it leads out of the app or to something else than a file."""
    root = Path(app_dir).resolve()
    candidate = root / name
    if not os.path.lexists(candidate):
        return None
    try:
        target = candidate.resolve()
    except (OSError, RuntimeError):  # a loop of links (RuntimeError before Python 3.13)
        raise UnsafeAppFile(name, "is a loop of symlinks") from None
    if not target.is_relative_to(root):
        raise UnsafeAppFile(name, "is a symlink pointing outside the app")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return None  # a link to a file inside the app that is not there: as if there were no file
    except OSError as exc:
        raise UnsafeAppFile(name, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise UnsafeAppFile(name, "is not a regular file")
    return target


def read_bytes(app_dir: Path, name: str) -> bytes | None:
    """The bytes of the app file `name`, None when the app has none; UnsafeAppFile as `path`."""
    found = path(app_dir, name)
    if found is None:
        return None
    try:
        return found.read_bytes()
    except OSError as exc:
        raise UnsafeAppFile(name, f"cannot be read ({exc.strerror})") from None


def read_text(app_dir: Path, name: str, *, errors: str = "replace") -> str | None:
    """The app file `name` as UTF-8 text (a BOM dropped; bad bytes replaced unless `errors` says
    otherwise), None when the app has none; UnsafeAppFile as `path`."""
    data = read_bytes(app_dir, name)
    return None if data is None else data.decode("utf-8-sig", errors=errors)
