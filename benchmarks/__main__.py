"""Run every benchmark: `python -m benchmarks [pack|node|builds|upload|team ...]`."""

from __future__ import annotations

import sys

from benchmarks import builds, pack, team, upload

SECTIONS = {
    "pack": pack.main,
    "node": builds.node,
    "builds": builds.go_and_ruby,
    "upload": upload.main,
    "team": team.main,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    for name in chosen:
        SECTIONS[name]()
    return 0


sys.exit(main(sys.argv[1:]))
