"""The build cache for node_modules: kept with a signature, restored only when nothing it depends on moved."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

SIGNATURE_FORMAT = "v1"


def signature(app_dir: Path, parts: Iterable[str]) -> str:
    """One line naming everything node_modules depends on: stack, node, npm, the package manager, the
    install command and the lockfile's (or, without one, package.json's) sha256."""
    lock = next((app_dir / n for n in ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock",
                                       "pnpm-lock.yaml", "package.json") if (app_dir / n).is_file()), None)
    digest = hashlib.sha256(lock.read_bytes()).hexdigest() if lock else "none"
    return "; ".join([SIGNATURE_FORMAT, *parts, f"{lock.name if lock else 'no lockfile'} {digest}"])


class ModulesCache:
    """node_modules saved in the buildpack's cache directory beside the signature it was built with."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.modules = cache_dir / "node_modules"
        self.signature_file = cache_dir / "signature"

    def matches(self, expected: str) -> bool:
        try:
            return self.modules.is_dir() and self.signature_file.read_text().strip() == expected
        except OSError:
            return False

    def restore(self, app_dir: Path) -> None:
        """Copy the saved node_modules into the app (links kept as links)."""
        shutil.copytree(self.modules, app_dir / "node_modules", symlinks=True)

    def save(self, app_dir: Path, sig: str) -> None:
        """Replace the saved node_modules with the app's; a failed save leaves no stale signature."""
        self.signature_file.unlink(missing_ok=True)
        source = app_dir / "node_modules"
        if not source.is_dir():
            self.clear()
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.dir, prefix=".node_modules."))
        try:
            shutil.copytree(source, staging / "node_modules", symlinks=True)
            self.clear()
            os.replace(staging / "node_modules", self.modules)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.signature_file.write_text(sig + "\n")

    def clear(self) -> None:
        shutil.rmtree(self.modules, ignore_errors=True)
