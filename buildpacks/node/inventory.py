"""The packages a Node.js build installed, read from the lockfile it used, for the SBOM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from packageurl import PackageURL

from slugbuild.inventory import Inventory, Package, sri_hashes

_YARN_ENTRY = re.compile(r'^"?((?:@[^@/"]+/)?[^@"]+)@')
_PNPM_PEER_SUFFIX = re.compile(r"\(.*$")


def purl(name: str, version: str) -> str:
    """pkg:npm/<scope>/<name>@<version>, with the scope's `@` escaped as the purl spec asks."""
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version).to_string()


def read(app_dir: Path) -> Inventory:
    """The packages the lockfile the build used put into node_modules (devDependencies once pruned)."""
    manifest = _json(app_dir / "package.json") or {}
    dev = manifest.get("devDependencies")
    dev_names = dev if isinstance(dev, dict) else {}
    pruned = not any((app_dir / "node_modules" / name).exists() for name in dev_names)
    for name, reader in (("package-lock.json", _npm), ("npm-shrinkwrap.json", _npm),
                         ("yarn.lock", _yarn), ("pnpm-lock.yaml", _pnpm)):
        path = app_dir / name
        if path.is_file() and not path.is_symlink():
            try:
                packages, direct = reader(path, manifest, app_dir, pruned)
            except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
                return Inventory(name, app_name=_name(manifest), app_version=_version(manifest),
                                 problem=f"{name} could not be read ({type(exc).__name__}); "
                                 "its packages are not listed")
            return Inventory(name, tuple(packages), tuple(direct), _name(manifest), _version(manifest))
    return Inventory("package.json", app_name=_name(manifest), app_version=_version(manifest))


def _name(manifest: Mapping[str, object]) -> str | None:
    return manifest.get("name") if isinstance(manifest.get("name"), str) else None  # type: ignore[return-value]


def _version(manifest: Mapping[str, object]) -> str | None:
    return manifest.get("version") if isinstance(manifest.get("version"), str) else None  # type: ignore[return-value]


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _root_deps(manifest: Mapping[str, object], pruned: bool) -> dict[str, str]:
    groups = ["dependencies", "optionalDependencies"] + ([] if pruned else ["devDependencies"])
    deps: dict[str, str] = {}
    for group in groups:
        value = manifest.get(group)
        if isinstance(value, dict):
            deps.update({k: str(v) for k, v in value.items()})
    return deps


# -- npm: package-lock.json v2/v3 ("packages" by install path), v1 ("dependencies" nested) -------------

def _npm(path: Path, manifest: Mapping, app_dir: Path, pruned: bool) -> tuple[list[Package], list[str]]:
    lock = json.loads(path.read_text())
    entries = lock.get("packages")
    if not isinstance(entries, dict):
        entries = dict(_v1_entries(lock.get("dependencies") or {}, "node_modules"))
    installed = {key: e for key, e in entries.items()
                 if key and not e.get("link") and (app_dir / key / "package.json").is_file()}
    packages = [_npm_package(key, e, installed) for key, e in sorted(installed.items())]
    found = (_npm_lookup("", dep, installed) for dep in _root_deps(manifest, pruned=False))
    direct = {purl(_npm_name(key, installed[key]), installed[key]["version"]) for key in found if key}
    return packages, sorted(direct)


def _v1_entries(deps: Mapping[str, Mapping], prefix: str) -> Iterable[tuple[str, dict]]:
    for name, entry in deps.items():
        key = f"{prefix}/{name}"
        yield key, {**entry, "dependencies": dict(entry.get("requires") or {})}
        yield from _v1_entries(entry.get("dependencies") or {}, f"{key}/node_modules")


def _npm_name(key: str, entry: Mapping) -> str:
    return entry.get("name") or key.rsplit("node_modules/", 1)[-1]


def _npm_package(key: str, entry: Mapping, installed: Mapping[str, Mapping]) -> Package:
    name = _npm_name(key, entry)
    needs = []
    for dep in sorted(entry.get("dependencies") or {}):
        found = _npm_lookup(key, dep, installed)
        if found is not None:
            needs.append(purl(_npm_name(found, installed[found]), installed[found]["version"]))
    return Package(purl(name, entry["version"]), name, entry["version"], sri_hashes(entry.get("integrity")),
                   entry.get("resolved"), tuple(needs))


def _npm_lookup(key: str, dep: str, installed: Mapping[str, Mapping]) -> str | None:
    """Where node would find `dep` from the package at `key`: its own node_modules, then each parent's."""
    base = key
    while True:
        candidate = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
        if candidate in installed:
            return candidate
        if not base:
            return None
        base = base.rsplit("/node_modules/", 1)[0] if "/node_modules/" in base else ""


