"""The modules a Go build compiled in, read from go.mod and go.sum, for the SBOM."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from packageurl import PackageURL

from slugbuild.inventory import Inventory, Package

_REQUIRE_LINE = re.compile(r"^\s*(?:require\s+)?([^\s()]+)\s+(v[^\s/]+)(\s*//\s*indirect)?\s*$")
_MODULE = re.compile(r"^\s*module\s+(\S+)", re.MULTILINE)
_VENDORED = re.compile(r"^# (\S+) (v\S+)", re.MULTILINE)


def purl(module: str, version: str) -> str:
    """pkg:golang/<module path>@<version>."""
    namespace, _, name = module.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version).to_string()


def read(app_dir: Path) -> Inventory:
    """The modules go.mod requires (vendor/modules.txt when vendored), with go.sum's h1: hash as SHA-256."""
    try:
        gomod = (app_dir / "go.mod").read_text()
        gosum = (app_dir / "go.sum").read_text() if (app_dir / "go.sum").is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        return Inventory("go.mod", problem=f"go.mod or go.sum could not be read ({type(exc).__name__})")
    module = _MODULE.search(gomod)
    required = _required(gomod)
    vendored = app_dir / "vendor" / "modules.txt"
    if vendored.is_file():
        required = {m: (v, required.get(m, (v, True))[1]) for m, v in _VENDORED.findall(vendored.read_text())}
    sums = _sums(gosum)
    packages = tuple(Package(purl(m, v), m, v, sums.get((m, v), {}))
                     for m, (v, _) in sorted(required.items()))
    direct = tuple(sorted(purl(m, v) for m, (v, indirect) in required.items() if not indirect))
    name = module.group(1) if module else None
    return Inventory("go.sum" if gosum else "go.mod", packages, direct, app_name=name)


def _required(gomod: str) -> dict[str, tuple[str, bool]]:
    """module -> (version, indirect) from `require` lines and blocks."""
    found: dict[str, tuple[str, bool]] = {}
    in_block = False
    for line in gomod.splitlines():
        stripped = line.strip()
        if stripped.startswith("require ("):
            in_block = True
        elif in_block and stripped == ")":
            in_block = False
        elif (in_block or stripped.startswith("require ")) and (m := _REQUIRE_LINE.match(stripped)):
            found[m.group(1)] = (m.group(2), bool(m.group(3)))
    return found


def _sums(gosum: str) -> dict[tuple[str, str], dict[str, str]]:
    """go.sum's `module version h1:<base64 sha256>` lines (not the /go.mod ones) as hex SHA-256."""
    found = {}
    for line in gosum.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1].endswith("/go.mod") or not parts[2].startswith("h1:"):
            continue
        try:
            digest = base64.b64decode(parts[2][3:], validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(digest) == 32:
            found[(parts[0], parts[1])] = {"SHA-256": digest.hex()}
    return found
