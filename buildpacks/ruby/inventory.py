"""The gems a Ruby build installed, read from Gemfile.lock and checked against vendor/bundle, for the SBOM."""

from __future__ import annotations

import re
from pathlib import Path

from packageurl import PackageURL
from slugbuild.buildpacks.ruby.bundler import BUNDLE_DIR

from slugbuild.inventory import Inventory, Package

_SECTION = re.compile(r"^[A-Z][A-Z ]*$")
_SPEC = re.compile(r"^ {4}([A-Za-z0-9_.-]+) \(([^)\s]+)\)\s*$")
_DEPENDENCY = re.compile(r"^ {6}([A-Za-z0-9_.-]+)(?: \(.*\))?\s*$")
_CHECKSUM = re.compile(r"^ {2}([A-Za-z0-9_.-]+) \(([^)\s]+)\)((?: \S+=\S+,?)*)\s*$")
_TOP_DEPENDENCY = re.compile(r"^ {2}([A-Za-z0-9_.-]+)")


def purl(name: str, version: str, platform: str | None = None) -> str:
    """pkg:gem/<name>@<version>, with ?platform= for a native gem."""
    qualifiers = {"platform": platform} if platform else None
    return PackageURL(type="gem", name=name, version=version, qualifiers=qualifiers).to_string()


def read(app_dir: Path) -> Inventory:
    """Every locked gem bundler installed into vendor/bundle (not those BUNDLE_WITHOUT left out)."""
    path = app_dir / "Gemfile.lock"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return Inventory("Gemfile.lock", problem=f"Gemfile.lock could not be read ({type(exc).__name__})")
    specs, checksums, direct = _parse(text)
    installed = _installed(app_dir)
    packages = []
    for (name, version), deps in sorted(specs.items()):
        if (name, version) not in installed:
            continue
        number, _, platform = version.partition("-")
        needs = tuple(sorted(purl(d, *_split(v)) for d in deps for (n, v) in specs if n == d
                             and (n, v) in installed))
        packages.append(Package(purl(name, number, platform or None), name, number,
                                checksums.get((name, version), {}), None, needs))
    roots = tuple(sorted(p.purl for p in packages if p.name in direct))
    return Inventory("Gemfile.lock", tuple(packages), roots)


def _split(version: str) -> tuple[str, str | None]:
    number, _, platform = version.partition("-")
    return number, platform or None


def _parse(text: str) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], dict[str, str]],
                               set[str]]:
    specs: dict[tuple[str, str], list[str]] = {}
    checksums: dict[tuple[str, str], dict[str, str]] = {}
    direct: set[str] = set()
    section, current = "", None
    for line in text.splitlines():
        if _SECTION.match(line):
            section, current = line.strip(), None
        elif section in ("GEM", "GIT", "PATH") and (m := _SPEC.match(line)):
            current = specs.setdefault((m.group(1), m.group(2)), [])
        elif section in ("GEM", "GIT", "PATH") and current is not None and (m := _DEPENDENCY.match(line)):
            current.append(m.group(1))
        elif section == "CHECKSUMS" and (m := _CHECKSUM.match(line)):
            checksums[(m.group(1), m.group(2))] = _digests(m.group(3))
        elif section == "DEPENDENCIES" and (m := _TOP_DEPENDENCY.match(line)):
            direct.add(m.group(1).rstrip("!"))
    return specs, checksums, direct


def _digests(text: str) -> dict[str, str]:
    found = {}
    for part in text.replace(",", " ").split():
        algorithm, _, digest = part.partition("=")
        if algorithm == "sha256" and re.fullmatch(r"[0-9a-f]{64}", digest):
            found["SHA-256"] = digest
    return found


def _installed(app_dir: Path) -> set[tuple[str, str]]:
    """(name, version) of each gemspec bundler wrote under vendor/bundle/ruby/<api>/specifications."""
    found = set()
    for spec in (app_dir / BUNDLE_DIR).glob("ruby/*/specifications/*.gemspec"):
        name, _, version = spec.stem.rpartition("-")
        while name and not version[:1].isdigit():  # a platform suffix: nokogiri-1.16.0-x86_64-linux
            name, _, head = name.rpartition("-")
            version = f"{head}-{version}"
        found.add((name, version))
    for spec in (app_dir / BUNDLE_DIR).glob("ruby/*/bundler/gems/*"):
        found.add(tuple(spec.name.rsplit("-", 1)))  # git gems: name-revision
    return found
