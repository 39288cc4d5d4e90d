"""Files that appear whole or not at all: what the mirrors (and anything else publishing a file others
may be reading) write goes to a temporary name in the same directory, then is renamed into place; and
the `.sha256` sidecars that mirrors publish beside an archive, written and read."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from slugbuild.errors import DownloadFailed
from slugbuild.fetch import Fetcher, NotFound, file_sha256


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


def published_sha256(fetcher: Fetcher, url: str, *, offline: bool) -> str | None:
    """The hex digest in `<url>.sha256` when the server publishes one (upstream does not), else None."""
    try:
        text = fetcher.fetch_text(url + ".sha256")
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
