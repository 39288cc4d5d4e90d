"""Node.js end to end: real node from the loopback mirror, real npm installs from a loopback registry,
slugs built by the CLI and booted as a dyno would boot them."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from slugbuild import run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
BOOT_TIMEOUT_S = 60


def build(run_cli, source: Path, output: Path, env: dict[str, str], *flags: str) -> tuple[dict, str]:
    """Build through the real CLI; return the --json report and the build log (stderr)."""
    result = run_cli("build", source, "-o", output, "--json", *flags, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def slug_names(slug: Path) -> set[str]:
    with tarfile.open(slug) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


def executables_in_group(pgid: int) -> list[Path]:
    """The programs every process of a process group is running, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found.append(Path(os.readlink(stat.parent / "exe")))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


def answer(slug: Path, command: str, dyno_dir: Path) -> tuple[str, list[Path]]:
    """Boot `command` from the unpacked slug with only the stack's PATH; its HTTP answer and the programs
    its process group runs."""
    app_dir = run.unpack(slug, dyno_dir)
    port = run.free_port()
    with run.booted(app_dir, command, port=port) as proc:
        body = run.wait_for_http(port, proc, BOOT_TIMEOUT_S)
        programs = executables_in_group(proc.pid)
    return body, programs


def test_examples_node_answers_hello_world_on_the_slugs_own_node(run_cli, mirror_env, tmp_path):
    report, log = build(run_cli, ROOT / "examples" / "node", tmp_path / "slug.tgz", mirror_env)
    [node] = [r for r in report["runtimes"] if r["name"] == "node"]
    assert node["url"].startswith(mirror_env["SLUGBUILD_NODE_MIRROR"] + "/v24.")
    assert (node["requested"], node["source"]) == ("24.x", "package.json engines.node")
    assert f"Installing node {node['version']} (24.x from package.json engines.node)" in log
    assert report["process_types"] == {"web": "node web.js"}

    body, programs = answer(Path(report["path"]), report["process_types"]["web"], tmp_path / "dyno")
    assert body == "Hello World"
    slug_node = (tmp_path / "dyno" / "app" / ".heroku" / "node" / "bin" / "node").resolve()
    assert slug_node in programs
    assert not [p for p in programs if p.name == "node" and p != slug_node]


def test_dependencies_install_from_the_registry_and_an_unchanged_rebuild_downloads_nothing(
        run_cli, mirror_env, runtime_mirror, npm_registry, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(APPS / "node-deps", source)
    flags = ("--env", f"NPM_CONFIG_REGISTRY={npm_registry.url}/")
    registry_mark = len(npm_registry.requests)
    first, _ = build(run_cli, source, tmp_path / "first.tgz", mirror_env, *flags)
    assert {"/debug/-/debug-4.3.4.tgz", "/ms/-/ms-2.1.2.tgz",
            "/is-number/-/is-number-7.0.0.tgz"} <= set(npm_registry.requests_since(registry_mark))

    names = slug_names(Path(first["path"]))
    assert {"app/node_modules/debug/package.json", "app/node_modules/ms/package.json"} <= names
    assert "app/built.txt" in names  # the build script ran with the devDependency installed ...
    assert not [n for n in names if n.startswith("app/node_modules/is-number")]  # ... then it was pruned
    body, _ = answer(Path(first["path"]), first["process_types"]["web"], tmp_path / "dyno")
    assert body == "two days are 172800000 ms; debug is a function\n"

    registry_mark, mirror_mark = len(npm_registry.requests), len(runtime_mirror.requests)
    second, log = build(run_cli, source, tmp_path / "second.tgz", mirror_env, *flags)
    assert "Restored node_modules from the cache (package-lock.json, node, npm and stack unchanged)" in log
    assert npm_registry.requests_since(registry_mark) == []
    assert not [p for p in runtime_mirror.requests_since(mirror_mark) if p.endswith(".tar.gz")]
    assert second["checksum"] == first["checksum"]
