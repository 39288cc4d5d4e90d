"""How a slug was made: an in-toto Statement with an SLSA v1 provenance predicate (unsigned)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from slugbuild import __version__
from slugbuild.buildpack import Runtime
from slugbuild.fetch import file_sha256
from slugbuild.inventory import Inventory

SUFFIX = ".intoto.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:slugbuild:build-type:slug:v1"
BUILDER_ID = "urn:slugbuild:builder:local"


def provenance_path(slug_path: Path) -> Path:
    """Where the provenance of `slug_path` goes: beside it, `slug.tgz.intoto.json`."""
    return slug_path.with_name(slug_path.name + SUFFIX)


def tree_digest(root: Path) -> str:
    """sha256 over the sorted `<sha256 of content or link target> <mode> <path>` lines of a source tree:
    the source's identity when it is not a git checkout."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                lines.append(f"{hashlib.sha256(os.readlink(path).encode()).hexdigest()} link {rel}\n")
            elif path.is_file():
                mode = "exec" if os.access(path, os.X_OK) else "file"
                lines.append(f"{file_sha256(path)} {mode} {rel}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def statement(*, slug_name: str, slug_sha256: str, commit: str | None, source_sha256: str, stack: str,
              buildpacks: Sequence[str], runtimes: Sequence[Runtime], inventories: Sequence[Inventory],
              started: datetime, epoch: int) -> dict[str, object]:
    """The statement: subject the slug's sha256; source, builder, stack and every fetched input."""
    source = {"name": "source", "digest": {"sha256": source_sha256}}
    if commit:
        source["digest"]["gitCommit"] = commit
    inputs = [source] + [{"name": r.name, "uri": r.url, "digest": {"sha256": r.sha256}} for r in runtimes]
    inputs += _packages(inventories)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": slug_name, "digest": {"sha256": slug_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"source": {"commit": commit, "treeSha256": source_sha256},
                                       "stack": stack, "buildpacks": list(buildpacks)},
                "internalParameters": {"sourceDateEpoch": epoch},
                "resolvedDependencies": inputs,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"slugbuild": __version__}},
                "metadata": {"startedOn": _iso(started), "finishedOn": _iso(datetime.now(UTC))},
            },
        },
    }


def _packages(inventories: Sequence[Inventory]) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for inventory in inventories:
        for package in inventory.packages:
            digest = {alg.replace("-", "").lower(): value for alg, value in package.hashes.items()}
            entry: dict[str, object] = {"name": package.purl, "digest": digest}
            if package.url:
                entry["uri"] = package.url
            seen.setdefault(package.purl, entry)
    return [seen[k] for k in sorted(seen)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
