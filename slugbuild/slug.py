"""The slug: a deterministic gzip tar of the app under `./app/`, hashed and sized while it is written."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zlib_ng import gzip_ng_threaded

from slugbuild import checkpoints, leftovers
from slugbuild.errors import BuildFailed, SlugbuildError
from slugbuild.log import BuildLog

ROOT = "./app"
# zlib-ng's level 6 is weaker than gzip's: on a Node.js tree it wrote 1.023x the bytes of `tar czf`, level 7
# 1.016x for about 1.5x its CPU time (still well under `tar czf`'s time on two threads); 9 costs 2.5x.
COMPRESS_LEVEL = 7
# Each compressor thread is reused for every n-th block and carries state from one block to the next, so
# the bytes depend on the thread count (measured: 2 and 4 threads differ on a Node.js tree). Fixed here,
# never taken from the machine, so every machine writes the same slug.
COMPRESS_THREADS = 2
SOFT_LIMIT_B = 300 * 1024 * 1024  # Heroku's soft limit, above which boot gets slower
JOIN_POLL_S = 0.2


@dataclass(frozen=True)
class Slug:
    """A slug written to disk, with the sha256 and size computed while writing it."""

    path: Path
    sha256: str
    size: int

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


class HashingWriter:
    """A write-only file that hashes and counts what passes through. Past `limit` bytes it stops writing
    to disk and only counts, so an oversized slug costs no disk space yet its size is still known."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.limit = raw, limit
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        self.size += n
        if self.size <= self.limit:
            self.digest.update(data)
            self.raw.write(data)
        return n

    def flush(self) -> None:
        self.raw.flush()


def header(arcname: str, st: os.stat_result, epoch: int, linkname: str = "") -> tarfile.TarInfo:
    """The only place slug headers are set: owner, time and mode depend on nothing but the file kind."""
    info = tarfile.TarInfo(arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = epoch
    info.devmajor = info.devminor = 0
    info.pax_headers = {}
    info.linkname = linkname
    if stat.S_ISDIR(st.st_mode):
        info.type, info.mode, info.size = tarfile.DIRTYPE, 0o755, 0
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.mode, info.size = tarfile.SYMTYPE, 0o777, 0
    else:
        executable = st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o755 if executable else 0o644, st.st_size
    return info


def _children(directory: Path, arc_dir: str, log: BuildLog) -> list[tuple[str, Path, os.stat_result]]:
    children = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        arcname = f"{arc_dir}/{entry.name}"
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            children.append((arcname, Path(entry.path), st))
        else:
            log.warn(f"{arcname[2:]}: not a regular file, directory or symlink; left out of the slug")
    return children


def _entries(app_dir: Path, log: BuildLog) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(archive name, path, lstat) depth first, sorted by name in each directory, as `tar --sort=name`."""
    yield ROOT, app_dir, os.lstat(app_dir)
    pending = [iter(_children(app_dir, ROOT, log))]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            continue
        yield item
        arcname, path, st = item
        if stat.S_ISDIR(st.st_mode):
            pending.append(iter(_children(path, arcname, log)))


def _points_outside(arcname: str, target: str) -> bool:
    if target.startswith("/"):
        return not (target == "/app" or target.startswith("/app/"))
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(arcname), target))
    return not (resolved == ROOT[2:] or resolved.startswith(ROOT[2:] + "/"))


def _add(tar: tarfile.TarFile, arcname: str, path: Path, st: os.stat_result, epoch: int,
         log: BuildLog) -> None:
    info = header(arcname, st, epoch, os.readlink(path) if stat.S_ISLNK(st.st_mode) else "")
    if info.type == tarfile.SYMTYPE and _points_outside(arcname, info.linkname):
        log.warn(f"{arcname[2:]} -> {info.linkname}: symlink points outside the app; "
                 "it will dangle on a dyno")
    if info.type != tarfile.REGTYPE:
        tar.addfile(info)
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; only its open is the app's problem
    except OSError as exc:
        raise BuildFailed(f"could not read {arcname[2:]}: {exc.strerror}; make it readable or leave it "
                          "out with .slugignore") from None
    with fh:
        try:
            tar.addfile(info, fh)
        except OSError as exc:
            if exc.errno is not None:  # a write error: the slug's, reported by pack()
                raise
            raise BuildFailed(f"{arcname[2:]} shrank while the slug was written; build again when nothing "
                              "writes into the app") from None


def _write_tar(app_dir: Path, out: BinaryIO, epoch: int, log: BuildLog, cancel: threading.Event) -> None:
    # Stream mode ("w|") hands the compressor fixed-size records, so the gzip blocks depend only on the
    # tar bytes, not on how they were written.
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for arcname, path, st in _entries(app_dir, log):
            if cancel.is_set():
                raise KeyboardInterrupt
            _add(tar, arcname, path, st, epoch, log)


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


def _compress(app_dir: Path, raw: BinaryIO, epoch: int, limit: int, log: BuildLog) -> HashingWriter:
    sink = HashingWriter(raw, limit)

    def work(cancel: threading.Event) -> None:
        with gzip_ng_threaded.open(sink, "wb", compresslevel=COMPRESS_LEVEL, threads=COMPRESS_THREADS) as gz:
            _write_tar(app_dir, gz, epoch, log, cancel)

    _in_thread(work)
    return sink


def pack(app_dir: Path, output: Path, log: BuildLog, *, epoch: int = 0, max_size_b: int,
         report: Callable[[Slug], Mapping[str, object]] | None = None) -> Slug:
    """Write `app_dir` as a slug at `output`, all or nothing: a failure or an interrupt leaves no file behind.

    With `report`, the JSON it returns for the finished slug is published beside it as `<slug>.json`, the
    pair together: see `_publish`.
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
            sink = _compress(Path(app_dir), raw, epoch, max_size_b, log)
        if sink.size > max_size_b:
            raise SlugTooLarge(sink.size, max_size_b)
        os.chmod(tmp, 0o644)
        built = Slug(output, sink.digest.hexdigest(), sink.size)
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
