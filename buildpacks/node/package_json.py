"""package.json: parsed once, with the few fields the Node.js buildpack reads."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slugbuild import app_files
from slugbuild.errors import BuildFailed

DEPENDENCY_KINDS = ("dependencies", "devDependencies", "optionalDependencies")
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
              type(None): "null"}


class BadPackageJson(BuildFailed):
    """package.json is not valid JSON, or not a JSON object."""

    def __init__(self, why: str) -> None:
        # Named relative to the app: the buildpack works on a copy whose path means nothing to the user.
        super().__init__(f"Unable to parse package.json: {why}; "
                         "fix the JSON (a trailing comma or a missing quote is the usual cause)")


@dataclass(frozen=True)
class PackageJson:
    """The parts of package.json that decide how the app is built and started."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def scripts(self) -> dict[str, str]:
        scripts = self.data.get("scripts")
        return {k: v for k, v in scripts.items() if isinstance(v, str)} if isinstance(scripts, dict) else {}

    def has_script(self, name: str) -> bool:
        return name in self.scripts

    def has_dependencies(self) -> bool:
        return any(self.data.get(kind) for kind in DEPENDENCY_KINDS)

    def has_install_scripts(self) -> bool:
        """Scripts `npm install` itself runs for the app, even with nothing to install."""
        return any(self.has_script(s) for s in INSTALL_SCRIPTS)

    def engine(self, name: str) -> str | None:
        """`engines.<name>` as written (stripped), or None when absent or not a string."""
        engines = self.data.get("engines")
        value = engines.get(name) if isinstance(engines, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # `"node": 20` means the range "20"
        return value.strip() if isinstance(value, str) else None

    @property
    def package_manager(self) -> tuple[str, str] | None:
        """`packageManager` ("pnpm@9.1.0+sha512...") as (name, version), the hash dropped."""
        value = self.data.get("packageManager")
        if not isinstance(value, str) or "@" not in value:
            return None
        name, _, version = value.partition("@")
        return name.strip(), version.split("+", 1)[0].strip()


def read(app_dir: Path) -> PackageJson:
    """The app's package.json; BadPackageJson naming the parse position when it is not a JSON object."""
    path = app_dir / "package.json"
    try:
        data = json.loads(app_files.read_text(app_dir, "package.json", errors="strict") or "")
    except json.JSONDecodeError as exc:
        raise BadPackageJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadPackageJson("it nests arrays or objects too deeply") from None
    except UnicodeDecodeError as exc:
        raise BadPackageJson(f"not UTF-8 text (byte {exc.start})") from None
    except ValueError:  # the one other ValueError json raises: an integer too long to convert
        raise BadPackageJson(f"a number has more than {sys.get_int_max_str_digits()} digits") from None
    if not isinstance(data, dict):
        kind = JSON_KINDS.get(type(data), "value")
        raise BadPackageJson(f"the top level is {kind}, not an object")
    return PackageJson(path, data)
