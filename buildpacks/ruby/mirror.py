"""`slugbuild mirror DIR --ruby VERSION --stack STACK`: Ruby tarballs in Heroku's layout
(`<stack>/<arch>/ruby-<v>.tgz` plus `.sha256`), from upstream or built from Debian's packages."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from slugbuild.buildpacks import debian
from slugbuild.buildpacks.ruby import runtime
from zlib_ng import gzip_ng

from slugbuild.atomic import publish, publish_copy, published_sha256, sidecar
from slugbuild.config import DEFAULT_STACK
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import Fetcher
from slugbuild.log import BuildLog

GZIP_LEVEL = 6
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# The wrapper is the tarball's bin/ruby: Debian's binary looks for libruby and the standard library
# under /usr, so it is told where they are, relative to wherever the tarball was unpacked.
WRAPPER = """#!/bin/sh
# Debian's ruby {version}, relocated by `slugbuild mirror`: libraries and stdlib live beside this script.
root=$(dirname "$(dirname "$(readlink -f "$0")")")
export LD_LIBRARY_PATH="$root/lib/{triplet}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
export RUBYLIB="$root/lib/ruby/{api}:$root/lib/{triplet}/ruby/{api}${{RUBYLIB:+:$RUBYLIB}}"
exec "$root/libexec/{binary}" "$@"
"""


def fill(dest: Path, specs: Sequence[str], *, from_registries: bool, cache_dir: Path, log: BuildLog,
         stack: str | None = None) -> list[str]:
    """Put Ruby `version` for `stack` into `dest` in Heroku's layout; return the versions now there."""
    stack = stack or DEFAULT_STACK
    done = []
    for spec in specs:
        version = spec.strip().removeprefix("ruby-")
        if not _VERSION.match(version):
            raise UsageError(f"--ruby {spec!r} is not a Ruby version; use a full one such as 3.1.2")
        target = dest / runtime.stack_path(stack, runtime.host_arch()) / f"ruby-{version}.tgz"
        if target.is_file() and sidecar(target).is_file():
            log.step(f"Ruby {version} for {stack} is already in {dest}")
        elif from_registries:
            _from_debian(version, target, cache_dir, log)
        else:
            _from_upstream(version, stack, target, cache_dir, log)
        done.append(version)
    return done


def _from_upstream(version: str, stack: str, target: Path, cache_dir: Path, log: BuildLog) -> None:
    url = runtime.tarball_url(os.environ, stack, version)
    log.step(f"Mirroring Ruby {version} for {stack} from {url}")
    fetcher = Fetcher(cache_dir, log)
    digest = published_sha256(fetcher, url, offline=False)
    try:
        download = fetcher.fetch(url, digest, label=target.name)
    except DownloadFailed as exc:
        raise DownloadFailed(f"Ruby {version} for {stack}: {exc}") from None
    publish_copy(download.path, target, download.sha256)  # the fetcher has just checked the download's digest


def _from_debian(version: str, target: Path, cache_dir: Path, log: BuildLog) -> None:
    major, minor, _ = _VERSION.match(version).groups()  # type: ignore[union-attr]
    series = f"{major}.{minor}"
    log.step(f"Building Ruby {version} from Debian's ruby{series} packages")
    work = cache_dir / "registries" / "debian-ruby"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        debs = Path(tmp) / "debs"
        debs.mkdir()
        debian.download(debs, [f"ruby{series}", f"libruby{series}", "libyaml-0-2"])
        _check_version(debs, series, version)
        root = Path(tmp) / "root"
        debian.unpack(debs, root)
        tree = Path(tmp) / "tree"
        lay_out(root / "usr", tree, version, series)
        _smoke_test(tree, version)
        tarball = target.parent / f".{target.name}.partial"
        target.parent.mkdir(parents=True, exist_ok=True)
        pack(tree, tarball)
        publish(tarball, target)
    log.info(f"Wrote {target} (sha256 in {sidecar(target).name})")


def _check_version(debs: Path, series: str, version: str) -> None:
    """Debian names 3.1.2 `3.1.7+really3.1.2-0+deb12u1`; what counts is the part after `really`."""
    found = sorted(debs.glob(f"ruby{series}_*.deb"))
    upstream = found[0].name.split("_")[1].split(":")[-1].rsplit("-", 1)[0] if found else "?"
    upstream = upstream.split("really")[-1]
    if upstream != version:
        raise UsageError(f"--ruby {version}: Debian's ruby{series} is {upstream}; mirror {upstream} with "
                         "--from-registries, or drop --from-registries to mirror from upstream")


def lay_out(usr: Path, tree: Path, version: str, series: str) -> None:
    """Debian's /usr as Heroku's tarball: bin/ruby (the wrapper) and friends at the top level."""
    arch_dirs = sorted(usr.glob(f"lib/*-linux-gnu*/ruby/{series}.0"))
    if not arch_dirs:
        raise DownloadFailed(f"Debian's libruby{series} has no lib/<triplet>/ruby/{series}.0 "
                             "to lay out as a Heroku Ruby tarball")
    triplet = arch_dirs[0].parent.parent.name
    shutil.copytree(usr / "lib", tree / "lib", symlinks=True,
                    ignore=shutil.ignore_patterns("vendor_ruby", "rubygems-integration"))
    (tree / "libexec").mkdir(parents=True)
    binary = f"ruby{series}"
    shutil.copy2(usr / "bin" / binary, tree / "libexec" / binary)
    bin_dir = tree / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ruby"
    wrapper.write_text(WRAPPER.format(version=version, triplet=triplet, api=f"{series}.0", binary=binary))
    wrapper.chmod(0o755)
    (bin_dir / binary).symlink_to("ruby")  # RbConfig.ruby names bin/ruby<series>
    for script in sorted((usr / "bin").glob(f"*{series}")):
        if script.name != binary:
            _copy_script(script, bin_dir / script.name.removesuffix(series))


def _copy_script(source: Path, dest: Path) -> None:
    """A RubyGems bin stub, its `#!/usr/bin/ruby3.1` line replaced so it runs the relocated ruby."""
    lines = source.read_text().splitlines(keepends=True)
    if lines and lines[0].startswith("#!"):
        lines[0] = "#!/usr/bin/env ruby\n"
    dest.write_text("".join(lines))
    dest.chmod(0o755)


def _smoke_test(tree: Path, version: str) -> None:
    script = "require 'yaml'; require 'bundler'; print RUBY_VERSION"
    out = debian.run([str(tree / "bin" / "ruby"), "-e", script], "running the relocated ruby")
    if out.strip() != version:
        raise DownloadFailed(f"the relocated ruby reports {out.strip()!r}, not {version}")


def pack(tree: Path, out: Path) -> None:
    """`tree` as a gzip tar whose members sit at the top level (bin/ruby, lib/...), as Heroku's do."""
    with open(out, "wb") as raw, gzip_ng.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                                                  mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        debian.add_tree(tar, tree)
