"""`slugbuild mirror DIR --python VERSION`: Python archives in Heroku's layout
(`python-<v>-ubuntu-<24.04>-<arch>.tar.zst` plus `.sha256`), from Heroku's bucket or, with
--from-registries, built from Debian's python3.X packages and made to behave like upstream's build."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import zstandard
from slugbuild.buildpacks import debian
from slugbuild.buildpacks.python import runtime

from slugbuild.atomic import publish, publish_copy, published_sha256, sidecar
from slugbuild.buildpack import host_arch
from slugbuild.config import DEFAULT_STACK
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import Fetcher
from slugbuild.log import BuildLog

ZSTD_LEVEL = 10
_VERSION = re.compile(r"^3\.(\d+)\.(\d+)$")
# Debian's patch that an upstream (and Heroku's) Python does not have, undone so that pip, uv and Poetry
# install into lib/python3.X/site-packages: (file, Debian's text, ours).
UPSTREAM_SCHEME = ("sysconfig.py", "prefix_scheme = 'posix_local'", "prefix_scheme = 'posix_prefix'")
# Debian's site module is frozen into the binary, so it cannot be patched: it reads .pth files in
# lib/python3.X/dist-packages, and this one adds site-packages the way site itself would (.pth files
# inside it processed too).
SITE_PTH = ("import site, sys; site.addsitedir("
            "f'{sys.prefix}/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages')\n")
SMOKE_TEST = ("import sys, sysconfig, ssl, sqlite3, ctypes, venv, zlib, lzma, bz2; "
              "print(sys.version.split()[0], sysconfig.get_paths()['purelib'], "
              "sysconfig.get_paths()['purelib'] in sys.path)")


def fill(dest: Path, specs: Sequence[str], *, from_registries: bool, cache_dir: Path, log: BuildLog,
         stack: str | None = None) -> list[str]:
    """Put Python `version` for `stack` into `dest` in Heroku's layout; return the versions now there."""
    stack = stack or DEFAULT_STACK
    done = []
    for spec in specs:
        version = spec.strip().removeprefix("python-")
        if not _VERSION.match(version):
            raise UsageError(f"--python {spec!r} is not a full Python version; use one such as 3.11.2")
        target = dest / runtime.archive_name(version, stack, host_arch("Python"))
        if target.is_file() and sidecar(target).is_file():
            log.step(f"Python {version} for {stack} is already in {dest}")
        elif from_registries:
            _from_debian(version, target, cache_dir, log)
        else:
            _from_upstream(version, stack, target, cache_dir, log)
        done.append(version)
    return done


def _from_upstream(version: str, stack: str, target: Path, cache_dir: Path, log: BuildLog) -> None:
    url = runtime.archive_url(os.environ, stack, version)  # SLUGBUILD_PYTHON_MIRROR: a mirror of a mirror
    log.step(f"Mirroring Python {version} for {stack} from {url}")
    fetcher = Fetcher(cache_dir, log)
    download = fetcher.fetch(url, published_sha256(fetcher, url, offline=False), label=target.name)
    publish_copy(download.path, target, download.sha256)


def _from_debian(version: str, target: Path, cache_dir: Path, log: BuildLog) -> None:
    series = ".".join(version.split(".")[:2])
    log.step(f"Building Python {version} from Debian's python{series} packages")
    work = cache_dir / "registries" / "debian-python"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        debs = Path(tmp) / "debs"
        debs.mkdir()
        debian.download(debs, [f"python{series}-minimal", f"libpython{series}-minimal",
                               f"libpython{series}-stdlib", "python3-pip-whl"])
        _check_version(debs, series, version)
        root = Path(tmp) / "root"
        debian.unpack(debs, root)
        tree = Path(tmp) / "tree"
        lay_out(root / "usr", tree, series)
        _compile(tree, series)
        _smoke_test(tree, series, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.partial")
        pack(tree, staged)
        publish(staged, target)
    log.info(f"Wrote {target} (sha256 in {sidecar(target).name})")


def _check_version(debs: Path, series: str, version: str) -> None:
    """Debian's `python3.11-minimal_3.11.2-6+deb12u8_amd64.deb` holds Python 3.11.2."""
    found = sorted(debs.glob(f"python{series}-minimal_*.deb"))
    upstream = found[0].name.split("_")[1].split(":")[-1].split("-")[0] if found else "?"
    if upstream != version:
        raise UsageError(f"--python {version}: Debian's python{series} is {upstream}; mirror {upstream} with "
                         "--from-registries, or drop --from-registries to mirror Heroku's build")


def lay_out(usr: Path, tree: Path, series: str) -> None:
    """Debian's /usr as Heroku's archive: bin/python3 and lib/python3.X at the top level, pip's wheel
    where ensurepip keeps it, and Debian's install-layout patches undone."""
    stdlib = tree / "lib" / f"python{series}"
    shutil.copytree(usr / "lib" / f"python{series}", stdlib, symlinks=True)
    for link in [p for p in stdlib.rglob("*") if p.is_symlink() and os.readlink(p).startswith("/")]:
        link.unlink()  # Debian's sitecustomize.py points into /etc
    (stdlib / "EXTERNALLY-MANAGED").unlink(missing_ok=True)  # Heroku's Python is the app's own
    (stdlib / "site-packages").mkdir(exist_ok=True)
    name, debian, upstream = UPSTREAM_SCHEME
    text = (stdlib / name).read_text()
    if debian not in text:
        raise DownloadFailed(f"Debian's {name} for Python {series} lacks the patch slugbuild undoes; "
                             "mirror a Python Debian builds the usual way")
    (stdlib / name).write_text(text.replace(debian, upstream, 1))
    (stdlib.parent / "python3" / "dist-packages").mkdir(parents=True)
    (stdlib.parent / "python3" / "dist-packages" / "slugbuild-site-packages.pth").write_text(SITE_PTH)
    bundled = stdlib / "ensurepip" / "_bundled"
    bundled.mkdir(parents=True, exist_ok=True)
    for wheel in sorted((usr / "share" / "python-wheels").glob("pip-*.whl")):
        shutil.copy2(wheel, bundled / wheel.name)
    bin_dir = tree / "bin"
    bin_dir.mkdir()
    shutil.copy2(usr / "bin" / f"python{series}", bin_dir / f"python{series}")
    (bin_dir / "python3").symlink_to(f"python{series}")
    (bin_dir / "python").symlink_to("python3")


def _compile(tree: Path, series: str) -> None:
    """Byte-compile the standard library once, here, so no build or dyno writes into it."""
    python = str(tree / "bin" / "python3")
    debian.run([python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash",
          str(tree / "lib" / f"python{series}")], "byte-compiling the standard library")


def _smoke_test(tree: Path, series: str, version: str) -> None:
    out = debian.run([str(tree / "bin" / "python3"), "-I", "-c", SMOKE_TEST], "running the relocated python")
    expected = f"{version} {tree / 'lib' / f'python{series}' / 'site-packages'} True"
    if out.strip() != expected:
        raise DownloadFailed(f"the relocated python reports {out.strip()!r}, not {expected!r}")


def pack(tree: Path, out: Path) -> None:
    """`tree` as a zstd tar whose members sit at the top level (bin/python3, lib/...), as Heroku's do."""
    with open(out, "wb") as raw, \
            zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(raw, closefd=False) as zst, \
            tarfile.open(fileobj=zst, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        debian.add_tree(tar, tree)
