"""Files that appear whole or not at all: what the mirrors (and anything else publishing a file others
may be reading) write goes to a temporary name in the same directory, then is renamed into place; and
the `.sha256` sidecars that mirrors publish beside an archive, written and read, and runtimes installed
from such archives."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from slugbuild.buildpack import Runtime
from slugbuild.errors import DownloadFailed
from slugbuild.fetch import Fetcher, NotFound, Tree, file_sha256

if TYPE_CHECKING:
    from slugbuild.buildpack import BuildContext


class RuntimeRequest(Protocol):
    """What a buildpack resolved: the version asked for, where that came from, the version to install."""

    @property
    def requested(self) -> str | None: ...

    @property
    def source(self) -> str: ...

    @property
    def version(self) -> str: ...


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sidecar(target: Path) -> Path:
    """`<target>.sha256`, the checksum file a mirror publishes beside an archive."""
    return target.with_name(target.name + ".sha256")


def publish(staged: Path, target: Path, digest: str | None = None) -> str:
    """Move `staged` (in target's directory) to `target`, then write its `.sha256` sidecar (hashed here
    unless `digest` is given); the sidecar comes last, so it marks the pair complete. Return the digest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = digest or file_sha256(staged)
    os.replace(staged, target)
    write_atomic(sidecar(target), f"{digest}  {target.name}\n")
    return digest


def publish_copy(source: Path, target: Path, digest: str | None = None) -> str:
    """`publish` a copy of `source` (a cached download, say) as `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, staged)
    return publish(staged, target, digest)


def published_sha256(fetcher: Fetcher, url: str, *, offline: bool, mirror: str | None = None) -> str | None:
    """The hex digest in `<url>.sha256` when the server publishes one (upstream does not), else None;
    `mirror` is the variable a failure names."""
    try:
        text = fetcher.fetch_text(url + ".sha256", mirror=mirror)
    except NotFound:
        return None
    except DownloadFailed:
        if offline:  # the sidecar was never cached: the pinned digest checks the tarball instead
            return None
        raise
    digest = (text.split() or [""])[0].lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DownloadFailed(f"{url}.sha256 does not start with a sha256 hex digest; fix the mirror")
    return digest


def install_published(ctx: BuildContext, request: RuntimeRequest, name: str, url: str, dest: Path, *,
                      label: str, mirror: str, binary: str, what: str,
                      missing: Callable[[str], Exception]) -> Tree:
    """Install runtime `name` from an archive published with a `.sha256` sidecar (Heroku's Ruby and Python
    buckets, or a mirror of them) into `dest`, and record it in the report. `slugbuild verify` pins the
    archive instead of `url`; an archive without a sidecar is pinned at first download. `missing(url)` is
    raised when there is no archive; `binary` must sit at its top level, else it is not `what`."""
    if pin := ctx.pinned(name):
        url, digest = pin.url, pin.sha256
    else:
        digest = published_sha256(ctx.fetcher, url, offline=ctx.offline, mirror=mirror)
    try:
        tree = ctx.fetcher.install(url, digest, dest, label=label, mirror=mirror)
    except NotFound:
        raise missing(url) from None
    if not tree.verified:
        ctx.log.info(f"{url} has no published checksum; using sha256 {tree.sha256[:12]} pinned at first "
                     "download")
    if not (dest / binary).exists():
        raise DownloadFailed(f"{url} has no {binary} at its top level; it is not {what} in Heroku's layout")
    ctx.record_runtime(Runtime(name=name, requested=request.requested, source=request.source,
                               version=request.version, url=url, sha256=tree.sha256, verified=tree.verified))
    return tree
