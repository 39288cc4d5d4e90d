"""Procfile parsing with Heroku's rules: `name: command` lines, blanks and `#` comments ignored."""

from __future__ import annotations

import re
from pathlib import Path

from slugbuild import app_files
from slugbuild.errors import BuildFailed
from slugbuild.log import BuildLog

PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$", re.ASCII)


class BadProcessType(BuildFailed):
    """A Procfile line whose process type name Heroku would refuse."""

    def __init__(self, lineno: int, name: str) -> None:
        super().__init__(f"Procfile:{lineno}: process type {name!r} may use only letters, digits, - and _ "
                         "(at most 128 characters); rename it")


class UnreadableProcfile(BuildFailed):
    """A Procfile that cannot be read as UTF-8 text inside the app."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Procfile: {why}; save it as a UTF-8 text file of `name: command` lines")


def parse(text: str, log: BuildLog) -> dict[str, str]:
    """Process types in file order; a bad name is an error, a line that is not `name: command` a warning."""
    types: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not name or not command:
            log.warn(f"Procfile:{lineno}: {line!r} is not `name: command`; line skipped")
            continue
        if not PROCESS_TYPE.match(name):
            raise BadProcessType(lineno, name)
        if name in types:
            log.warn(f"Procfile:{lineno}: process type {name!r} declared again; the last one wins")
            del types[name]
        types[name] = command
    return types


def read(app_dir: Path, log: BuildLog) -> dict[str, str] | None:
    """The app's Procfile process types, or None when it has no Procfile."""
    data = app_files.read_bytes(app_dir, "Procfile")
    if data is None:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableProcfile("not valid UTF-8") from None
    return parse(text, log)
