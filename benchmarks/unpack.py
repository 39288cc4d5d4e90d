"""Unpacking a runtime (slugbuild's safe extraction against `tar xzf`) and checking an unpacked runtime in
the cache before reuse (every file re-hashed) against unpacking it again."""

from __future__ import annotations

import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import MIRROR, PYTHON, ROOT, heading, median_of, require, row, run_measured

RUNS = 3
EXTRACT = ("import sys; from slugbuild.fetch import extract; "
           "extract(sys.argv[1], sys.argv[2], strip_components=1)")


def main() -> None:
    archives = sorted(MIRROR.glob("node/*/node-*-linux-x64.tar.gz")) + sorted(MIRROR.glob("go/go*.tar.gz"))
    if not archives:
        print("  (no runtimes in .cache/mirror: run `make runtimes`)")
        return
    heading(f"unpack a runtime: slugbuild against tar xzf (median of {RUNS})")
    for archive in archives:
        unpack(archive)
    heading("check an unpacked runtime in the cache before reuse, against unpacking it again")
    for archive in archives:
        check(archive)


def unpack(archive: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-unpack-", dir=ROOT / ".cache") as tmp:
        dest = Path(tmp) / "out"

        def fresh() -> None:
            shutil.rmtree(dest, ignore_errors=True)

        ours = median_of(RUNS, lambda: run_measured([PYTHON, "-c", EXTRACT, str(archive), str(dest)]), fresh)
        row(f"{archive.name}: slugbuild", f"{ours.seconds:.2f} s", f"peak {ours.peak_rss_mb:.0f} MB")
        if require("tar"):
            argv = ["tar", "xzf", str(archive), "-C", str(dest), "--strip-components=1"]
            tar = median_of(RUNS, lambda: run_measured(argv), lambda: (fresh(), dest.mkdir()))
            row(f"{archive.name}: tar xzf", f"{tar.seconds:.2f} s")
            row("slugbuild vs tar", f"{ours.seconds / tar.seconds:.2f}x", "target <= 1.2x")


def check(archive: Path) -> None:
    from slugbuild.fetch import Fetcher
    from slugbuild.log import RecordingLog

    with tempfile.TemporaryDirectory(prefix="bench-check-", dir=ROOT / ".cache") as tmp:
        fetcher = Fetcher(Path(tmp), RecordingLog())
        url, sha = archive.resolve().as_uri(), hashlib.sha256(archive.read_bytes()).hexdigest()
        started = time.perf_counter()
        fetcher.tree(url, sha, strip_components=1)
        unpacked = time.perf_counter() - started
        checks = []
        for _ in range(RUNS):
            started = time.perf_counter()
            assert fetcher.tree(url, sha, strip_components=1).reused
            checks.append(time.perf_counter() - started)
        checked = statistics.median(checks)
        row(f"{archive.name}: check before reuse", f"{checked:.2f} s", f"unpacking it: {unpacked:.2f} s")
        row("check vs unpacking again", f"{checked / unpacked:.2f}x", "target <= 0.25x")
