"""What a buildpack installed, as it tells the SBOM: packages from the lockfiles it actually used."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

# Subresource Integrity algorithm names (npm, yarn, pnpm) -> CycloneDX hash algorithm names.
SRI_ALGORITHMS = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


@dataclass(frozen=True)
class Package:
    """One installed package: its purl, version, the lockfile's hashes (CycloneDX name -> hex) and source."""

    purl: str
    name: str
    version: str
    hashes: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    depends_on: tuple[str, ...] = ()  # purls of the packages this one needs


@dataclass(frozen=True)
class Inventory:
    """The packages one lockfile put into the slug; `problem` says why the list may be incomplete."""

    lockfile: str
    packages: tuple[Package, ...] = ()
    direct: tuple[str, ...] = ()  # purls the app itself depends on
    app_name: str | None = None
    app_version: str | None = None
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


def sri_hashes(integrity: object) -> dict[str, str]:
    """npm's integrity field (`sha512-<base64> sha1-<base64>`) as CycloneDX hashes in hex."""
    hashes: dict[str, str] = {}
    if not isinstance(integrity, str):
        return hashes
    for part in integrity.split():
        algorithm, _, digest = part.partition("-")
        name = SRI_ALGORITHMS.get(algorithm.lower())
        if name is None:
            continue
        try:
            hashes[name] = base64.b64decode(digest.split("?")[0], validate=True).hex()
        except (binascii.Error, ValueError):
            continue
    return hashes
