"""SIGINT, SIGTERM and SIGKILL after each build phase, sent through slugbuild's checkpoint hook (no sleeps):
the work directory never outlives the build, a slug is never found beside another slug's report, and
what a killed build left is reclaimed by the next one, never what a running build still holds."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from slugbuild import checkpoints, leftovers, slug
from slugbuild.errors import SlugbuildError
from slugbuild.log import RecordingLog
from slugbuild.platform import release

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
APP = FIXTURES / "classic-app"
BUILDPACK = FIXTURES / "classic-greeter"

# Runs `slugbuild ARGS` and sends this process SIGNAL once the build has finished PHASE.
DRIVER = """
import signal, sys
from slugbuild import checkpoints, cli
phase, signum = sys.argv[1], getattr(signal, sys.argv[2])
checkpoints.hook = lambda reached: signal.raise_signal(signum) if reached == phase else None
sys.exit(cli.main(sys.argv[3:]))
"""
EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 128 + signal.SIGTERM, "SIGKILL": -signal.SIGKILL}
# From this checkpoint on, the new report is in place (a SIGKILL leaves it beside the old slug)...
REPORT_IN_PLACE = checkpoints.PHASES.index("report-published")
# ...and from this one the new slug too: the build's output is complete whatever comes after.
SLUG_IN_PLACE = checkpoints.PHASES.index("published")


def build_command(out: Path, cache: Path, *greeting: str) -> list[str]:
    return ["build", str(APP), "-b", str(BUILDPACK), "-o", str(out), "--cache-dir", str(cache), "--quiet",
            *(["--env", f"GREETING_STYLE={greeting[0]}"] if greeting else [])]


def run(tmp: Path, args: list[str], driver: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    argv = [sys.executable, *(["-c", DRIVER, *driver] if driver else ["-m", "slugbuild"]), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def old_pair(tmp_path_factory) -> Path:
    """A slug and its report from an earlier, complete build: what an interrupted rebuild must not spoil."""
    root = tmp_path_factory.mktemp("old")
    (root / "tmp").mkdir()
    done = run(root / "tmp", build_command(root / "slug.tgz", root / "cache", "old"))
    assert done.returncode == 0, done.stderr
    return root / "slug.tgz"


@pytest.fixture
def place(tmp_path, old_pair) -> tuple[Path, Path, Path]:
    """(TMPDIR, -o, cache) for one build, the earlier pair already at -o."""
    tmp, out_dir = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    out_dir.mkdir()
    shutil.copy(old_pair, out_dir / "slug.tgz")
    shutil.copy(slug.metadata_path(old_pair), slug.metadata_path(out_dir / "slug.tgz"))
    return tmp, out_dir / "slug.tgz", tmp_path / "cache"


def partials(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.endswith(".partial"))


def pair_is_consistent(out: Path) -> bool:
    """Whether the readers accept the pair at `out`; when they refuse, it is one line, never a traceback."""
    try:
        slug.read_report(out)
        release.load_slug(out, [])
    except SlugbuildError as exc:
        assert "\n" not in str(exc)
        return False
    return True


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", checkpoints.PHASES)
def test_ctrl_c_or_sigterm_after_any_phase_leaves_a_whole_pair_and_no_work_directory(place, phase, signame,
                                                                                     old_pair):
    tmp, out, cache = place
    done = run(tmp, build_command(out, cache, "new"), [phase, signame])
    assert done.returncode == EXIT_STATUS[signame], done.stderr
    assert "Traceback" not in done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.endswith("interrupted" if signame == "SIGINT" else "terminated")
    assert list(tmp.iterdir()) == [] and partials(out) == []
    assert pair_is_consistent(out)
    # Ctrl-C and SIGTERM wait while the two renames run: the pair is either all old or all new.
    is_new = slug.read_report(out)["checksum"] != slug.read_report(old_pair)["checksum"]
    assert is_new is (checkpoints.PHASES.index(phase) >= REPORT_IN_PLACE)


@pytest.mark.parametrize("phase", checkpoints.PHASES)
def test_after_a_sigkill_readers_refuse_a_mixed_pair_and_the_next_build_reclaims_the_leftovers(place, phase):
    tmp, out, cache = place
    done = run(tmp, build_command(out, cache, "new"), [phase, "SIGKILL"])
    assert done.returncode == EXIT_STATUS["SIGKILL"], done.stderr
    assert [p.name[:len("slugbuild-build-")] for p in tmp.iterdir()] == ["slugbuild-build-"]
    index = checkpoints.PHASES.index(phase)
    assert pair_is_consistent(out) is not (REPORT_IN_PLACE <= index < SLUG_IN_PLACE)
    if index == checkpoints.PHASES.index("pack"):
        assert len(partials(out)) == 1  # the finished slug, never renamed
    again = run(tmp, build_command(out, cache, "again"))
    assert again.returncode == 0, again.stderr
    assert list(tmp.iterdir()) == [] and partials(out) == []
    assert pair_is_consistent(out)


def test_slugbuild_run_refuses_a_slug_beside_another_slugs_report_in_one_line(place, old_pair, run_cli):
    tmp, out, cache = place
    done = run(tmp, build_command(out, cache, "new"), ["report-published", "SIGKILL"])
    assert done.returncode == EXIT_STATUS["SIGKILL"]
    result = run_cli("run", out, "--check", env={"TMPDIR": str(tmp)})
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        "slug.tgz is not the slug slug.tgz.json describes (it says "
        f"{json.loads(slug.metadata_path(out).read_text())['checksum']}, the file is "
        f"{slug.read_report(old_pair)['checksum']}): the build that wrote them was cut short or one was "
        "replaced; rebuild with `slugbuild build`")


def test_leftovers_a_live_process_holds_are_never_reclaimed(tmp_path):
    out = tmp_path / "slug.tgz"
    live_fd, live_partial = leftovers.partial_file(out)
    dead = []
    for name in ("slug.tgz.json", "slug.tgz.cdx.json", "slug.tgz.intoto.json"):
        dead_fd, dead_partial = leftovers.partial_file(tmp_path / name)
        os.close(dead_fd)  # its owner is gone: the lock went with it
        dead.append(dead_partial)
    with leftovers.work_dir(root=tmp_path) as live_work:
        assert leftovers.reclaim_work_dirs(tmp_path) == []
        assert sorted(leftovers.reclaim_partials(out)) == sorted(dead)
        assert live_work.is_dir() and live_partial.exists()
    assert not live_work.exists()
    os.close(live_fd)
    assert leftovers.reclaim_partials(out) == [live_partial]


def test_only_slugbuilds_own_leftovers_are_reclaimed(tmp_path):
    out = tmp_path / "slug.tgz"
    mine = tmp_path / "slugbuild-notes"  # named like a work directory but without slugbuild's lock file
    mine.mkdir()
    others = [tmp_path / n for n in (".slug.tgz.partial", ".other.tgz.abcdefgh.partial", "x.partial")]
    for path in others:
        path.write_text("not slugbuild's")
    assert leftovers.reclaim_work_dirs(tmp_path) == [] and leftovers.reclaim_partials(out) == []
    assert mine.is_dir() and all(p.exists() for p in others)


def test_a_work_directory_is_removed_even_when_go_made_parts_of_it_read_only(tmp_path):
    with leftovers.work_dir(root=tmp_path) as work:
        (work / "mod" / "pkg").mkdir(parents=True)
        (work / "mod" / "pkg" / "go.mod").write_text("module x\n")
        (work / "mod" / "pkg").chmod(0o555)
        (work / "mod").chmod(0o555)
    assert list(tmp_path.iterdir()) == []


def test_a_second_ctrl_c_while_the_work_directory_is_removed_does_not_cut_it_short(tmp_path):
    def interrupt_while_removing(path, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # arrives in the middle of the cleanup
        return real_remove(path)

    real_remove = leftovers.remove_tree
    leftovers.remove_tree = interrupt_while_removing
    try:
        with pytest.raises(KeyboardInterrupt), leftovers.work_dir(root=tmp_path) as work:
            (work / "file").write_text("x")
    finally:
        leftovers.remove_tree = real_remove
    assert list(tmp_path.iterdir()) == []


def test_a_lock_taken_by_another_process_keeps_its_directory(tmp_path):
    # An flock held by another open file description (another process) protects the directory.
    work = tmp_path / "slugbuild-build-abcdefgh"
    work.mkdir()
    lock = os.open(work / leftovers.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    assert leftovers.reclaim_work_dirs(tmp_path) == []
    os.close(lock)
    assert leftovers.reclaim_work_dirs(tmp_path) == [work]


def test_without_flock_a_work_directory_still_works_and_nothing_is_reclaimed(tmp_path, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")  # as on some network file systems

    stale = tmp_path / "slugbuild-build-abcdefgh"
    stale.mkdir()
    (stale / leftovers.LOCK_NAME).write_text("")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    with leftovers.work_dir(root=tmp_path) as work:
        (work / "file").write_text("x")
    assert not work.exists() and stale.is_dir()  # unknown whether its build still runs: left alone


def test_an_sbom_a_killed_build_left_beside_an_older_slug_is_not_sent_with_it(place):
    tmp, out, cache = place
    done = run(tmp, build_command(out, cache, "new"), ["report-written", "SIGKILL"])
    assert done.returncode == EXIT_STATUS["SIGKILL"]
    # The old pair, whole; its report names the SBOM beside it, which the killed build replaced.
    old = dataclasses.replace(release.load_slug(out, []), sbom=out.with_name("slug.tgz.cdx.json"))
    assert old.sbom.is_file()
    sent, log = [], RecordingLog()

    class Client:
        def request(self, *args, **kwargs):
            sent.append(args)

    release.send_sbom(Client(), "app", "slug-id", old, log)
    assert sent == []
    assert log.texts("warn") == [f"{old.sbom} describes another slug than slug.tgz; the slug is released "
                                 "without its SBOM (rebuild to get one)"]


def test_a_work_directory_something_still_writes_into_is_removed_all_the_same(tmp_path, monkeypatch):
    real_rmdir, late_writes = os.rmdir, []

    def rmdir_as_a_late_write_lands(path, *args, **kwargs):
        # As Go's telemetry child once did: a file lands in HOME between the listing and the rmdir.
        if Path(path).name == "late" and len(late_writes) < 3:
            late_writes.append(Path(path) / f"count-{len(late_writes)}")
            late_writes[-1].write_text("1")
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", rmdir_as_a_late_write_lands)
    with leftovers.work_dir(root=tmp_path) as work:
        (work / "home" / "late").mkdir(parents=True)
    assert len(late_writes) == 3
    assert [p for p in tmp_path.iterdir() if p.name.startswith(leftovers.WORK_PREFIX)] == []


def test_a_work_directory_that_cannot_be_removed_is_one_line_and_reclaimed_later(tmp_path, monkeypatch,
                                                                                  capsys):
    real_rmdir = os.rmdir

    def always_late(path, *args, **kwargs):
        if Path(path).name == "late":
            (Path(path) / f"count-{os.urandom(4).hex()}").write_text("1")
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(leftovers, "REMOVE_RETRY_S", 0)
    monkeypatch.setattr(os, "rmdir", always_late)
    with leftovers.work_dir(root=tmp_path) as work:
        (work / "home" / "late").mkdir(parents=True)
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f" !     could not remove the work directory {work} (Directory not empty); the next "
                    "build removes it")
    monkeypatch.setattr(os, "rmdir", real_rmdir)
    assert leftovers.reclaim_work_dirs(tmp_path) == [work]
    assert list(tmp_path.iterdir()) == []
