"""Uploading a slug to the local server: slugbuild against curl, and slugbuild's peak memory at 1 GiB.

`curl --data-binary @FILE` (the Dev Center recipe) reads the whole file into memory first and fails on a
1 GiB file, so throughput is compared at THROUGHPUT_B with both curl forms, and memory at MEMORY_B with
`curl -T`, which streams.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests

from benchmarks.harness import PYTHON, Measured, heading, row, run_measured, wait_until_answering

THROUGHPUT_B = 256 << 20
MEMORY_B = 1 << 30
KEY = "bench-key"
HEADERS = {"Accept": "application/vnd.heroku+json; version=3", "Authorization": f"Bearer {KEY}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "slugbuild", "serve", "--port", str(port), "--data-dir", str(data_dir),
            "--key", KEY]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answering(f"{url}/apps", HEADERS)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_slug(path: Path, size: int) -> None:
    """Incompressible bytes, so no layer can cheat by compressing."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)


def blob_url(api: str, app: str) -> str:
    response = requests.post(f"{api}/apps/{app}/slugs", json={"process_types": {"web": "true"}},
                             headers=HEADERS, timeout=10)
    response.raise_for_status()
    return response.json()["blob"]["url"]


def curl(api: str, slug: Path, form: str) -> Measured:
    body = ["--data-binary", f"@{slug}"] if form == "data-binary" else ["-T", str(slug)]
    return run_measured(["curl", "-sS", "--fail", "-X", "PUT", "-H", "Content-Type:", *body,
                         blob_url(api, "bench")])


def slugbuild_release(api: str, slug: Path) -> Measured:
    return run_measured([PYTHON, "-m", "slugbuild", "release", str(slug), "--app", "bench",
                         "--process-type", "web=true", "--quiet"],
                        env={"SLUGBUILD_API_URL": api, "HEROKU_API_KEY": KEY})


def main() -> None:
    heading(f"upload to the local server on 127.0.0.1: {THROUGHPUT_B >> 20} MiB, then {MEMORY_B >> 20} MiB")
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-") as tmp:
        work = Path(tmp)
        with local_server(work / "data") as api:
            created = requests.post(f"{api}/apps", json={"name": "bench"}, headers=HEADERS, timeout=10)
            created.raise_for_status()
            small, large = work / "small.tgz", work / "large.tgz"
            make_slug(small, THROUGHPUT_B)
            results = {
                "curl --data-binary (PUT only)": curl(api, small, "data-binary"),
                "curl -T (PUT only)": curl(api, small, "T"),
                "slugbuild release (hash, slug, PUT, release)": slugbuild_release(api, small),
            }
            mb = THROUGHPUT_B / 1e6
            for label, measured in results.items():
                row(label, f"{mb / measured.seconds:.0f} MB/s", f"peak {measured.peak_rss_mb:.0f} MB")
            baseline = results["curl --data-binary (PUT only)"].seconds
            ours = results["slugbuild release (hash, slug, PUT, release)"].seconds
            row("throughput vs curl --data-binary", f"{baseline / ours:.2f}x")
            small.unlink()
            make_slug(large, MEMORY_B)
            big_curl = curl(api, large, "T")
            big_ours = slugbuild_release(api, large)
    row(f"curl -T, {MEMORY_B >> 20} MiB", f"{big_curl.peak_rss_mb:.0f} MB peak")
    row(f"slugbuild release, {MEMORY_B >> 20} MiB", f"{big_ours.peak_rss_mb:.0f} MB peak",
        f"{MEMORY_B / 1e6 / big_ours.seconds:.0f} MB/s")
