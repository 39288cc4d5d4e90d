"""What the `--from-registries` mirrors share: Debian's packages fetched with apt-get and unpacked with
dpkg-deb, and a tree written as a tar archive with its members at the top level, as upstream's are."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from slugbuild.errors import DownloadFailed

APT_TIMEOUT_S = 600


def run(argv: Sequence[str], what: str, cwd: Path | None = None) -> str:
    """Run a program, returning its stdout; DownloadFailed naming `what` with its last error line."""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DownloadFailed(f"{what}: {argv[0]} is not installed; --from-registries needs Debian's "
                             "apt-get and dpkg-deb") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DownloadFailed(f"{what} failed: {last}")
    return proc.stdout


def download(into: Path, packages: Sequence[str]) -> None:
    """`apt-get download` the packages into `into`."""
    run(["apt-get", "download", *packages], f"apt-get download {' '.join(packages)} "
        "(run `apt-get update` first if the package is unknown)", cwd=into)


def unpack(debs: Path, root: Path) -> None:
    """Every .deb in `debs`, unpacked over one another into `root`."""
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")


def add_tree(tar: tarfile.TarFile, tree: Path) -> None:
    """Every file, link and directory under `tree`, sorted, owned by root, named relative to `tree`."""
    for path in sorted(tree.rglob("*")):
        info = tar.gettarinfo(str(path), arcname=path.relative_to(tree).as_posix())
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if info.isfile():
            with open(path, "rb") as body:
                tar.addfile(info, body)
        else:
            tar.addfile(info)
