"""The slug: a deterministic gzip tar of the app under `./app/`, hashed and sized while it is written.

The gzip stream is several members (slugwriter.py): one per stable subtree (a runtime, restored
dependencies), taken from the member cache when that subtree's content was compressed before.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from slugbuild import checkpoints, leftovers
from slugbuild.errors import BuildFailed, SlugbuildError
from slugbuild.log import BuildLog
from slugbuild.members import MemberCache
from slugbuild.slugwriter import HashingWriter, Prepacked, write_slug

SOFT_LIMIT_B = 300 * 1024 * 1024  # Heroku's soft limit, above which boot gets slower
JOIN_POLL_S = 0.2


@dataclass(frozen=True)
class Slug:
    """A slug written to disk, with the sha256 and size computed while writing it; `reused` names the
    subtrees whose compressed bytes came from the cache."""

    path: Path
    sha256: str
    size: int
    reused: tuple[str, ...] = ()

    @property
    def checksum(self) -> str:
        """The checksum as the Platform API spells it: `SHA256:<hex>`."""
        return f"SHA256:{self.sha256}"


class SlugTooLarge(BuildFailed):
    """The compressed slug is over --max-size."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Compiled slug size: {human_size(size)} is too large (max is {human_size(limit)}); "
                         "leave files out with .slugignore or raise --max-size")


class MetadataMissing(SlugbuildError):
    """A slug's `<slug>.json` is missing or unreadable."""


def human_size(size: int) -> str:
    """`512B`, `12.3K`, `45.3M`, `1G`: Heroku's short form, 1024-based."""
    value, unit = float(size), "B"
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{size}B"
    return f"{value:.1f}".removesuffix(".0") + unit


def metadata_path(slug_path: Path) -> Path:
    """Where the build report of `slug_path` lives: `<slug>.json` beside it."""
    return Path(f"{slug_path}.json")


def _in_thread(work: Callable[[threading.Event], None]) -> None:
    """Run `work` in its own thread; the caller stays free to notice Ctrl-C and cancel it."""
    cancel = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work(cancel)
        except BaseException as exc:  # handed back to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target, name="slug-tar", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(JOIN_POLL_S)
    except BaseException:
        cancel.set()
        thread.join()
        raise
    if failure:
        raise failure[0]


def _compress(app_dir: Path, raw: BinaryIO, epoch: int, limit: int, members: MemberCache | None,
              log: BuildLog, prepacked: Prepacked | None) -> tuple[HashingWriter, list[str]]:
    sink = HashingWriter(raw, limit)
    reused: list[str] = []

    def work(cancel: threading.Event) -> None:
        reused.extend(write_slug(app_dir, sink, epoch, members, log, cancel, prepacked))

    _in_thread(work)
    return sink, reused


def pack(app_dir: Path, output: Path, log: BuildLog, *, epoch: int = 0, max_size_b: int,
         report: Callable[[Slug], Mapping[str, object]] | None = None, members: MemberCache | None = None,
         prepacked: Prepacked | None = None) -> Slug:
    """Write `app_dir` as a slug at `output`, all or nothing: a failure or an interrupt leaves no file behind.

    With `report`, the JSON it returns for the finished slug is published beside it as `<slug>.json`, the
    pair together: see `_publish`. With `members`, stable subtrees whose content is cached are copied, not
    compressed: the same bytes; `prepacked` saves reading again what was read while the build went on.
    """
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = leftovers.partial_file(output)
    except OSError as exc:
        why = f"could not write the slug in {output.parent}: {exc.strerror or exc}; choose another -o"
        raise BuildFailed(why) from None
    try:
        with os.fdopen(fd, "wb", closefd=False) as raw:
            sink, reused = _compress(Path(app_dir), raw, epoch, max_size_b, members, log, prepacked)
        if sink.size > max_size_b:
            raise SlugTooLarge(sink.size, max_size_b)
        os.chmod(tmp, 0o644)
        built = Slug(output, sink.digest.hexdigest(), sink.size, tuple(reused))
        checkpoints.reached("pack")
        _publish(tmp, built, report)
    except OSError as exc:
        raise BuildFailed(f"could not write the slug {exc.filename or output}: {exc.strerror or exc}; "
                          "check the file and the free space") from None
    finally:
        tmp.unlink(missing_ok=True)  # before the lock goes with the descriptor: no one may reclaim it first
        os.close(fd)
    if sink.size > SOFT_LIMIT_B:
        log.warn(f"Warning: Your slug size ({human_size(sink.size)}) exceeds our soft limit "
                 f"({human_size(SOFT_LIMIT_B)}) which may affect boot time.")
    return built


