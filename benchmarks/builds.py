"""Whole builds of the examples, cold (empty cache) and warm (rebuilt after an edit or unchanged), against
doing it by hand."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import MIRROR, PYTHON, ROOT, Measured, heading, median_of, row, run_measured
from benchmarks.pack import node_tarball

RUNS = 3
MIRRORS = {
    "SLUGBUILD_NODE_MIRROR": f"file://{MIRROR}/node",
    "SLUGBUILD_GO_MIRROR": f"file://{MIRROR}/go",
    "SLUGBUILD_RUBY_MIRROR": f"file://{MIRROR}/ruby",
}


def slugbuild_build(source: Path, work: Path, cache: Path) -> Measured:
    return run_measured([PYTHON, "-m", "slugbuild", "build", str(source), "-o", str(work / "slug.tgz"),
                         "--cache-dir", str(cache), "--quiet"], env=MIRRORS)


def by_hand(source: Path, work: Path, download: bool) -> Measured:
    """The announcement's recipe: unpack node next to web.js, then `tar czf slug.tgz ./app`."""
    tarball = node_tarball()
    fetch = f"cp '{tarball}' '{work}/node.tar.gz' && " if download else ""
    unpacked = f"{work}/node.tar.gz" if download else str(tarball)
    script = (f"rm -rf '{work}/app' && mkdir '{work}/app' && cp -r '{source}/.' '{work}/app' && "
              f"{fetch}tar xzf '{unpacked}' -C '{work}/app' && "
              f"tar czf '{work}/hand.tgz' -C '{work}' ./app")
    return run_measured(script, shell=True)


def cold_and_warm(example: str) -> tuple[Measured, Measured]:
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        source = ROOT / "examples" / example
        cold = median_of(RUNS, lambda: slugbuild_build(source, work, cache),
                         before=lambda: shutil.rmtree(cache, ignore_errors=True))
        slugbuild_build(source, work, cache)
        warm = median_of(RUNS, lambda: slugbuild_build(source, work, cache))
    return cold, warm


def _edit(web_js: Path, counter: list[int]) -> None:
    """A developer's edit between two builds: web.js changes, nothing else does."""
    counter[0] += 1
    with web_js.open("a") as fh:
        fh.write(f"// edit {counter[0]}\n")


def _side_by_side(ours: Callable[[], Measured], theirs: Callable[[], Measured],
                  before: Callable[[], None]) -> tuple[Measured, Measured]:
    """Each run of ours right beside one of theirs, so a busy machine weighs on both alike."""
    mine, hand = [], []
    for _ in range(RUNS):
        before()
        mine.append(ours())
        hand.append(theirs())
    return median_of(RUNS, iter(mine).__next__), median_of(RUNS, iter(hand).__next__)


def node() -> None:
    heading("build examples/node: slugbuild against the recipe by hand (median of 3, side by side)")
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        work, cache, source = Path(tmp), Path(tmp) / "cache", Path(tmp) / "src"
        shutil.copytree(ROOT / "examples" / "node", source)
        cold, hand_cold = _side_by_side(lambda: slugbuild_build(source, work, cache),
                                        lambda: by_hand(source, work, download=True),
                                        lambda: shutil.rmtree(cache, ignore_errors=True))
        edits = [0]
        warm, hand_warm = _side_by_side(lambda: slugbuild_build(source, work, cache),
                                        lambda: by_hand(source, work, download=False),
                                        lambda: _edit(source / "web.js", edits))
        ours_b, hand_b = (work / "slug.tgz").stat().st_size, (work / "hand.tgz").stat().st_size
    row("slugbuild, cold (empty cache)", f"{cold.seconds:.2f} s",
        f"cpu {cold.cpu_seconds:.2f} s, peak {cold.peak_rss_mb:.0f} MB")
    row("slugbuild, warm (web.js edited)", f"{warm.seconds:.2f} s",
        f"cpu {warm.cpu_seconds:.2f} s, peak {warm.peak_rss_mb:.0f} MB")
    row("by hand, cold (copy tarball, unpack, tar czf)", f"{hand_cold.seconds:.2f} s",
        f"cpu {hand_cold.cpu_seconds:.2f} s")
    row("by hand, warm (unpack, tar czf)", f"{hand_warm.seconds:.2f} s", f"cpu {hand_warm.cpu_seconds:.2f} s")
    row("cold vs by hand", f"{cold.seconds / hand_cold.seconds:.2f}x",
        f"cpu {cold.cpu_seconds / hand_cold.cpu_seconds:.2f}x; target <= 0.60x")
    row("warm vs by hand", f"{warm.seconds / hand_warm.seconds:.2f}x",
        f"cpu {warm.cpu_seconds / hand_warm.cpu_seconds:.2f}x; target <= 0.15x")
    row("slug bytes vs tar czf", f"{ours_b / hand_b:.3f}x", f"{ours_b / 1e6:.1f} MB; target <= 1.02x")


def go_and_ruby() -> None:
    heading("build examples/go and examples/ruby: cold and warm (median of 3)")
    for example in ("go", "ruby"):
        cold, warm = cold_and_warm(example)
        row(f"{example}, cold (empty cache)", f"{cold.seconds:.2f} s", f"peak {cold.peak_rss_mb:.0f} MB")
        row(f"{example}, warm (unchanged rebuild)", f"{warm.seconds:.2f} s",
            f"{warm.seconds / cold.seconds:.2f}x of cold")
