"""Timing and peak-memory measurement of whole commands, each in its own process."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIRROR = ROOT / ".cache" / "mirror"
PYTHON = sys.executable


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user + system of the command and what it waited for: steadier on a busy box


def run_measured(argv: Sequence[str] | str, *, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, shell: bool = False) -> Measured:
    """Run one command to completion; its wall time and the peak RSS of its largest process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd, shell=shell,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return Measured(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median_of(runs: int, once: Callable[[], Measured], before: Callable[[], None] | None = None) -> Measured:
    """The median wall time (and the largest peak memory) over `runs` runs; `before` resets state."""
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(once())
    return Measured(statistics.median(r.seconds for r in results), max(r.peak_rss_mb for r in results),
                    statistics.median(r.cpu_seconds for r in results))


def tree_size_mb(path: Path) -> float:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(base, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total / 1e6


def require(tool: str) -> str | None:
    return shutil.which(tool)


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<44} {value:>14}  {note}".rstrip(), flush=True)


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def wait_until_answering(url: str, headers: Mapping[str, str] | None = None, timeout_s: float = 60) -> None:
    """Poll `url` until a server answers it at all (any status), for servers started in the background."""
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, headers=dict(headers or {}), timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