# -- yarn.lock: classic (v1 text) and berry (YAML) ------------------------------------------------------

def _yarn(path: Path, manifest: Mapping, app_dir: Path, pruned: bool) -> tuple[list[Package], list[str]]:
    text = path.read_text()
    entries = _berry_entries(text) if "__metadata:" in text else _classic_entries(text)
    return _walk(entries, _root_deps(manifest, pruned))


def _classic_entries(text: str) -> dict[str, dict]:
    entries: dict[str, dict] = {}
    current: dict | None = None
    in_deps = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if indent == 0:
            current, in_deps = {"dependencies": {}}, False
            for spec in stripped.rstrip(":").split(","):
                entries[spec.strip().strip('"')] = current
        elif current is not None and indent == 2:
            key, _, value = stripped.partition(" ")
            in_deps = key in ("dependencies:", "optionalDependencies:")
            if not in_deps:
                current[key.rstrip(":")] = value.strip('"')
        elif current is not None and in_deps:
            dep, _, spec = stripped.partition(" ")
            current["dependencies"][dep.strip('"')] = spec.strip('"')
    return entries


def _berry_entries(text: str) -> dict[str, dict]:
    data = yaml.safe_load(text) or {}
    entries: dict[str, dict] = {}
    for specs, entry in data.items():
        if specs == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = str(entry.get("resolution", ""))
        if "@workspace:" in resolution:
            continue
        deps = {d: str(r).removeprefix("npm:") for d, r in (entry.get("dependencies") or {}).items()}
        normalised = {"version": str(entry.get("version")), "dependencies": deps}
        for spec in str(specs).split(","):
            name_range = spec.strip().replace("@npm:", "@")
            entries[name_range] = normalised
    return entries


def _walk(entries: Mapping[str, dict], roots: Mapping[str, str]) -> tuple[list[Package], list[str]]:
    """The packages reachable from the app's own dependencies, each once, with what it depends on."""
    def located(name: str, spec: str) -> dict | None:
        entry = entries.get(f"{name}@{spec}")
        return entry if entry and entry.get("version") else None

    found: dict[str, Package] = {}
    pending = [(name, spec) for name, spec in roots.items() if located(name, spec)]
    direct = sorted({purl(name, located(name, spec)["version"]) for name, spec in pending})
    while pending:
        name, spec = pending.pop()
        entry = located(name, spec)
        ref = purl(name, entry["version"])
        if ref in found:
            continue
        deps = [(d, r) for d, r in (entry.get("dependencies") or {}).items() if located(d, r)]
        needs = tuple(sorted(purl(d, located(d, r)["version"]) for d, r in deps))
        found[ref] = Package(ref, name, entry["version"], sri_hashes(entry.get("integrity")),
                             entry.get("resolved"), needs)
        pending.extend(deps)
    return [found[k] for k in sorted(found)], direct


# -- pnpm-lock.yaml: v6 ("/name@version" keys) and v9 (packages + snapshots) ---------------------------

def _pnpm(path: Path, manifest: Mapping, app_dir: Path, pruned: bool) -> tuple[list[Package], list[str]]:
    lock = yaml.safe_load(path.read_text()) or {}
    importer = (lock.get("importers") or {}).get(".") or lock
    groups = ["dependencies", "optionalDependencies"] + ([] if pruned else ["devDependencies"])
    packages = lock.get("packages") or {}
    snapshots = lock.get("snapshots") or packages
    found: dict[str, Package] = {}
    pending = [(n, _pnpm_version(v)) for g in groups for n, v in (importer.get(g) or {}).items()]
    direct = sorted({purl(n, v) for n, v in pending})
    while pending:
        name, version = pending.pop()
        ref = purl(name, version)
        if ref in found:
            continue
        key = next((k for k in (f"{name}@{version}", f"/{name}@{version}", f"/{name}/{version}")
                    if k in packages or k in snapshots), None)
        if key is None:
            continue
        snapshot = snapshots.get(key) or {}
        deps = {d: _pnpm_version(v) for d, v in (snapshot.get("dependencies") or {}).items()}
        resolution = (packages.get(key) or {}).get("resolution") or {}
        found[ref] = Package(ref, name, version, sri_hashes(resolution.get("integrity")),
                             resolution.get("tarball"), tuple(sorted(purl(d, v) for d, v in deps.items())))
        pending.extend(deps.items())
    return [found[k] for k in sorted(found)], direct


def _pnpm_version(value: object) -> str:
    version = value.get("version", "") if isinstance(value, dict) else str(value)
    return _PNPM_PEER_SUFFIX.sub("", str(version))
