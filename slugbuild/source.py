"""Copy the app's source into a fresh build directory: `.git` out, `.slugignore` applied, commit id found."""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from slugbuild.errors import BuildFailed
from slugbuild.log import BuildLog

SLUGIGNORE = ".slugignore"
ALWAYS_LEFT_OUT = frozenset({".git"})
GIT_TIMEOUT_S = 10
SHOWN_PATH_CHARS = 150  # a longer path is shown with its middle left out


@dataclass(frozen=True)
class SourceTree:
    """The prepared copy of the source and the commit it came from (None when unknown)."""

    app_dir: Path
    commit: str | None


@dataclass(frozen=True)
class IgnorePattern:
    """One `.slugignore` pattern. As on Heroku, a pattern holding a `/` is anchored at the root, any other
    matches at any depth; a trailing `/` matches directories only."""

    parts: tuple[str, ...]
    anchored: bool
    dirs_only: bool

    @classmethod
    def parse(cls, token: str) -> IgnorePattern:
        parts = tuple(p for p in token.split("/") if p not in ("", "."))
        return cls(parts, "/" in token, token.endswith("/"))

    def matches(self, rel_parts: tuple[str, ...], is_dir: bool) -> bool:
        if self.dirs_only and not is_dir:
            return False
        if not self.anchored:
            return len(self.parts) == 1 and fnmatch.fnmatchcase(rel_parts[-1], self.parts[0])
        return _match_parts(self.parts, rel_parts)


