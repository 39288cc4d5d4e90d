"""What slugbuild leaves on disk only while it runs: its work directories in TMPDIR and the `.partial` files
beside `-o`. Each is held by an flock for its owner's whole life; one nobody holds any more belongs to a
build that was killed (SIGKILL, a power cut) and the next build removes it. Removal itself cannot be cut
short by Ctrl-C or SIGTERM: those wait until it is done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

LOCK_NAME = ".slugbuild.lock"
WORK_PREFIX = "slugbuild-"
PARTIAL_SUFFIX = ".partial"
CLAIM_ATTEMPTS = 5
REMOVE_ATTEMPTS = 20  # passes over a tree something still writes into, REMOVE_RETRY_S apart
REMOVE_RETRY_S = 0.1
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the block runs, then deliver them: the block is never cut in two.

    Python runs signal handlers in the main thread only, so elsewhere there is nothing to hold back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    def note(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in DEFERRED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def _try_lock(fd: int, *, unsupported: bool = True) -> bool:
    """Whether we now hold `fd`'s lock; `unsupported` is the answer where the file system has no flock
    (some network file systems): a new file is ours anyway, but nothing there is ever reclaimed."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return unsupported
    return True


def _is_same_file(path: Path, fd: int) -> bool:
    """Whether `path` still names the file open as `fd` (a reclaimer may have removed it meanwhile)."""
    try:
        st, held = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _locked(create: Callable[[], tuple[int, Path]]) -> tuple[int, Path]:
    """A file `create` makes, flocked; retried when a reclaimer took it between creation and lock."""
    for _ in range(CLAIM_ATTEMPTS):
        fd, path = create()
        if _try_lock(fd) and _is_same_file(path, fd):
            return fd, path
        os.close(fd)
    raise OSError(f"could not lock a new file beside {path}")


def remove_tree(path: Path, attempts: int = REMOVE_ATTEMPTS) -> None:
    """Remove a directory tree without following links: read-only directories too (Go's module cache has
    them), and from a to-do list rather than by recursion, so no depth exhausts Python's stack. A process
    still writing into the tree (a tool's child that outlived it) gets a few passes before the last
    OSError is raised."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return
    for attempt in range(attempts):
        try:
            _remove_pass(str(path))
            return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                raise
            time.sleep(REMOVE_RETRY_S)


def _remove_pass(top: str) -> None:
    pending, emptied = [top], []
    while pending:
        directory = pending.pop()
        with contextlib.suppress(OSError):
            os.chmod(directory, stat.S_IRWXU)  # entries of a read-only directory cannot be removed
        emptied.append(directory)
        with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
    for directory in reversed(emptied):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(directory)


# -- work directories -----------------------------------------------------------------------------------

def _new_work_dir(root: Path, prefix: str) -> tuple[int, Path]:
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    lock = directory / LOCK_NAME
    return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), lock


@contextlib.contextmanager
def work_dir(prefix: str = f"{WORK_PREFIX}build-", root: Path | None = None) -> Iterator[Path]:
    """A fresh private directory in TMPDIR (or `root`), locked while the block runs and removed on every
    way out of it; stale ones that killed builds left behind are removed first."""
    root = Path(root or tempfile.gettempdir())
    reclaim_work_dirs(root)
    fd, lock = _locked(lambda: _new_work_dir(root, prefix))
    try:
        yield lock.parent.resolve()
    finally:
        with deferred_signals():
            try:
                _remove_work_dir(lock)
            except OSError as exc:  # one line, never a traceback over the build's own outcome
                print(f" !     could not remove the work directory {lock.parent} ({exc.strerror}); the next "
                      "build removes it", file=sys.stderr)
            os.close(fd)


def _remove_work_dir(lock: Path) -> None:
    """The work directory's contents first and its lock last: a directory whose contents could not be
    removed keeps its lock file, so the next build knows it as slugbuild's own and reclaims it."""
    with os.scandir(lock.parent) as entries:
        contents = [Path(entry.path) for entry in entries if entry.name != LOCK_NAME]
    for path in contents:
        remove_tree(path)
    remove_tree(lock.parent)


def reclaim_work_dirs(root: Path) -> list[Path]:
    """Remove every slugbuild work directory in `root` whose lock no live process holds; the removed ones.

    Only directories of this user that carry slugbuild's lock file are considered, never a link.
    """
    removed = []
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        candidates = [Path(e.path) for e in entries if e.name.startswith(WORK_PREFIX)]
    for directory in candidates:
        if _is_own_dir(directory) and _reclaim_locked(directory / LOCK_NAME, partial(remove_tree, directory)):
            removed.append(directory)
    return removed


def _is_own_dir(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def _reclaim_locked(lock: Path, remove: Callable[[], None]) -> bool:
    """Run `remove` while holding `lock`, when no one else holds it; whether it ran."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not (_try_lock(fd, unsupported=False) and _is_same_file(lock, fd)):
            return False
        remove()
        return True
    except OSError:  # not ours to remove after all (another user's, read-only): left as it is
        return False
    finally:
        os.close(fd)


# -- .partial files beside the output -------------------------------------------------------------------

def partial_file(final: Path) -> tuple[int, Path]:
    """A new, locked `.NAME.XXXXXXXX.partial` beside `final` and its open descriptor (the caller closes
    it, which releases the lock)."""
    final = Path(final)

    def create() -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=PARTIAL_SUFFIX)
        return fd, Path(name)

    return _locked(create)


def _partial_names(output: Path) -> re.Pattern[str]:
    # mkstemp's names: the prefix, eight of [a-z0-9_], the suffix; the files beside the slug add their own
    # suffix to its name (`.json.`, `.cdx.json.`, `.intoto.json.`).
    suffix = re.escape(PARTIAL_SUFFIX)
    return re.compile(rf"^\.{re.escape(output.name)}\.(?:[a-z]+\.)*[a-z0-9_]{{8}}{suffix}$")


def reclaim_partials(output: Path) -> list[Path]:
    """Remove the `.partial` files of the slug `output` and of the files beside it (report, SBOM,
    provenance) that no live build holds."""
    output = Path(output)
    names = _partial_names(output)
    try:
        candidates = [output.parent / n for n in os.listdir(output.parent) if names.match(n)]
    except OSError:
        return []
    removed = []
    for path in candidates:
        if _reclaim_locked(path, partial(os.unlink, path)):
            removed.append(path)
    return removed
