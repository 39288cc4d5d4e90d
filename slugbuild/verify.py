"""`slugbuild verify`: rebuild a slug's source with the runtimes its report pins, and compare the bytes."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from slugbuild import build, leftovers, slug
from slugbuild.buildpack import Runtime
from slugbuild.config import MAX_EPOCH_S, BuildSettings
from slugbuild.errors import UsageError
from slugbuild.fetch import file_sha256
from slugbuild.log import BuildLog

SHOWN_DIFFERENCES = 10
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class Member:
    """One slug member as compared: its type, size and the sha256 of its content (or link target)."""

    kind: str
    size: int
    sha256: str
    mode: int

    def describe(self) -> str:
        return f"{self.kind} of {self.size} bytes, sha256 {self.sha256}, mode {self.mode:o}"


@dataclass(frozen=True)
class Difference:
    name: str
    original: Member | None
    rebuilt: Member | None

    def line(self) -> str:
        def side(m: Member | None) -> str:
            return m.describe() if m else "absent"
        return f"{self.name}: slug has {side(self.original)}; rebuild has {side(self.rebuilt)}"

    def as_json(self) -> dict[str, object]:
        def side(m: Member | None) -> dict[str, object] | None:
            return dataclasses.asdict(m) if m else None
        return {"name": self.name, "slug": side(self.original), "rebuild": side(self.rebuilt)}


def read_report(slug_path: Path) -> dict[str, object]:
    """The build report beside the slug, checked to belong to it (same sha256)."""
    report_path = slug.metadata_path(slug_path)
    if not slug_path.is_file():
        raise UsageError(f"{slug_path} does not exist; give the slug to verify")
    try:
        report = json.loads(report_path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{report_path} not found: verify needs the build report slugbuild wrote beside "
                         "the slug") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{report_path} cannot be read ({exc}); rebuild the slug for a new report") from None
    if not isinstance(report, dict) or not isinstance(report.get("checksum"), str):
        raise UsageError(f"{report_path} has no checksum; it is not a slugbuild report")
    actual = "SHA256:" + file_sha256(slug_path)
    if actual != report["checksum"]:
        raise UsageError(f"{slug_path} is {actual}, but {report_path} describes {report['checksum']}; "
                         "give the slug its own report")
    try:
        pins(report), _recorded(report)
    except BadReport as exc:
        raise BadReport(exc.what, report_path) from None
    return report


RUNTIME_FIELDS = ("name", "source", "version", "url", "sha256")


class BadReport(UsageError):
    """A build report whose fields are not what slugbuild writes (edited by hand, or another tool's)."""

    def __init__(self, what: str, path: Path | str = "the build report") -> None:
        self.what = what
        super().__init__(f"{path} {what}, not what slugbuild writes; rebuild the slug for a new report")


def pins(report: Mapping[str, object]) -> dict[str, Runtime]:
    """The runtimes the report names, by name: the rebuild downloads exactly these."""
    entries = report.get("runtimes") or []
    if not isinstance(entries, list):
        raise BadReport("has runtimes that are no list")
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in RUNTIME_FIELDS):
            raise BadReport(f"has a runtime without {', '.join(RUNTIME_FIELDS)} as strings")
        runtime = Runtime(name=entry["name"], requested=entry.get("requested"), source=entry["source"],
                          version=entry["version"], url=entry["url"], sha256=entry["sha256"],
                          verified=entry.get("verified", True) is not False)
        found[runtime.name] = runtime
    return found


def _recorded(report: Mapping[str, object]) -> tuple[tuple[str, ...], str | None, int]:
    """The buildpacks, commit and SOURCE_DATE_EPOCH the report records, each checked for its type."""
    buildpacks, commit = report.get("buildpacks") or [], report.get("commit")
    epoch = report.get("source_date_epoch") or 0
    if not isinstance(buildpacks, list) or not all(isinstance(b, str) for b in buildpacks):
        raise BadReport("has buildpacks that are no list of names")
    if commit is not None and not isinstance(commit, str):
        raise BadReport("has a commit that is no string")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH_S:
        raise BadReport(f"has a source_date_epoch that is no whole number of seconds from 0 to {MAX_EPOCH_S}")
    return tuple(buildpacks), commit, epoch


def rebuild_settings(settings: BuildSettings, report: Mapping[str, object], output: Path) -> BuildSettings:
    """The original build's settings as far as the report records them, into `output`."""
    buildpacks, commit, epoch = _recorded(report)
    return dataclasses.replace(
        settings, output=output, pins=pins(report), buildpacks=buildpacks, reuse_members=False,
        stack=str(report.get("stack") or settings.stack), commit=commit or settings.commit,
        source_date_epoch=epoch)


@dataclass(frozen=True)
class Verdict:
    """The slug's checksum, the rebuild's, and the members that differ (none when reproduced)."""

    original: str
    rebuilt: str
    differences: list[Difference]

    @property
    def reproduced(self) -> bool:
        return self.original == self.rebuilt

    def lines(self) -> list[str]:
        if self.reproduced:
            return [f"reproduced: {self.original}"]
        shown = [d.line() for d in self.differences[:SHOWN_DIFFERENCES]]
        if len(self.differences) > SHOWN_DIFFERENCES:
            shown.append(f"... and {len(self.differences) - SHOWN_DIFFERENCES} more members differ")
        if not self.differences:
            shown.append("every member is equal; only the compressed bytes differ (another zlib-ng build?)")
        return [f"not reproduced: the slug is {self.original}, the rebuild is {self.rebuilt}", *shown]

    def as_json(self) -> dict[str, object]:
        return {"reproduced": self.reproduced, "checksum": self.original, "rebuilt_checksum": self.rebuilt,
                "differences": [d.as_json() for d in self.differences]}


def verify(slug_path: Path, settings: BuildSettings, log: BuildLog) -> Verdict:
    """Rebuild the slug's source as its report says it was built, and compare the two slugs."""
    report = read_report(slug_path)
    with leftovers.work_dir("slugbuild-verify-") as tmp:  # removed however verify ends; reclaimed if killed
        rebuilt = build.build(rebuild_settings(settings, report, tmp / "slug.tgz"), log)
        original = str(report["checksum"])
        differences = [] if rebuilt.checksum == original else compare(slug_path, rebuilt.path)
    return Verdict(original, rebuilt.checksum, differences)


def compare(original: Path, rebuilt: Path) -> list[Difference]:
    """Members that differ between two slugs, in name order."""
    left, right = dict(members(original)), dict(members(rebuilt))
    return [Difference(name, left.get(name), right.get(name)) for name in sorted(left.keys() | right.keys())
            if left.get(name) != right.get(name)]


def members(path: Path) -> Iterator[tuple[str, Member]]:
    """Each member of a slug with its content digest, streamed (memory stays flat). gzip.open reads every
    gzip member of the slug; tarfile's own "r|gz" stops at the end of the first."""
    with gzip.open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        for info in tar:
            if info.isfile():
                digest = hashlib.sha256()
                stream = tar.extractfile(info)
                while stream and (chunk := stream.read(READ_BYTES)):
                    digest.update(chunk)
                yield info.name, Member("file", info.size, digest.hexdigest(), info.mode)
            else:
                kind = "symlink" if info.issym() else "dir" if info.isdir() else "other"
                target = hashlib.sha256(info.linkname.encode()).hexdigest()
                yield info.name, Member(kind, info.size, target, info.mode)

