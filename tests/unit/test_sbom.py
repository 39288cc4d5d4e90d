"""The SBOM: each lockfile's installed packages with their versions and hashes, a document the CycloneDX
1.6 schema accepts, and the provenance statement beside it."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from slugbuild.buildpacks.go import inventory as go_inventory
from slugbuild.buildpacks.node import inventory as node_inventory
from slugbuild.buildpacks.ruby import inventory as ruby_inventory

from slugbuild import provenance, sbom
from slugbuild.buildpack import Runtime

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "sbom"
NODE_DEPS = ROOT / "tests" / "e2e" / "apps" / "node-deps"
NODE = Runtime("node", "24.x", "package.json engines.node", "24.1.0", "http://127.0.0.1/node.tgz", "ab" * 32)


def sri_hex(integrity: str) -> str:
    return base64.b64decode(integrity.removeprefix("sha512-")).hex()


def validate(document: dict) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert error is None, error


def installed(app: Path, *paths: str) -> None:
    for path in paths:
        (app / path).mkdir(parents=True)
        (app / path / "package.json").write_text("{}")


@pytest.fixture
def npm_app(tmp_path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(NODE_DEPS, app)
    return app


def test_npm_lists_what_node_modules_holds_with_the_lockfiles_integrity(npm_app):
    installed(npm_app, "node_modules/debug", "node_modules/ms")  # devDependency is-number pruned
    lock = json.loads((npm_app / "package-lock.json").read_text())["packages"]
    inv = node_inventory.read(npm_app)
    assert [(p.name, p.version) for p in inv.packages] == [("debug", "4.3.4"), ("ms", "2.1.2")]
    debug = inv.packages[0]
    assert debug.purl == "pkg:npm/debug@4.3.4"
    assert debug.hashes == {"SHA-512": sri_hex(lock["node_modules/debug"]["integrity"])}
    assert debug.depends_on == ("pkg:npm/ms@2.1.2",)
    assert inv.direct == ("pkg:npm/debug@4.3.4",)
    assert (inv.app_name, inv.app_version, inv.complete) == ("node-deps", "1.0.0", True)


def test_npm_keeps_dev_dependencies_that_were_not_pruned(npm_app):
    installed(npm_app, "node_modules/debug", "node_modules/ms", "node_modules/is-number")
    assert "pkg:npm/is-number@7.0.0" in {p.purl for p in node_inventory.read(npm_app).packages}


def test_npm_finds_a_nested_copy_before_the_hoisted_one(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "nest", "dependencies": {"a": "1", "b": "1"}}')
    (app / "package-lock.json").write_text(json.dumps({"lockfileVersion": 3, "packages": {
        "": {"name": "nest"},
        "node_modules/a": {"version": "1.0.0", "dependencies": {"c": "^2"}},
        "node_modules/a/node_modules/c": {"version": "2.0.0"},
        "node_modules/b": {"version": "1.0.0", "dependencies": {"c": "^1"}},
        "node_modules/c": {"version": "1.5.0"},
        "node_modules/@scope/d": {"version": "3.0.0"}}}))
    installed(app, "node_modules/a", "node_modules/a/node_modules/c", "node_modules/b", "node_modules/c",
              "node_modules/@scope/d")
    by_name = {(p.name, p.version): p for p in node_inventory.read(app).packages}
    assert by_name[("a", "1.0.0")].depends_on == ("pkg:npm/c@2.0.0",)
    assert by_name[("b", "1.0.0")].depends_on == ("pkg:npm/c@1.5.0",)
    assert by_name[("@scope/d", "3.0.0")].purl == "pkg:npm/%40scope/d@3.0.0"


@pytest.mark.parametrize("fixture", ["yarn-classic", "pnpm-v9"])
def test_yarn_and_pnpm_list_what_the_apps_dependencies_reach(fixture):
    inv = node_inventory.read(FIXTURES / fixture)  # no node_modules/is-number: devDependencies pruned
    assert [(p.name, p.version) for p in inv.packages] == [("debug", "4.3.4"), ("ms", "2.1.2")]
    assert inv.packages[0].hashes == {"SHA-512": sri_hex(
        "sha512-PRWFHuSU3eDtQJPvnNY7Jcket1j0t5OuOsFzPPzsekD52Zl8qUfFIPEiswXqIvHWGVHOgX+7G/vCNNhehwxfkQ==")}
    assert inv.packages[0].depends_on == ("pkg:npm/ms@2.1.2",)
    assert inv.direct == ("pkg:npm/debug@4.3.4",)


def test_yarn_berry_lists_packages_without_inventing_hashes():
    inv = node_inventory.read(FIXTURES / "yarn-berry")
    listed = [(p.name, p.version, p.hashes) for p in inv.packages]
    assert listed == [("debug", "4.3.4", {}), ("ms", "2.1.2", {})]
    assert inv.app_name == "@acme/berry-app"


def test_an_unreadable_lockfile_marks_the_inventory_incomplete_naming_it(npm_app):
    (npm_app / "package-lock.json").write_text('{"packages": {"node_modules/x": {"version": ')
    inv = node_inventory.read(npm_app)
    assert inv.packages == () and not inv.complete
    assert inv.problem.startswith("package-lock.json could not be read")


def test_gems_are_the_locked_ones_bundler_installed_with_the_locks_checksums(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(FIXTURES / "gems" / "Gemfile.lock", app)
    specs = app / "vendor" / "bundle" / "ruby" / "3.3.0" / "specifications"
    specs.mkdir(parents=True)
    # minitest is in the test group: BUNDLE_WITHOUT kept it out of vendor/bundle
    for gem in ("mustermann-3.0.3", "rack-3.1.8", "ruby2_keywords-0.0.5", "sinatra-4.1.0"):
        (specs / f"{gem}.gemspec").write_text("")
    inv = ruby_inventory.read(app)
    assert [(p.name, p.version) for p in inv.packages] == [
        ("mustermann", "3.0.3"), ("rack", "3.1.8"), ("ruby2_keywords", "0.0.5"), ("sinatra", "4.1.0")]
    by_name = {p.name: p for p in inv.packages}
    assert by_name["rack"].hashes == {
        "SHA-256": "d3fbcbca43dc2b43c9c6d7dfbac01667ae58643c42cea10013d0da970218a1b1"}
    assert by_name["sinatra"].depends_on == ("pkg:gem/mustermann@3.0.3", "pkg:gem/rack@3.1.8")
    assert inv.direct == ("pkg:gem/sinatra@4.1.0",)


def test_go_modules_carry_go_sums_h1_hash_as_sha256():
    inv = go_inventory.read(FIXTURES / "go-modules")
    assert [(p.purl, p.version) for p in inv.packages] == [
        ("pkg:golang/github.com/google/uuid@v1.6.0", "v1.6.0"),
        ("pkg:golang/golang.org/x/text@v0.21.0", "v0.21.0")]
    expected = base64.b64decode("NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=").hex()
    assert inv.packages[0].hashes == {"SHA-256": expected}
    assert inv.direct == ("pkg:golang/github.com/google/uuid@v1.6.0",)
    assert inv.app_name == "example.com/sbom-app"


def subject() -> sbom.Subject:
    return sbom.Subject("node-deps", "1.0.0", "c0ffee", "cd" * 32, "heroku-24")


def test_the_document_validates_and_names_the_app_runtime_packages_and_slug(npm_app):
    installed(npm_app, "node_modules/debug", "node_modules/ms")
    doc = sbom.document(subject(), [NODE], [node_inventory.read(npm_app)], [], epoch=0)
    validate(doc)
    assert doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "node-deps"
    assert doc["metadata"]["component"]["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    names = {(c["name"], c["version"]) for c in doc["components"]}
    assert names == {("node", "24.1.0"), ("debug", "4.3.4"), ("ms", "2.1.2")}
    app_deps = next(d for d in doc["dependencies"] if d["ref"] == "app")["dependsOn"]
    assert "pkg:npm/debug@4.3.4" in app_deps
    assert any(d.startswith("pkg:generic/node@24.1.0") for d in app_deps)
    assert doc["compositions"] == [{"aggregate": "complete", "assemblies": ["app"]}]


def test_the_same_slug_gives_the_same_document():
    first = sbom.document(subject(), [NODE], [], [], epoch=0)
    assert first == sbom.document(subject(), [NODE], [], [], epoch=0)
    assert first["metadata"]["timestamp"].startswith("1970-01-01")


def test_a_problem_marks_the_document_incomplete_and_says_why():
    doc = sbom.document(subject(), [NODE], [], ["yarn.lock could not be read (ValueError)"], epoch=None)
    validate(doc)
    assert doc["compositions"][0]["aggregate"] == "incomplete"
    assert {"name": "slugbuild:sbom:incomplete", "value": "yarn.lock could not be read (ValueError)"} in (
        doc["metadata"]["properties"])


def test_provenance_names_the_slug_source_builder_and_every_input(npm_app):
    installed(npm_app, "node_modules/debug", "node_modules/ms")
    statement = provenance.statement(
        slug_name="slug.tgz", slug_sha256="cd" * 32, commit=None, source_sha256="ef" * 32, stack="heroku-24",
        buildpacks=["node"], runtimes=[NODE], inventories=[node_inventory.read(npm_app)],
        started=datetime(2026, 1, 1, tzinfo=UTC), epoch=0)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "slug.tgz", "digest": {"sha256": "cd" * 32}}]
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    inputs = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert inputs[0] == {"name": "source", "digest": {"sha256": "ef" * 32}}
    assert {"name": "node", "uri": NODE.url, "digest": {"sha256": NODE.sha256}} in inputs
    assert "pkg:npm/ms@2.1.2" in {i["name"] for i in inputs}


def test_the_source_digest_follows_content_modes_and_links_not_timestamps(tmp_path):
    (tmp_path / "a").write_text("one")
    (tmp_path / "link").symlink_to("a")
    first = provenance.tree_digest(tmp_path)
    (tmp_path / "a").touch()
    assert provenance.tree_digest(tmp_path) == first
    (tmp_path / "a").chmod(0o755)
    assert provenance.tree_digest(tmp_path) != first
