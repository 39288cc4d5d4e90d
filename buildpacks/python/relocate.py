"""Making what the installers wrote work wherever the slug is unpacked (/app on a dyno, a temporary
directory under `slugbuild run`): console scripts name the build directory's Python in their `#!` line."""

from __future__ import annotations

import os
from pathlib import Path

# A script that is both sh and Python: sh runs the Python next to the script; Python sees a string.
# (The form pip and uv themselves use for paths a #! line cannot hold, made relative.)
TRAMPOLINE = b"""#!/bin/sh
'''exec' "$(dirname -- "$(readlink -f -- "$0")")/%s" "$0" "$@"
' '''
"""
# Files an editable install leaves in site-packages that name the build directory.
EDITABLE_GLOBS = ("*.pth", "*.egg-link", "__editable___*_finder.py")
DYNO_APP_DIR = "/app"


def portable_scripts(python_home: Path) -> int:
    """Rewrite each bin/ script whose `#!` names this build's Python to run the Python beside it;
    return how many were rewritten."""
    bin_dir = python_home / "bin"
    prefix = f"#!{bin_dir}/".encode()
    count = 0
    for script in sorted(bin_dir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as fh:
            head = fh.read(len(prefix) + 64)
        if not head.startswith(prefix):
            continue
        data = script.read_bytes()
        first, _, rest = data.partition(b"\n")
        interpreter = first[len(prefix):].split()[0]
        _replace(script, TRAMPOLINE % interpreter + rest)
        count += 1
    return count


def editable_paths(python_home: Path, app_dir: Path) -> None:
    """Point editable installs at /app, where the dyno has the app, as Heroku's bin/compile does."""
    old, new = str(app_dir).encode(), DYNO_APP_DIR.encode()
    for pattern in EDITABLE_GLOBS:
        for path in python_home.glob(f"lib/python3.*/site-packages/{pattern}"):
            data = path.read_bytes()
            if old in data:
                _replace(path, data.replace(old, new))


def _replace(path: Path, data: bytes) -> None:
    """A new file in place of `path` (same mode): it may be a hard link into a shared cache."""
    tmp = path.with_name(f".{path.name}.slugbuild-tmp")
    tmp.write_bytes(data)
    tmp.chmod(path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
