"""Heroku-style build output. Modules report events to a BuildLog; the CLI picks how they look."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Protocol, TextIO

from tqdm import tqdm

STEP = "-----> "
INDENT = "       "
WARN = " !     "


class BuildLog(Protocol):
    """Where modules report build events; the CLI picks how they look."""

    def step(self, msg: str) -> None: ...  # "-----> Node.js app detected"

    def info(self, msg: str) -> None: ...  # "       Using npm 10.5.0"

    def warn(self, msg: str) -> None: ...  # " !     Go also detected; using Node.js"

    def error(self, msg: str) -> None: ...  # " !     one line, the fix included"

    def child(self, line: str) -> None: ...  # a subprocess's output line

    def progress(self, label: str,
                 total: int | None) -> contextlib.AbstractContextManager[Callable[[int], None]]: ...

    def flush_children(self) -> None: ...  # quiet mode: replay the kept subprocess output (on failure)


class TextLog:
    """Heroku's format: steps and details on `out`, warnings and errors on `err`.

    With quiet=True only warnings and errors are shown; subprocess output is kept and replayed by
    flush_children() when a build fails. With --json the CLI passes out=sys.stderr so stdout stays JSON.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self._kept: list[str] = []

    def _print(self, stream: TextIO, text: str) -> None:
        print(text, file=stream, flush=True)

    def step(self, msg: str) -> None:
        if not self.quiet:
            self._print(self.out, STEP + msg)

    def info(self, msg: str) -> None:
        if not self.quiet:
            for line in msg.splitlines() or [""]:
                self._print(self.out, INDENT + line)

    def warn(self, msg: str) -> None:
        for line in msg.splitlines() or [""]:
            self._print(self.err, WARN + line)

    def error(self, msg: str) -> None:
        for line in msg.splitlines() or [""]:
            self._print(self.err, WARN + line)

    def child(self, line: str) -> None:
        if self.quiet:
            self._kept.append(line)
        else:
            self._print(self.out, INDENT + line)

    def flush_children(self) -> None:
        for line in self._kept:
            self._print(self.err, INDENT + line)
        self._kept.clear()

    @contextlib.contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        # disable=None hides the bar when the stream is not a terminal (CI, pipes).
        bar = tqdm(total=total, desc=INDENT + label, unit="B", unit_scale=True, unit_divisor=1024,
                   file=self.err, leave=False, disable=True if self.quiet else None)
        try:
            yield bar.update
        finally:
            bar.close()


class RecordingLog:
    """Collects events as (kind, text) pairs; tests assert on these instead of parsing stdout."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def step(self, msg: str) -> None:
        self.events.append(("step", msg))

    def info(self, msg: str) -> None:
        self.events.append(("info", msg))

    def warn(self, msg: str) -> None:
        self.events.append(("warn", msg))

    def error(self, msg: str) -> None:
        self.events.append(("error", msg))

    def child(self, line: str) -> None:
        self.events.append(("child", line))

    def flush_children(self) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        self.events.append(("progress", label))
        yield lambda n: None

    def texts(self, kind: str) -> list[str]:
        return [text for k, text in self.events if k == kind]
