"""The Python packages a build put into the slug, for the SBOM: read from what the installer recorded in
site-packages (each `*.dist-info/METADATA`), so it lists exactly what landed, whichever tool put it there;
the app's direct dependencies come from the lockfile's project file."""

from __future__ import annotations

import json
import re
import tomllib
from email.parser import HeaderParser
from pathlib import Path

from packageurl import PackageURL

from slugbuild.inventory import Inventory, Package

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalized(name: str) -> str:
    """PEP 503's form of a project name: `Flask_Login` -> `flask-login`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def purl(name: str, version: str) -> str:
    return PackageURL(type="pypi", name=normalized(name), version=version).to_string()


def read(app_dir: Path, python_home: Path, lockfile: str) -> Inventory:
    """Every distribution installed under `python_home`, with what each requires and what the app asks for."""
    installed: dict[str, tuple[str, str, list[str]]] = {}
    for metadata in sorted(python_home.glob("lib/python3.*/site-packages/*.dist-info/METADATA")):
        try:
            headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            return Inventory(lockfile, problem=f"{metadata.parent.name} could not be read ({exc.strerror})")
        name, version = headers.get("Name"), headers.get("Version")
        if name and version:
            requires = headers.get_all("Requires-Dist") or []
            needs = [_requirement_name(r) for r in requires if "extra ==" not in r]  # extras: optional
            installed[normalized(name)] = (name, version, [n for n in needs if n])
    packages = tuple(
        Package(purl(name, version), name, version,
                depends_on=tuple(sorted(purl(*installed[n][:2]) for n in needs if n in installed)))
        for _, (name, version, needs) in sorted(installed.items()))
    direct = tuple(sorted(purl(*installed[n][:2]) for n in _direct(app_dir, lockfile) if n in installed))
    return Inventory(lockfile, packages, direct)


def _requirement_name(requirement: str) -> str | None:
    match = _NAME.match(requirement)
    return normalized(match.group(1)) if match else None


def _direct(app_dir: Path, lockfile: str) -> set[str]:
    """The names the app itself asks for: requirements.txt lines, Pipfile.lock's default packages, or
    pyproject.toml's dependencies (PEP 621, or Poetry's table)."""
    try:
        if lockfile == "requirements.txt":
            lines = (app_dir / lockfile).read_text(encoding="utf-8", errors="replace").splitlines()
            return {n for line in lines if not line.lstrip().startswith(("-", "#"))
                    and (n := _requirement_name(line))}
        if lockfile == "Pipfile.lock":
            return {normalized(n) for n in json.loads((app_dir / lockfile).read_text()).get("default", {})}
        project = tomllib.loads((app_dir / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError):
        return set()
    names = {n for r in project.get("project", {}).get("dependencies", []) if (n := _requirement_name(r))}
    poetry = project.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return names | {normalized(n) for n in poetry if n != "python"}
