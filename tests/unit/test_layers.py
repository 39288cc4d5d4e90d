"""The house's boundaries (DESIGN.md): data flows one way, and the client and server share only the wire."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    found |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return found


def is_within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = {m for m in imported_modules(path) if is_within(m, forbidden)}
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


@pytest.mark.parametrize(("package", "forbidden"), [
    ("buildpacks", ("slugbuild.cli", "slugbuild.platform", "slugbuild.build")),
    ("slugbuild/platform/server", ("slugbuild.platform.client", "slugbuild.platform.release",
                                   "slugbuild.platform.auth", "slugbuild.platform.blob", "slugbuild.build",
                                   "slugbuild.cli")),
    ("slugbuild/platform", ("slugbuild.cli", "slugbuild.buildpacks")),
])
def test_a_layer_never_imports_what_sits_above_it(package, forbidden):
    assert offenders(package, forbidden) == {}


def test_the_client_never_imports_the_server():
    client_side = list((ROOT / "slugbuild" / "platform").glob("*.py"))
    assert client_side, "the platform client modules moved; update this test"
    bad = {str(p): imported_modules(p) & {"slugbuild.platform.server"} for p in client_side}
    assert not any(bad.values()), bad


def test_the_core_knows_no_language():
    core = [p for p in (ROOT / "slugbuild").rglob("*.py") if p.name != "cli.py"]
    language = ("slugbuild.buildpacks",)
    bad = {str(p.relative_to(ROOT)): {m for m in imported_modules(p) if is_within(m, language)} for p in core}
    assert not any(bad.values()), bad
