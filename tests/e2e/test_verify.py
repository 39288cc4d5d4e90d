"""The examples' SBOMs and provenance, and `slugbuild verify` reproducing them or naming what changed."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EDITED = {"node": "web.js", "ruby": "app.rb", "go": "main.go", "python": "app.py"}
COMMENT = {"node": "//", "ruby": "#", "go": "//", "python": "#"}

# Each test builds and rebuilds real apps: generous for a loaded machine (pytest-timeout would end the run).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
def config_of(request):
    """The config vars an example builds with: Python's packages come from the loopback index."""

    def config(language: str) -> list[str]:
        if language != "python":
            return []
        return ["--env", f"PIP_INDEX_URL={request.getfixturevalue('python_index').url}/simple"]

    return config


@pytest.fixture
def built(run_cli, mirror_env, config_of, tmp_path):
    """Build a copy of an example with the loopback mirror; return (source copy, slug, --json report)."""

    def build(language: str) -> tuple[Path, Path, dict]:
        source = tmp_path / language
        shutil.copytree(EXAMPLES / language, source)
        slug = tmp_path / f"{language}.tgz"
        result = run_cli("build", source, "-o", slug, "--json", *config_of(language), env=mirror_env)
        assert result.exit_code == 0, result.stderr
        return source, slug, json.loads(result.stdout)

    return build


@pytest.mark.parametrize("language", ["node", "ruby", "go", "python"])
def test_each_example_has_a_valid_sbom_and_is_reproduced_by_verify(built, run_cli, mirror_env, config_of,
                                                                   language):
    source, slug, report = built(language)
    document = Path(report["sbom"]).read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    sbom = json.loads(document)
    (runtime,) = report["runtimes"]
    listed = {(c["name"], c["version"]): c for c in sbom["components"]}
    assert listed[(runtime["name"], runtime["version"])]["hashes"] == [
        {"alg": "SHA-256", "content": runtime["sha256"]}]
    assert sbom["metadata"]["component"]["hashes"][0]["content"] == report["checksum"].removeprefix("SHA256:")
    statement = json.loads(Path(report["provenance"]).read_text())
    assert statement["subject"][0]["digest"]["sha256"] == report["checksum"].removeprefix("SHA256:")

    verified = run_cli("verify", slug, source, *config_of(language), env=mirror_env)
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.strip() == f"reproduced: {report['checksum']}"

    edited = source / EDITED[language]
    edited.write_text(f"{edited.read_text()}\n{COMMENT[language]} edited after the build\n")
    changed = run_cli("verify", slug, source, *config_of(language), env=mirror_env)
    assert changed.exit_code == 1
    lines = changed.stdout.splitlines()
    assert lines[0].startswith(f"not reproduced: the slug is {report['checksum']}, the rebuild is SHA256:")
    assert any(line.startswith(f"./app/{EDITED[language]}: slug has file of ") for line in lines[1:]), lines
    assert "Traceback" not in changed.stderr


def test_verify_offline_reproduces_from_the_cache_alone(built, run_cli, mirror_env, runtime_mirror):
    source, slug, report = built("node")
    mark = len(runtime_mirror.requests)
    offline = run_cli("verify", slug, source, "--offline", env=mirror_env)
    assert offline.exit_code == 0, offline.stderr
    assert runtime_mirror.requests_since(mark) == []
    assert offline.stdout.strip() == f"reproduced: {report['checksum']}"
    # Without the mirror variable too (another shell, a reviewer's machine sharing the cache): the report
    # names the archive, which the cache holds; no release index is needed.
    unset = {key: "" for key in mirror_env}
    elsewhere = run_cli("verify", slug, source, "--offline", env=unset)
    assert elsewhere.exit_code == 0, elsewhere.stderr
    assert elsewhere.stdout.strip() == f"reproduced: {report['checksum']}"


def test_verify_refuses_a_slug_whose_report_belongs_to_another(built, run_cli, mirror_env):
    source, slug, _ = built("node")
    slug.write_bytes(slug.read_bytes() + b"\0")
    result = run_cli("verify", slug, source, env=mirror_env)
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith("give the slug its own report")


def test_the_sbom_lists_every_package_npm_installed_with_the_lockfiles_hash(run_cli, mirror_env, npm_registry,
                                                                           tmp_path):
    app = ROOT / "tests" / "e2e" / "apps" / "node-deps"
    result = run_cli("build", app, "-o", tmp_path / "slug.tgz", "--json",
                     "--env", f"NPM_CONFIG_REGISTRY={npm_registry.url}/", env=mirror_env)
    assert result.exit_code == 0, result.stderr
    lock = json.loads((app / "package-lock.json").read_text())["packages"]
    sbom = json.loads(Path(json.loads(result.stdout)["sbom"]).read_text())
    npm = {c["purl"]: c for c in sbom["components"] if c["purl"].startswith("pkg:npm/")}
    kept = {key: entry for key, entry in lock.items() if key and not entry.get("dev")}
    purls = {key: f"pkg:npm/{key.removeprefix('node_modules/')}@{e['version']}" for key, e in kept.items()}
    assert set(npm) == set(purls.values())
    for key, entry in kept.items():
        digest = base64.b64decode(entry["integrity"].removeprefix("sha512-")).hex()
        assert npm[purls[key]]["hashes"] == [{"alg": "SHA-512", "content": digest}]
    assert sbom["metadata"]["component"]["name"] == "node-deps"
