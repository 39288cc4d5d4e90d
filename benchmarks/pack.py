"""Packing a Node.js-sized tree: slugbuild's writer against `tar czf` and `tar | pigz`, and its memory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.harness import (
    MIRROR,
    PYTHON,
    ROOT,
    Measured,
    heading,
    median_of,
    require,
    row,
    run_measured,
    tree_size_mb,
)
from slugbuild import compressor

RUNS = 3
PACK_SNIPPET = (
    "import sys; from pathlib import Path; from slugbuild import slug; "
    "from slugbuild.log import RecordingLog; "
    "slug.pack(Path(sys.argv[1]), Path(sys.argv[2]), RecordingLog(), max_size_b=1 << 40)"
)


def node_tarball() -> Path:
    found = sorted(MIRROR.glob("node/v*/node-v*-linux-x64.tar.gz"))
    if not found:
        raise SystemExit("no Node.js runtime in .cache/mirror: run `make runtimes` first")
    return found[-1]


def make_tree(work: Path, copies: int = 1) -> Path:
    """work/app: the example app with a Node.js runtime unpacked beside it (`copies` times)."""
    app = work / "app"
    shutil.copytree(ROOT / "examples" / "node", app)
    for i in range(copies):
        target = app / ".heroku" / ("node" if i == 0 else f"node{i}")
        target.mkdir(parents=True)
        subprocess.run(["tar", "xzf", str(node_tarball()), "-C", str(target), "--strip-components=1"],
                       check=True)
    return app


def pack_slugbuild(app: Path, out: Path) -> Measured:
    return run_measured([PYTHON, "-c", PACK_SNIPPET, str(app), str(out)])


def main() -> None:
    heading("pack: a Node.js runtime plus examples/node into slug.tgz (median of 3)")
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        work = Path(tmp)
        app = make_tree(work)
        row("tree", f"{tree_size_mb(app):.0f} MB")
        outs = {name: work / f"{name}.tgz" for name in ("slugbuild", "tar", "pigz")}
        ours = median_of(RUNS, lambda: pack_slugbuild(app, outs["slugbuild"]))
        tar_czf = ["tar", "czf", str(outs["tar"]), "-C", str(work), "./app"]
        tar = median_of(RUNS, lambda: run_measured(tar_czf))
        sizes = {name: path.stat().st_size for name, path in outs.items() if path.exists()}
        level, threads = compressor.COMPRESS_LEVEL, compressor.COMPRESS_THREADS
        label = f"slugbuild pack (zlib-ng level {level}, {threads} threads)"
        row(label, f"{ours.seconds:.2f} s",
            f"{sizes['slugbuild'] / 1e6:.1f} MB, peak {ours.peak_rss_mb:.0f} MB")
        row("tar czf", f"{tar.seconds:.2f} s", f"{sizes['tar'] / 1e6:.1f} MB")
        if require("pigz"):
            pigz = median_of(RUNS, lambda: run_measured(
                f"tar cf - -C '{work}' ./app | pigz -6 > '{outs['pigz']}'", shell=True))
            row("tar | pigz -6", f"{pigz.seconds:.2f} s", f"{outs['pigz'].stat().st_size / 1e6:.1f} MB")
        else:
            row("tar | pigz -6", "skipped", "pigz is not installed (apt-get install pigz)")
        row("time vs tar czf", f"{ours.seconds / tar.seconds:.2f}x", "target <= 0.50x")
        row("bytes vs tar czf", f"{sizes['slugbuild'] / sizes['tar']:.3f}x", "target <= 1.02x")
        if require("pigz"):
            row("time vs tar | pigz", f"{ours.seconds / pigz.seconds:.2f}x")
    memory()


def memory() -> None:
    heading("pack: peak memory against the slug's size")
    for copies in (1, 3):
        with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
            work = Path(tmp)
            app = make_tree(work, copies)
            measured = pack_slugbuild(app, work / "slug.tgz")
            size = (work / "slug.tgz").stat().st_size / 1e6
            label = f"tree {tree_size_mb(app):.0f} MB -> slug {size:.0f} MB"
            row(label, f"{measured.peak_rss_mb:.0f} MB peak")