def _publish(tmp: Path, built: Slug, report: Callable[[Slug], Mapping[str, object]] | None) -> None:
    """Rename the finished slug into place, its report first.

    A reader therefore never finds a slug of this build without its report. Between the two renames the
    new report stands beside the old slug (or none): its checksum tells the reader they are no pair. Ctrl-C
    and SIGTERM wait until both renames are done; only SIGKILL can land between them.
    """
    final_report = metadata_path(built.path)
    if report is None:
        with leftovers.deferred_signals():
            final_report.unlink(missing_ok=True)  # never leave the old report beside a new slug
            os.replace(tmp, built.path)
        return
    fd, report_tmp = _write_partial_report(final_report, report(built))
    try:
        checkpoints.reached("report-written")
        with leftovers.deferred_signals():
            os.replace(report_tmp, final_report)
            checkpoints.reached("report-published")
            os.replace(tmp, built.path)
        checkpoints.reached("published")
    finally:
        report_tmp.unlink(missing_ok=True)
        os.close(fd)


def _write_partial_report(path: Path, data: Mapping[str, object]) -> tuple[int, Path]:
    """`data` as JSON in a locked `.partial` file beside `path`, keys sorted so the same build gives the
    same bytes; the open descriptor holds the lock, the caller closes it."""
    fd, tmp = leftovers.partial_file(path)
    try:
        with os.fdopen(fd, "w", closefd=False) as fh:
            fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        os.close(fd)
        raise
    return fd, tmp


def write_metadata(slug_path: Path, data: Mapping[str, object]) -> Path:
    """Write `<slug>.json` atomically (a slug made by other means than `pack`)."""
    return write_json(metadata_path(slug_path), data)


def write_json(path: Path, data: Mapping[str, object]) -> Path:
    """Write a JSON document beside a slug atomically (locked `.partial` file, then rename), keys sorted."""
    try:
        fd, tmp = _write_partial_report(path, data)
        try:
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            os.close(fd)
    except OSError as exc:
        why = f"could not write {path}: {exc.strerror}; check the directory and the free space"
        raise BuildFailed(why) from None
    return path


def read_metadata(slug_path: Path) -> dict[str, object]:
    """The build report written beside a slug (`<slug>.json`)."""
    path = metadata_path(slug_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MetadataMissing(f"{path} not found: rebuild the slug with `slugbuild build`, which writes it "
                              "beside the slug") from None
    except (OSError, ValueError) as exc:
        raise MetadataMissing(f"{path} is not readable JSON ({exc}); rebuild the slug with "
                              "`slugbuild build`") from None
    if not isinstance(data, dict):
        raise MetadataMissing(f"{path} is not a JSON object; rebuild the slug with `slugbuild build`")
    return data


class SlugReportMismatch(SlugbuildError):
    """A slug and a `<slug>.json` that describes another slug."""

    def __init__(self, slug_path: Path, said: object, found: str) -> None:
        super().__init__(f"{slug_path} is not the slug {metadata_path(slug_path).name} describes (it says "
                         f"{said}, the file is {found}): the build that wrote them was cut short or one was "
                         "replaced; rebuild with `slugbuild build`")


def read_report(slug_path: Path) -> dict[str, object]:
    """The build report beside `slug_path`, only when it describes that very file (size and checksum)."""
    data = read_metadata(slug_path)
    said = data.get("checksum")
    try:
        with open(slug_path, "rb") as fh:
            found = f"SHA256:{hashlib.file_digest(fh, 'sha256').hexdigest()}"
    except OSError as exc:
        raise MetadataMissing(f"slug {slug_path}: {exc.strerror}; give a readable slug file") from None
    if not isinstance(said, str) or said.lower() != found.lower():
        raise SlugReportMismatch(slug_path, said, found)
    return data
