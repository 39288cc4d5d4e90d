"""The slug's CycloneDX 1.6 SBOM: the app, every runtime it carries, every package its lockfiles installed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.lifecycle import LifecyclePhase, PredefinedLifecycle
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from slugbuild import __version__
from slugbuild.buildpack import Runtime
from slugbuild.inventory import Inventory, Package

APP_REF = "app"
_ALGORITHMS = {a.value: a for a in HashAlgorithm}


@dataclass(frozen=True)
class Subject:
    """The app the slug holds: its name and version (package.json, go.mod, else the directory), commit."""

    name: str
    version: str | None
    commit: str | None
    slug_sha256: str
    stack: str


def runtime_purl(runtime: Runtime) -> str:
    """pkg:generic/<name>@<version> with the archive's download URL and checksum as qualifiers."""
    return PackageURL(type="generic", name=runtime.name, version=runtime.version,
                      qualifiers={"download_url": runtime.url, "checksum": f"sha256:{runtime.sha256}"}
                      ).to_string()


def document(subject: Subject, runtimes: Sequence[Runtime], inventories: Sequence[Inventory],
             problems: Sequence[str], epoch: int | None) -> dict[str, object]:
    """The SBOM as a JSON-ready dict; `problems` (why the list may be incomplete) mark it incomplete."""
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"slugbuild:{subject.slug_sha256}"))
    app = _app_component(subject)
    bom.metadata.component = app
    bom.metadata.timestamp = datetime.fromtimestamp(epoch, UTC) if epoch is not None else datetime.now(UTC)
    bom.metadata.lifecycles.add(PredefinedLifecycle(LifecyclePhase.BUILD))
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="slugbuild",
                                                version=__version__))
    bom.metadata.properties.add(Property(name="slugbuild:slug:sha256", value=subject.slug_sha256))
    bom.metadata.properties.add(Property(name="slugbuild:stack", value=subject.stack))
    direct = [_add(bom, _runtime_component(r)) for r in runtimes]
    packages = {p.purl: p for inv in inventories for p in inv.packages}
    components = {ref: _add(bom, _package_component(p)) for ref, p in sorted(packages.items())}
    direct += [components[ref] for inv in inventories for ref in inv.direct if ref in components]
    bom.register_dependency(app, direct)
    for ref, package in sorted(packages.items()):
        needs = [components[d] for d in package.depends_on if d in components]
        bom.register_dependency(components[ref], needs)
    for problem in problems:
        bom.metadata.properties.add(Property(name="slugbuild:sbom:incomplete", value=problem))
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    data["compositions"] = [{"aggregate": "incomplete" if problems else "complete", "assemblies": [APP_REF]}]
    return data


def _add(bom: Bom, component: Component) -> Component:
    bom.components.add(component)
    return component


def _app_component(subject: Subject) -> Component:
    properties = [Property(name="slugbuild:commit", value=subject.commit)] if subject.commit else []
    return Component(type=ComponentType.APPLICATION, name=subject.name, version=subject.version,
                     bom_ref=APP_REF, properties=properties,
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=subject.slug_sha256)])


def _runtime_component(runtime: Runtime) -> Component:
    return Component(type=ComponentType.PLATFORM, name=runtime.name, version=runtime.version,
                     bom_ref=runtime_purl(runtime), purl=PackageURL.from_string(runtime_purl(runtime)),
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=runtime.sha256)],
                     external_references=_distribution(runtime.url))


def _package_component(package: Package) -> Component:
    hashes = [HashType(alg=_ALGORITHMS[alg], content=hex_) for alg, hex_ in sorted(package.hashes.items())
              if alg in _ALGORITHMS]
    return Component(type=ComponentType.LIBRARY, name=package.name, version=package.version,
                     bom_ref=package.purl, purl=PackageURL.from_string(package.purl), hashes=hashes,
                     external_references=_distribution(package.url))


def _distribution(url: str | None) -> list[ExternalReference]:
    if not url or urlsplit(url).scheme not in ("http", "https", "file", "git+https", "git+ssh", "git"):
        return []
    return [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(url))]
