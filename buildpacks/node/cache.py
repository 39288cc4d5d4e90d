"""The build cache for node_modules: kept with a signature, restored only when nothing it depends on moved."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from slugbuild.dircache import DirCache
from slugbuild.fetch.cache import discard
from slugbuild.log import BuildLog

SIGNATURE_FORMAT = "v1"


def signature(app_dir: Path, parts: Iterable[str]) -> str:
    """One line naming everything node_modules depends on: stack, node, npm, the package manager, the
    install command and the lockfile's (or, without one, package.json's) sha256."""
    lock = next((app_dir / n for n in ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock",
                                       "pnpm-lock.yaml", "package.json") if (app_dir / n).is_file()), None)
    digest = hashlib.sha256(lock.read_bytes()).hexdigest() if lock else "none"
    return "; ".join([SIGNATURE_FORMAT, *parts, f"{lock.name if lock else 'no lockfile'} {digest}"])


class ModulesCache:
    """node_modules saved in the buildpack's cache directory under the signature it was built with, one
    entry per signature, so builds of different apps sharing a cache never replace each other's."""

    def __init__(self, cache_dir: Path, log: BuildLog) -> None:
        self.dir = cache_dir
        self.entries = DirCache(cache_dir / "modules", log, "node_modules")

    def restore(self, app_dir: Path, sig: str) -> bool:
        """Copy the node_modules saved under `sig` into the app, checked file by file; False when there is
        none (or it was damaged, which is said once and discarded)."""
        return self.entries.restore(sig, app_dir / "node_modules")

    def save(self, app_dir: Path, sig: str) -> None:
        """Keep a copy of the app's node_modules under `sig`."""
        self._drop_unkeyed()
        if (app_dir / "node_modules").is_dir():
            self.entries.save(sig, app_dir / "node_modules")

    def clear(self) -> None:
        self._drop_unkeyed()
        self.entries.clear()

    def _drop_unkeyed(self) -> None:
        """The single node_modules and signature earlier versions of slugbuild kept here."""
        (self.dir / "signature").unlink(missing_ok=True)
        if (self.dir / "node_modules").is_dir():
            discard(self.dir / "node_modules")
