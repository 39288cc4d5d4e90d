"""Which npm, yarn or pnpm an app gets, and how it is run: engines.npm, packageManager, USE_NPM_INSTALL,
NODE_BUILD_FLAGS."""

from __future__ import annotations

import json

import pytest
from node_fakes import FAKE_NPM_VERSION, NodeApp, compile_app
from slugbuild.buildpacks.node import NodeBuildpack
from slugbuild.buildpacks.node.npm import NpmInstallFailed

from slugbuild.errors import BuildFailed
from slugbuild.log import RecordingLog

LOCK = {"package-lock.json": "{}"}
YARN_LOCK = {"yarn.lock": "# yarn lockfile v1\n"}


def installed_npm(node_app: NodeApp) -> dict:
    return json.loads((node_app.app_dir / ".heroku/node/lib/node_modules/npm/package.json").read_text())


def test_engines_npm_installs_that_npm_through_the_configured_registry(node_app):
    node_app.write({"engines": {"npm": "10.9.2"}}, **LOCK)
    log = compile_app(node_app, {"NPM_CONFIG_REGISTRY": "http://127.0.0.1:4873/"})
    assert node_app.npm_calls()[0] == "npm install --global npm@10.9.2"
    assert installed_npm(node_app) == {"version": "10.9.2", "installedFrom": "http://127.0.0.1:4873/"}
    assert f"Installing npm (10.9.2 from package.json engines.npm, replacing npm {FAKE_NPM_VERSION})" in \
        log.texts("step")
    assert "Using npm 10.9.2 (10.9.2 from package.json engines.npm)" in log.texts("info")


def test_the_installed_npm_is_part_of_the_cache_signature(node_app):
    node_app.write({"engines": {"npm": "10.9.2"}}, **LOCK)
    compile_app(node_app)
    assert "npm 10.9.2" in (node_app.root / "cache" / "node" / "signature").read_text()


def test_another_build_from_the_same_cache_gets_nodes_own_npm_back(node_app):
    node_app.write({"engines": {"npm": "10.9.2"}}, **LOCK)
    compile_app(node_app)
    node_app.write({}, **LOCK)
    assert f"Using npm {FAKE_NPM_VERSION} (bundled with node)" in compile_app(node_app).texts("info")


def test_engines_npm_equal_to_the_bundled_npm_installs_nothing(node_app):
    node_app.write({"engines": {"npm": FAKE_NPM_VERSION}}, **LOCK)
    log = compile_app(node_app)
    assert not any("--global" in call for call in node_app.npm_calls())
    assert f"Using npm {FAKE_NPM_VERSION} (bundled with node, as engines.npm asks)" in log.texts("info")


def test_without_engines_npm_the_bundled_npm_is_used(node_app):
    node_app.write({}, **LOCK)
    assert f"Using npm {FAKE_NPM_VERSION} (bundled with node)" in compile_app(node_app).texts("info")


def test_an_engines_npm_that_cannot_be_installed_is_one_line_naming_it(node_app):
    node_app.write({"engines": {"npm": "^99"}})
    with pytest.raises(NpmInstallFailed) as caught:
        compile_app(node_app, {"NPM_MISSING": "^99"})
    assert str(caught.value) == (
        "engines.npm '^99' in package.json: `npm install --global npm@^99` failed with exit status 1 "
        "(output above); use a published npm version or range such as \"10.x\", or remove engines.npm to "
        "keep the npm node ships with")
    assert node_app.npm_calls() == ["npm install --global npm@^99"]


@pytest.mark.parametrize(("package_json", "lockfile", "installed"), [
    ({"packageManager": "yarn@1.22.22"}, {"yarn.lock": "# yarn lockfile v1\n"}, "yarn@1.22.22"),
    ({"engines": {"yarn": "1.22.19"}}, {"yarn.lock": "# yarn lockfile v1\n"}, "yarn@1.22.19"),
    ({"packageManager": "pnpm@9.1.0+sha256.ff"}, {"pnpm-lock.yaml": ""}, "pnpm@9.1.0"),
    ({"engines": {"pnpm": "8.15.1"}}, {"pnpm-lock.yaml": ""}, "pnpm@8.15.1"),
    ({}, {"yarn.lock": "# yarn lockfile v1\n"}, "yarn@1.22.x"),
])
def test_package_manager_versions_come_from_package_json(node_app, package_json, lockfile, installed):
    node_app.write(package_json, **lockfile)
    compile_app(node_app)
    assert node_app.npm_calls()[0] == f"npm install --global {installed}"


@pytest.mark.parametrize(("value", "verb"), [("true", "install"), ("1", "install"), ("false", "ci")])
def test_use_npm_install_forces_npm_install_over_npm_ci(node_app, value, verb):
    node_app.write({}, **LOCK)
    compile_app(node_app, {"USE_NPM_INSTALL": value})
    assert node_app.npm_calls()[0] == f"npm {verb} --include=dev"


@pytest.mark.parametrize(("package_json", "lockfile", "call"), [
    ({"scripts": {"build": "x"}}, LOCK, "npm run build -- --prod --base-href /app/"),
    ({"scripts": {"build": "x"}}, YARN_LOCK, "yarn run build --prod --base-href /app/"),
    ({"scripts": {"build": "x"}}, {"pnpm-lock.yaml": ""}, "pnpm run build --prod --base-href /app/"),
    ({"scripts": {"build": "x", "heroku-postbuild": "x"}}, LOCK, "npm run heroku-postbuild"),
])
def test_node_build_flags_reach_the_build_script_only(node_app, package_json, lockfile, call):
    scripts = {**package_json["scripts"], "heroku-prebuild": "x"}
    node_app.write({**package_json, "scripts": scripts}, **lockfile)
    compile_app(node_app, {"NODE_BUILD_FLAGS": "--prod --base-href '/app/'"})
    runs = [c for c in node_app.npm_calls() if " run " in c]
    assert runs == [runs[0].split(" run ")[0] + " run heroku-prebuild", call]


def test_unbalanced_node_build_flags_fail_before_installing(node_app):
    node_app.write({"scripts": {"build": "x"}})
    with pytest.raises(BuildFailed, match=r"^NODE_BUILD_FLAGS cannot be split into arguments \(No closing "
                                          r"quotation\); close the quote or escape it$"):
        compile_app(node_app, {"NODE_BUILD_FLAGS": "--title 'oops"})
    assert node_app.npm_calls() == []


@pytest.mark.parametrize(("lockfile", "install"), [
    (LOCK, "npm ci --include=dev"),
    (YARN_LOCK, "yarn install --production=false --frozen-lockfile --ignore-engines --prefer-offline "
                "--non-interactive --offline"),
    ({"pnpm-lock.yaml": ""}, "pnpm install --prod=false --frozen-lockfile --offline"),
])
def test_offline_package_managers_are_told_to_stay_off_the_network(node_app, lockfile, install):
    node_app.write({"dependencies": {"ms": "2.1.2"}}, **lockfile)
    log = RecordingLog()
    ctx = node_app.context(log=log)
    ctx.offline = True
    NodeBuildpack().compile(ctx)
    assert install in node_app.npm_calls()
    assert "NPM_CONFIG_OFFLINE=true" in log.texts("info")  # npm (and pnpm, which reads it) stay offline
