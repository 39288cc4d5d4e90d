"""Whole builds of the examples, cold (empty cache) and warm (unchanged rebuild), against doing it by hand."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.harness import MIRROR, PYTHON, ROOT, Measured, heading, median_of, row, run_measured
from benchmarks.pack import node_tarball

RUNS = 3
MIRRORS = {
    "SLUGBUILD_NODE_MIRROR": f"file://{MIRROR}/node",
    "SLUGBUILD_GO_MIRROR": f"file://{MIRROR}/go",
    "SLUGBUILD_RUBY_MIRROR": f"file://{MIRROR}/ruby",
}


def slugbuild_build(example: str, work: Path, cache: Path) -> Measured:
    return run_measured([PYTHON, "-m", "slugbuild", "build", str(ROOT / "examples" / example),
                         "-o", str(work / "slug.tgz"), "--cache-dir", str(cache), "--quiet"], env=MIRRORS)


def by_hand(work: Path, download: bool) -> Measured:
    """The announcement's recipe: unpack node next to web.js, then `tar czf slug.tgz ./app`."""
    tarball = node_tarball()
    fetch = f"cp '{tarball}' '{work}/node.tar.gz' && " if download else ""
    source = f"{work}/node.tar.gz" if download else str(tarball)
    script = (f"rm -rf '{work}/app' && mkdir '{work}/app' && cp -r '{ROOT}/examples/node/.' '{work}/app' && "
              f"{fetch}tar xzf '{source}' -C '{work}/app' && "
              f"tar czf '{work}/slug.tgz' -C '{work}' ./app")
    return run_measured(script, shell=True)


def cold_and_warm(example: str) -> tuple[Measured, Measured]:
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        cold = median_of(RUNS, lambda: slugbuild_build(example, work, cache),
                         before=lambda: shutil.rmtree(cache, ignore_errors=True))
        slugbuild_build(example, work, cache)
        warm = median_of(RUNS, lambda: slugbuild_build(example, work, cache))
    return cold, warm


def node() -> None:
    heading("build examples/node: slugbuild against the recipe by hand (median of 3)")
    cold, warm = cold_and_warm("node")
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        hand_cold = median_of(RUNS, lambda: by_hand(Path(tmp), download=True))
        hand_warm = median_of(RUNS, lambda: by_hand(Path(tmp), download=False))
    row("slugbuild, cold (empty cache)", f"{cold.seconds:.2f} s", f"peak {cold.peak_rss_mb:.0f} MB")
    row("slugbuild, warm (unchanged rebuild)", f"{warm.seconds:.2f} s", f"peak {warm.peak_rss_mb:.0f} MB")
    row("by hand, cold (copy tarball, unpack, tar czf)", f"{hand_cold.seconds:.2f} s")
    row("by hand, warm (unpack, tar czf)", f"{hand_warm.seconds:.2f} s")
    row("cold vs by hand", f"{cold.seconds / hand_cold.seconds:.2f}x", "target <= 0.80x")
    row("warm vs by hand", f"{warm.seconds / hand_warm.seconds:.2f}x", "target <= 0.60x")


def go_and_ruby() -> None:
    heading("build examples/go and examples/ruby: cold and warm (median of 3)")
    for example in ("go", "ruby"):
        cold, warm = cold_and_warm(example)
        row(f"{example}, cold (empty cache)", f"{cold.seconds:.2f} s", f"peak {cold.peak_rss_mb:.0f} MB")
        row(f"{example}, warm (unchanged rebuild)", f"{warm.seconds:.2f} s",
            f"{warm.seconds / cold.seconds:.2f}x of cold")
