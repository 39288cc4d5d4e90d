"""Fetch ahead the Python packages the end-to-end tests install, and serve them as a PEP 503 index.

`python -m tests.e2e.pypi` (run by `make runtimes`) downloads wheels with `pip download` into
.cache/python-packages: what the example apps need and the package managers at the versions the Python
buildpack pins. tests/e2e/conftest.py serves that directory on 127.0.0.1 as a simple index, so the
builds install from a real package index without leaving the loopback interface.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES_DIR = ROOT / ".cache" / "python-packages"
# The examples' dependencies (tests/e2e/apps/python-*) and the package managers at the buildpack's pins.
APP_PACKAGES = ("flask==3.1.3", "gunicorn==27.0.1", "django==5.2.19")
TOOL_PACKAGES = ("pip==26.2.1", "setuptools==70.3.0", "uv==0.12.5", "poetry==2.4.1")
MARKER = PACKAGES_DIR / ".complete"


def normalized(name: str) -> str:
    """PEP 503's name for a project: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(filename: str) -> str:
    """The project a wheel (name-version-...whl) or sdist (name-version.tar.gz) belongs to."""
    return normalized(filename.split("-")[0])


def is_fetched() -> bool:
    wanted = "\n".join(APP_PACKAGES + TOOL_PACKAGES)
    return MARKER.is_file() and MARKER.read_text() == wanted


def project_page(name: str) -> bytes | None:
    """The simple index's page for project `name`: a link per file, with its sha256."""
    files = sorted(p for p in PACKAGES_DIR.glob("*") if p.is_file() and not p.name.startswith(".")
                   and project_of(p.name) == normalized(name))
    if not files:
        return None
    links = "".join(f'<a href="/files/{html.escape(p.name)}#sha256={sha256(p)}">{html.escape(p.name)}</a>\n'
                    for p in files)
    return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    if is_fetched():
        print(f"Python packages for the end-to-end tests are in {PACKAGES_DIR}")
        return 0
    PACKAGES_DIR.mkdir(parents=True, exist_ok=True)
    # --isolated: this machine's pip.conf (other indexes, find-links) must not decide what is fetched.
    subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--quiet", "--only-binary=:all:",
                    "--dest", str(PACKAGES_DIR), *APP_PACKAGES, *TOOL_PACKAGES], check=True)
    MARKER.write_text("\n".join(APP_PACKAGES + TOOL_PACKAGES))
    print(f"fetched Python packages for the end-to-end tests into {PACKAGES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
