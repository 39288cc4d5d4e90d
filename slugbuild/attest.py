"""The supply-chain documents written beside a slug: its SBOM and its provenance."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slugbuild import provenance
from slugbuild.buildpack import Runtime
from slugbuild.inventory import Inventory
from slugbuild.slug import write_json

SBOM_SUFFIX = ".cdx.json"
# The SBOM's library (cyclonedx) takes about 0.1 s to import: a build starts it in the background
# (`preload`) while it waits on the disk, and nothing else needs it.
SBOM_MODULE = "slugbuild.sbom"


@dataclass(frozen=True)
class Inputs:
    """What the build knows of how the slug was made, gathered as it ran."""

    source_dir: Path
    source_sha256: str  # the prepared source tree's digest, taken before any buildpack ran
    buildpacks: Sequence[str]
    inventories: Sequence[Inventory]
    problems: Sequence[str]  # why the package list may be incomplete
    started: datetime
    epoch: int | None  # SOURCE_DATE_EPOCH when set: the SBOM's timestamp


def sbom_path(slug_path: Path) -> Path:
    """Where the SBOM of `slug_path` goes: beside it, `slug.tgz.cdx.json`."""
    return slug_path.with_name(slug_path.name + SBOM_SUFFIX)


def preload() -> None:
    """Begin importing what `write` needs, in a thread of its own; `write` waits for it if need be."""
    threading.Thread(target=importlib.import_module, args=(SBOM_MODULE,), name="sbom-import",
                     daemon=True).start()


def write(slug_path: Path, checksum: str, stack: str, commit: str | None, runtimes: Sequence[Runtime],
          inputs: Inputs) -> tuple[Path, Path]:
    """Write `<slug>.cdx.json` and `<slug>.intoto.json`; return their paths."""
    sbom = importlib.import_module(SBOM_MODULE)
    sha256 = checksum.removeprefix("SHA256:")
    subject = sbom.Subject(_app_name(inputs), _app_version(inputs), commit, sha256, stack)
    doc = sbom.document(subject, runtimes, inputs.inventories, inputs.problems, inputs.epoch)
    statement = provenance.statement(
        slug_name=slug_path.name, slug_sha256=sha256, commit=commit, source_sha256=inputs.source_sha256,
        stack=stack, buildpacks=inputs.buildpacks, runtimes=runtimes, inventories=inputs.inventories,
        started=inputs.started, epoch=inputs.epoch or 0)
    return (write_json(sbom_path(slug_path), doc),
            write_json(provenance.provenance_path(slug_path), statement))


def _app_name(inputs: Inputs) -> str:
    names = [inv.app_name for inv in inputs.inventories if inv.app_name]
    return names[0] if names else inputs.source_dir.resolve().name


def _app_version(inputs: Inputs) -> str | None:
    versions = [inv.app_version for inv in inputs.inventories if inv.app_version]
    return versions[0] if versions else None
