"""Text views of API objects for the terminal: releases, apps, config vars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slugbuild.platform.release import Released


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows padded into left-aligned columns two spaces apart, trailing space trimmed."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def release_lines(app: str, releases: Sequence[Mapping[str, Any]]) -> list[str]:
    """`=== APP Releases - Current: vN` and one line per release, newest first."""
    current = next((r for r in releases if r.get("current")), None)
    title = f"=== {app} Releases" + (f" - Current: v{current['version']}" if current else "")
    rows = [[f"v{r['version']}", r.get("description") or "", (r.get("user") or {}).get("email") or "",
             r.get("created_at") or "", "current" if r.get("current") else r.get("status") or ""]
            for r in releases]
    return [title, *columns(rows)] if rows else [title, "No releases yet"]


def app_lines(apps: Sequence[Mapping[str, Any]]) -> list[str]:
    """`=== Apps` and one line per app: name, stack, when it was last released."""
    rows = [[a["name"], (a.get("stack") or {}).get("name") or "", a.get("released_at") or "never released"]
            for a in apps]
    return ["=== Apps", *columns(rows)] if rows else ["=== Apps", "No apps yet"]


def config_lines(app: str, values: Mapping[str, str]) -> list[str]:
    """`=== APP Config Vars` and `KEY: value` lines in key order, values aligned, as Heroku prints them."""
    rows = [[f"{key}:", value] for key, value in sorted(values.items())]
    return [f"=== {app} Config Vars", *columns(rows)]


def released_lines(released: Sequence[Released]) -> list[str]:
    """`Released vN on APP`, one line per release created."""
    return [f"Released v{r.version} on {r.app}" for r in released]
