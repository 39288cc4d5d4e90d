"""What the tests that stop processes check: that a process is really gone."""

from __future__ import annotations

from pathlib import Path


def is_gone(pid: int) -> bool:
    """True when pid no longer runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] == "Z"
