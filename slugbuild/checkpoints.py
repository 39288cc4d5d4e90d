"""Named points a build passes (`prepare`, `detect`, ..., `published`), where tests may act: send the
build a signal after a given phase, deterministically, with no sleeps.

The hook is set only by Python code that imports slugbuild (`checkpoints.hook = ...`); no environment
variable or flag reaches it, so no user and no CI setting can trip it by accident.
"""

from __future__ import annotations

from collections.abc import Callable

PHASES = ("prepare", "detect", "compile", "release", "pack", "report-written", "report-published",
          "published")

hook: Callable[[str], None] | None = None


def reached(phase: str) -> None:
    """The build has finished `phase`; call the test hook, if one is set."""
    if hook is not None:
        hook(phase)
