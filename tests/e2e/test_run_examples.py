"""The examples built with real runtimes from the local mirror, then booted with `slugbuild run`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from slugbuild import run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT / "tests" / "fixtures"
ANSWERS = {"node": "Hello World", "ruby": "Hello from Ruby!", "go": "Hello from Go!"}

pytestmark = pytest.mark.e2e


def mirror_for(mirror_env: dict[str, str], language: str) -> dict[str, str]:
    if f"SLUGBUILD_{language.upper()}_MIRROR" not in mirror_env:
        pytest.fail(f"the mirror has no {language} runtimes: run `make runtimes` first", pytrace=False)
    return mirror_env


def processes_under(directory: Path) -> list[int]:
    """Running processes whose working directory is inside `directory` (zombies are not running)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if state != "Z" and cwd.is_relative_to(directory):
            found.append(int(proc.name))
    return found


def build_example(source: Path, buildpacks: tuple[str | Path, ...], output: Path,
                  env: dict[str, str]) -> Path:
    flags = [arg for bp in buildpacks for arg in ("--buildpack", str(bp))]
    argv = [sys.executable, "-m", "slugbuild", "build", str(source), *flags, "-o", str(output)]
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return output


@pytest.fixture(scope="module")
def slug_of(tmp_path_factory: pytest.TempPathFactory, mirror_env: dict[str, str]):
    """Build an example (once per module, sharing one cache) with runtimes from the loopback mirror."""
    root = tmp_path_factory.mktemp("slugs")
    built: dict[tuple[object, ...], Path] = {}

    def build(language: str, source: Path | None = None, *buildpacks: str | Path) -> Path:
        key = (language, source, *buildpacks)
        if key not in built:
            env = {**mirror_for(mirror_env, language), "SLUGBUILD_CACHE_DIR": str(root / "cache")}
            output = root / f"{language}-{len(built)}.tgz"
            built[key] = build_example(source or EXAMPLES / language, buildpacks, output, env)
        return built[key]

    return build


@pytest.mark.parametrize("language", ["node", "ruby", "go"])
def test_run_check_on_each_example(run_cli, slug_of, language: str):
    slug = slug_of(language)
    result = run_cli("run", slug, "--check")
    assert result.exit_code == 0, result.stderr
    assert f"web answered HTTP 200: {ANSWERS[language]}" in result.stdout


@pytest.mark.parametrize("language", ["node", "ruby", "go"])
def test_run_serves_until_interrupted_and_leaves_nothing_behind(slug_of, tmp_path: Path, language: str):
    slug = slug_of(language)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    port = run.free_port()
    cli = subprocess.Popen([sys.executable, "-m", "slugbuild", "run", slug, "--port", str(port)],
                           env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.DEVNULL)
    try:
        assert run.wait_for_http(port, cli, timeout_s=60).strip() == ANSWERS[language]
        assert processes_under(tmpdir)
        cli.send_signal(signal.SIGINT)
        cli.wait(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert processes_under(tmpdir) == []
    assert list(tmpdir.iterdir()) == []


def test_the_slugs_own_node_runs_with_only_the_stacks_path(run_cli, slug_of):
    slug = slug_of("node")
    result = run_cli("run", slug, "--", "command -v node; node --version")
    assert result.exit_code == 0, result.stderr
    where, version = result.stdout.strip().splitlines()[-2:]
    assert where.endswith("/app/.heroku/node/bin/node")
    assert version.startswith("v")


def test_a_classic_buildpack_before_the_node_buildpack(run_cli, slug_of, tmp_path: Path):
    source = tmp_path / "node-and-greeting"
    shutil.copytree(EXAMPLES / "node", source)
    shutil.copy(FIXTURES / "classic-app" / "greeting.txt", source)
    slug = slug_of("node", source, FIXTURES / "classic-greeter", "node")
    checked = run_cli("run", slug, "--check")
    assert checked.exit_code == 0, checked.stderr
    assert "web answered HTTP 200: Hello World" in checked.stdout  # the Procfile's web wins
    made = run_cli("run", slug, "--", "cat public/index.html; echo $GREETER_MOOD")
    assert made.stdout.splitlines()[-2:] == ["Hello from a classic buildpack (plain)", "cheerful"]
