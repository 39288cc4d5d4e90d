"""Leases and pruning: least recently used first, down to the limit, never an entry a build holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slugbuild import leases

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_SH)
print("holding", flush=True)
sys.stdin.read()
"""


def make_entry(root: Path, name: str, size: int, used_at: float) -> Path:
    entry = root / name
    entry.mkdir(parents=True)
    (entry / "data").write_bytes(b"x" * size)
    leases.take(entry).release()
    os.utime(entry / leases.LEASE_FILE, (used_at, used_at))
    return entry


@pytest.fixture
def holder():
    """Another process holding a lease, as a running build does; it lets go when the test ends."""
    procs = []

    def hold(entry: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(entry / leases.LEASE_FILE)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.communicate("")


def test_the_least_recently_used_go_first_until_the_rest_fits(tmp_path):
    old = make_entry(tmp_path, "old", 40_000, 1_000)
    mid = make_entry(tmp_path, "mid", 40_000, 2_000)
    new = make_entry(tmp_path, "new", 40_000, 3_000)
    result = leases.prune([new, old, mid], limit_b=100_000)
    assert (result.removed, old.exists(), mid.exists(), new.exists()) == (1, False, True, True)
    assert result.total_b <= 100_000 and result.freed_b >= 40_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid", "new"]  # nothing set aside is left


def test_taking_a_lease_makes_an_entry_recently_used(tmp_path):
    old = make_entry(tmp_path, "old", 40_000, 1_000)
    new = make_entry(tmp_path, "new", 40_000, 3_000)
    leases.take(old).release()
    leases.prune([old, new], limit_b=50_000)
    assert old.exists() and not new.exists()


def test_an_entry_another_build_holds_is_never_removed(tmp_path, holder):
    held = make_entry(tmp_path, "held", 40_000, 1_000)
    free = make_entry(tmp_path, "free", 40_000, 2_000)
    proc = holder(held)
    result = leases.prune([held, free], limit_b=0)
    assert held.exists() and (held / "data").stat().st_size == 40_000 and not free.exists()
    assert result.removed == 1 and result.total_b > 0
    proc.communicate("")  # that build ends: its lease goes with it
    assert leases.prune([held], limit_b=0).removed == 1 and not held.exists()


def test_an_entry_this_build_holds_is_never_removed(tmp_path):
    held = make_entry(tmp_path, "held", 40_000, 1_000)
    with leases.take(held):
        assert not leases.remove_unused(held) and held.exists()
    assert leases.remove_unused(held) and not held.exists()


def test_a_lease_on_an_entry_that_is_gone_is_none(tmp_path):
    entry = make_entry(tmp_path, "entry", 10, 1_000)
    assert leases.remove_unused(entry)
    assert leases.take(entry) is None
    assert leases.take(tmp_path / "never-there") is None


def test_an_entry_pruned_while_a_build_waited_for_its_lease_is_gone_for_that_build(tmp_path, monkeypatch):
    entry = make_entry(tmp_path, "entry", 10, 1_000)
    real_flock = leases.fcntl.flock

    def pruned_meanwhile(fd, op):
        if op == leases.fcntl.LOCK_SH:
            monkeypatch.setattr(leases.fcntl, "flock", real_flock)
            assert leases.remove_unused(entry)
        real_flock(fd, op)

    monkeypatch.setattr(leases.fcntl, "flock", pruned_meanwhile)
    assert leases.take(entry) is None


def test_sizes_are_counted_once_and_kept(tmp_path):
    entry = make_entry(tmp_path, "entry", 5_000, 1_000)
    first = leases.size_of(entry)
    (entry / "more").write_bytes(b"y" * 50_000)
    assert first >= 5_000 and leases.size_of(entry) == first  # entries never change once stored


def test_leftovers_of_killed_builds_are_removed_after_a_day(tmp_path):
    old, young = tmp_path / ".partial.old", tmp_path / ".partial.young"
    old.mkdir()
    young.mkdir()
    os.utime(old, (1_000, 1_000))
    leases.remove_stale_leftovers(tmp_path, (".partial.",))
    assert not old.exists() and young.exists()
