"""`slugbuild serve` for a team: releases/s and upload MB/s with 1 and 4 workers on PostgreSQL, and the
server's peak memory while a 1 GiB slug is uploaded, on each back end.

PostgreSQL is a throwaway cluster (tests/services.py); the S3 store is moto's server in its own process,
so its memory is not counted as serve's. Ratios: 4 workers against 1; upload MB/s against `cp` of the
same file on the same disk (what the server's write path could reach at best); peak memory against the
1 GiB it received.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks.harness import PYTHON, heading, row, wait_until_answering
from benchmarks.upload import HEADERS, KEY, make_slug
from tests import services

CLIENTS = 8
RELEASES_EACH = 40
UPLOAD_CLIENTS = 4
UPLOAD_EACH_B = 64 << 20
MEMORY_B = 1 << 30


@contextlib.contextmanager
def serve(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`slugbuild serve ARGS` on a free port: (url, pid), stopped at the end; its log is shown if the
    benchmark fails."""
    port = services.free_port()
    data_dir.mkdir(parents=True)
    log = (data_dir / "serve.log").open("w+")
    proc = subprocess.Popen([PYTHON, "-m", "slugbuild", "serve", "--port", str(port), "--data-dir",
                             str(data_dir), "--key", KEY, *args], env={**os.environ, **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/apps", HEADERS)
        yield url, proc.pid
    except BaseException:
        log.seek(0)
        print("".join(log.readlines()[-40:]), file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _new_app(url: str, app: str) -> None:
    requests.post(f"{url}/apps", json={"name": app}, headers=HEADERS, timeout=30).raise_for_status()


def _new_slug(url: str, app: str) -> dict:
    """A new slug of `app`: its id and its PUT blob URL."""
    return requests.post(f"{url}/apps/{app}/slugs", json={"process_types": {"web": "x"}}, headers=HEADERS,
                         timeout=30).json()


def _slug(url: str, app: str, data: bytes) -> str:
    _new_app(url, app)
    slug = _new_slug(url, app)
    requests.put(slug["blob"]["url"], data=data, timeout=60).raise_for_status()
    return slug["id"]


def _release_many(url: str, app: str, slug_id: str) -> None:
    with requests.Session() as session:
        for _ in range(RELEASES_EACH):
            session.post(f"{url}/apps/{app}/releases", json={"slug": slug_id}, headers=HEADERS,
                         timeout=60).raise_for_status()


def releases_per_s(url: str, tag: str) -> float:
    """Releases made by CLIENTS client processes at once (threads of one would measure the GIL)."""
    apps = [f"r{tag}-{i}" for i in range(CLIENTS)]
    slugs = [_slug(url, app, b"slug") for app in apps]
    with ProcessPoolExecutor(CLIENTS) as pool:
        list(pool.map(_release_many, [url] * CLIENTS, apps, slugs))  # warms clients, workers, pools
        start = time.perf_counter()
        list(pool.map(_release_many, [url] * CLIENTS, apps, slugs))
        elapsed = time.perf_counter() - start
    return CLIENTS * RELEASES_EACH / elapsed


def upload_mb_per_s(url: str, tag: str, slug_file: Path) -> float:
    _new_app(url, f"upload-{tag}")
    urls = [_new_slug(url, f"upload-{tag}")["blob"]["url"] for _ in range(UPLOAD_CLIENTS)]

    def put(blob_url: str) -> None:
        with slug_file.open("rb") as body:
            requests.put(blob_url, data=body, timeout=600).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(UPLOAD_CLIENTS) as pool:
        list(pool.map(put, urls))
    return UPLOAD_CLIENTS * UPLOAD_EACH_B / 1e6 / (time.perf_counter() - start)


def cp_mb_per_s(slug_file: Path) -> float:
    start = time.perf_counter()
    shutil.copyfile(slug_file, slug_file.with_suffix(".copy"))
    elapsed = time.perf_counter() - start
    slug_file.with_suffix(".copy").unlink()
    return slug_file.stat().st_size / 1e6 / elapsed


def _scaling(cluster: services.PostgresCluster, work: Path) -> None:
    slug_file = work / "upload.tgz"
    make_slug(slug_file, UPLOAD_EACH_B)
    measured: dict[int, tuple[float, float]] = {}
    for workers in (1, 4):
        database = cluster.new_database()
        with serve(work / f"w{workers}", "--workers", str(workers), "--database", database) as (url, _):
            tag = str(workers)
            measured[workers] = (releases_per_s(url, tag), upload_mb_per_s(url, tag, slug_file))
        row(f"{workers} worker(s): releases ({CLIENTS} clients)", f"{measured[workers][0]:.0f}/s")
        row(f"{workers} worker(s): upload ({UPLOAD_CLIENTS} x {UPLOAD_EACH_B >> 20} MiB)",
            f"{measured[workers][1]:.0f} MB/s")
    row("4 workers vs 1: releases", f"{measured[4][0] / measured[1][0]:.2f}x")
    row("4 workers vs 1: upload", f"{measured[4][1] / measured[1][1]:.2f}x")
    row("upload (4 workers) vs cp of the file", f"{measured[4][1] / cp_mb_per_s(slug_file):.2f}x")


@contextlib.contextmanager
def moto_process() -> Iterator[dict[str, str]]:
    port = services.free_port()
    proc = subprocess.Popen([str(Path(PYTHON).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**services.AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    try:
        wait_until_answering(env["AWS_ENDPOINT_URL"])
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _big_upload_peak(url: str, pid: int, big: Path) -> float:
    _new_app(url, "big")
    blob = _new_slug(url, "big")
    subprocess.run(["curl", "-sS", "--fail", "-T", str(big), "-H", "Content-Type:", blob["blob"]["url"]],
                   check=True, stdout=subprocess.DEVNULL)
    requests.post(f"{url}/apps/big/releases", json={"slug": blob["id"]}, headers=HEADERS,
                  timeout=600).raise_for_status()
    return peak_rss_mb(pid)


def _memory(cluster: services.PostgresCluster, work: Path) -> None:
    big = work / "big.tgz"
    make_slug(big, MEMORY_B)
    with serve(work / "local") as (url, pid):
        local = _big_upload_peak(url, pid, big)
    row(f"SQLite + files: serve's peak during {MEMORY_B >> 20} MiB", f"{local:.0f} MB",
        f"{local / (MEMORY_B / 1e6):.3f}x the slug")
    with moto_process() as env:
        bucket = services.new_bucket(env["AWS_ENDPOINT_URL"])
        with serve(work / "team", "--database", cluster.new_database(), "--blob-store", bucket,
                   env=env) as (url, pid):
            team = _big_upload_peak(url, pid, big)
    row(f"PostgreSQL + S3: serve's peak during {MEMORY_B >> 20} MiB", f"{team:.0f} MB",
        "bytes go to the store, not through serve")


def main() -> None:
    heading("serve for a team: PostgreSQL, workers, and memory during a 1 GiB upload")
    with tempfile.TemporaryDirectory(prefix="slugbuild-bench-team-") as tmp, services.postgres() as cluster:
        _scaling(cluster, Path(tmp))
        _memory(cluster, Path(tmp))