def _match_parts(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Whether `path` matches `pattern`, `**` standing for any number of directories.

    Run as a set of pattern positions advanced one path part at a time (an NFA), never by trying each way
    to split the path among the `**`: that took seconds per path for seven of them. The cost is at most
    len(path) x len(pattern) part matches.
    """
    states = _past_globstars({0}, pattern)
    for name in path:
        advanced = set()
        for i in states:
            if i == len(pattern):
                continue
            if pattern[i] == "**":
                advanced.add(i)  # `**` swallows this part and may swallow more
            elif fnmatch.fnmatchcase(name, pattern[i]):
                advanced.add(i + 1)
        states = _past_globstars(advanced, pattern)
        if not states:
            return False
    return len(pattern) in states


def _past_globstars(states: set[int], pattern: tuple[str, ...]) -> set[int]:
    """`states` plus every position reached by letting `**` match no part at all."""
    reached = set(states)
    for i in states:
        while i < len(pattern) and pattern[i] == "**":
            i += 1
            reached.add(i)
    return reached


def parse_slugignore(text: str, log: BuildLog) -> list[IgnorePattern]:
    """Whitespace-separated patterns; `#` starts a comment to the end of the line; no negation."""
    patterns = []
    for line in text.splitlines():
        for token in line.split():
            if token.startswith("#"):
                break
            if token.startswith("!"):
                log.warn(f".slugignore: {token!r} ignored: negation is not supported (as on Heroku)")
                continue
            pattern = IgnorePattern.parse(token)
            if pattern.parts:
                patterns.append(pattern)
    return patterns


class _Copier:
    """Copies one tree without following links, leaving out what `.slugignore` and the caller exclude."""

    def __init__(self, src: Path, dest: Path, patterns: list[IgnorePattern], excluded: set[Path],
                 log: BuildLog) -> None:
        self.src, self.dest, self.patterns, self.excluded, self.log = src, dest, patterns, excluded, log
        self.ignored_files = 0

    def copy(self) -> None:
        """Copy one directory at a time from a to-do list, not by recursion: a source tree hundreds of
        levels deep must not exhaust Python's stack."""
        self.dest.mkdir(parents=True)
        pending: list[tuple[Path, tuple[str, ...]]] = [(self.src, ())]
        modes: list[tuple[Path, int]] = []
        while pending:
            directory, rel_dir = pending.pop()
            for path, rel, st in self._kept_entries(directory, rel_dir):
                target = self.dest.joinpath(*rel)
                if stat.S_ISDIR(st.st_mode):
                    target.mkdir()
                    pending.append((path, rel))
                    modes.append((target, stat.S_IMODE(st.st_mode) | stat.S_IRWXU))
                else:
                    self._copy_file(path, target, rel, st)
        for target, mode in reversed(modes):  # set once all inside is written: children before parents
            os.chmod(target, mode)

    def _is_left_out(self, path: Path, rel: tuple[str, ...]) -> bool:
        return rel[-1] in ALWAYS_LEFT_OUT or path in self.excluded

    def _kept_entries(self, directory: Path,
                      rel_dir: tuple[str, ...]) -> Iterator[tuple[Path, tuple[str, ...], os.stat_result]]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path, rel = Path(entry.path), (*rel_dir, entry.name)
            if self._is_left_out(path, rel):
                continue
            st = entry.stat(follow_symlinks=False)
            if any(p.matches(rel, stat.S_ISDIR(st.st_mode)) for p in self.patterns):
                self.ignored_files += _count_files(path, st)
                continue
            yield path, rel, st

    def _copy_file(self, path: Path, target: Path, rel: tuple[str, ...], st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(path), target)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(path, target, follow_symlinks=False)
            os.chmod(target, stat.S_IMODE(st.st_mode) | stat.S_IRUSR | stat.S_IWUSR)
        else:
            self.log.warn(f"{'/'.join(rel)}: not a regular file, directory or symlink; left out of the slug")


def _count_files(path: Path, st: os.stat_result) -> int:
    """Everything under `path` that is not a directory (links to directories count as files)."""
    if not stat.S_ISDIR(st.st_mode):
        return 1
    count, pending = 0, [path]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                else:
                    count += 1
    return count


def _read_slugignore(src: Path, log: BuildLog) -> list[IgnorePattern]:
    path = src / SLUGIGNORE
    if not path.is_file() or path.is_symlink():
        return []
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise BuildFailed(f"{path}: {exc.strerror}; make .slugignore readable") from None
    return parse_slugignore(text, log)


def git_commit(src: Path) -> str | None:
    """`git rev-parse HEAD` of the checkout holding `src`, or None when it is not one (or git is missing)."""
    # A caller's GIT_DIR would make git answer for another repository than SRC's.
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    try:
        done = subprocess.run(["git", "-C", str(src), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _commit(src: Path, flag: str | None, log: BuildLog) -> str | None:
    commit = git_commit(src)
    if commit and flag and flag != commit:
        log.warn(f"--commit {flag} ignored: {src} is a git checkout at {commit}")
    return commit or flag


def _copy_failed(src: Path, dest: Path, exc: OSError) -> BuildFailed:
    """The one line for a copy that failed: the file as it is called in SRC (shortened), and the fix."""
    name = str(exc.filename or src)
    if name.startswith(f"{dest}/"):
        name = f"{src}{name[len(str(dest)):]}"
    if len(name) > SHOWN_PATH_CHARS:
        name = f"{name[:SHOWN_PATH_CHARS // 3]}...{name[-SHOWN_PATH_CHARS // 2:]}"
    fix = ("shorten the path or leave it out with .slugignore" if exc.errno == errno.ENAMETOOLONG
           else "make it readable")
    return BuildFailed(f"could not copy the source {name}: {exc.strerror}; {fix}")


def prepare(src: Path, dest: Path, log: BuildLog, *, exclude: Iterable[Path] = (),
            commit: str | None = None) -> SourceTree:
    """Copy `src` into `dest` (which must not exist) with `.git`, `.slugignore` matches and `exclude` left
    out; symlinks are copied as links and never followed, so nothing outside `src` is read."""
    src = Path(src)
    patterns = _read_slugignore(src, log)
    copier = _Copier(src, Path(dest), patterns, {Path(p) for p in exclude}, log)
    try:
        copier.copy()
    except OSError as exc:
        raise _copy_failed(src, Path(dest), exc) from None
    if copier.ignored_files:
        log.step(f"Deleting {copier.ignored_files} files matching .slugignore patterns.")
    return SourceTree(Path(dest), _commit(src, commit, log))
