"""go.mod as the Go buildpack reads it: the module path, the `go` directive and `// +heroku` comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from slugbuild import app_files
from slugbuild.errors import BuildFailed

_MODULE = re.compile(r"^module\s+(\S+)", re.MULTILINE)
_GO = re.compile(r"^go\s+(\S+)", re.MULTILINE)
_HEROKU = re.compile(r"^//\s*\+heroku\s+(\w+)\s*(.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class GoMod:
    """What the buildpack needs from go.mod; absent values are None or empty."""

    module: str
    go_directive: str | None = None
    heroku_go_version: str | None = None
    heroku_install: tuple[str, ...] = field(default_factory=tuple)


def parse(text: str, path: Path) -> GoMod:
    """Parse go.mod text; a go.mod without a `module` line is a BuildFailed naming the file."""
    module = _MODULE.search(text)
    if module is None:
        raise BuildFailed(f"{path} has no `module` line; run `go mod init <module path>` and commit go.mod")
    go = _GO.search(text)
    heroku: dict[str, str] = {}
    for key, value in _HEROKU.findall(text):
        heroku.setdefault(key, value)  # Heroku's awk stops at the first matching line
    install = tuple(heroku.get("install", "").split())
    return GoMod(module=module.group(1).strip('"'), go_directive=go.group(1) if go else None,
                 heroku_go_version=heroku.get("goVersion") or None, heroku_install=install)


def read(app_dir: Path) -> GoMod:
    """The app's go.mod, parsed."""
    return parse(app_files.read_text(app_dir, "go.mod") or "", Path("go.mod"))
