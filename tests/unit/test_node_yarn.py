"""Yarn as Heroku's Node.js buildpack sets it up, on Heroku's fixtures (heroku/heroku-buildpack-nodejs
test/fixtures/yarn-*, with the expectations of test/run-yarn), against the fake node and npm."""

from __future__ import annotations

import pytest
from node_fakes import compile_app
from slugbuild.buildpacks.node import yarn
from slugbuild.buildpacks.node.yarn import YarnSetupFailed

BERRY_LOCK = {"yarn.lock": "__metadata:\n  version: 4\n  cacheKey: 7\n"}
RELEASE = ".yarn/releases/yarn-berry.cjs"
# test/fixtures/yarn-2/package.json
YARN_2 = {"name": "yarn-2", "version": "1.0.0",
          "devDependencies": {"@types/node": "16.11.26", "uuid": "9.0.0"},
          "dependencies": {"echo-cli": "2.0.0"}, "scripts": {"build": "echo-cli 'Build script check'"}}


def berry_app(node_app, package_json=YARN_2, yarnrc=f"yarnPath: {RELEASE}\nenableColors: false\n",
              release: str | None = RELEASE):
    node_app.write(package_json, **BERRY_LOCK)
    if yarnrc is not None:
        (node_app.app_dir / ".yarnrc.yml").write_text(yarnrc)
    if release:
        (node_app.app_dir / release).parent.mkdir(parents=True, exist_ok=True)
        (node_app.app_dir / release).write_text("// the app's own Yarn release\n")
    return node_app


def test_yarn_2_runs_the_apps_own_release_and_prunes(node_app):
    # test/run-yarn testYarn2: yarn install with yarn.lock, the build script, then the prune
    berry_app(node_app)
    log = compile_app(node_app)
    release = node_app.app_dir / RELEASE
    calls = node_app.npm_calls()
    assert not [c for c in calls if c.startswith("npm install --global")]  # nothing from the registry
    assert calls == [f"node {node_app.app_dir}/.heroku/yarn/bin/../../../{RELEASE} install --immutable",
                     f"node {node_app.app_dir}/.heroku/yarn/bin/../../../{RELEASE} run build",
                     f"node {node_app.app_dir}/.heroku/yarn/bin/../../../{RELEASE} slugbuild prune"]
    assert release.is_file()
    assert f"Using the app's own Yarn release {RELEASE} (yarnPath in .yarnrc.yml)" in log.texts("info")
    assert "Running yarn slugbuild prune" in log.texts("info")


def test_the_yarn_shim_works_from_the_dyno_too(node_app):
    berry_app(node_app)
    compile_app(node_app)
    shim = (node_app.app_dir / ".heroku" / "yarn" / "bin" / "yarn").read_text()
    assert f'exec node "$(dirname "$0")/../../../{RELEASE}" "$@"' in shim
    assert str(node_app.root) not in shim


def test_yarn2_skip_pruning_true_skips_the_prune(node_app):
    # test/run-yarn testYarn2WithYarn2SkipPruningTrue
    berry_app(node_app)
    log = compile_app(node_app, {"YARN2_SKIP_PRUNING": "true"})
    assert "Skipped: YARN2_SKIP_PRUNING is true" in log.texts("info")
    assert not [c for c in node_app.npm_calls() if c.endswith("slugbuild prune")]


@pytest.mark.parametrize(("value", "skip"), [("false", "true"), ("true", "false")])
def test_yarn_production_stops_a_yarn_2_build(node_app, value, skip):
    # test/run-yarn testYarn2WithYarnProductionSetCapturesAndReportsError
    berry_app(node_app)
    with pytest.raises(YarnSetupFailed, match=f"^Unsupported Yarn configuration: YARN_PRODUCTION .* "
                                              f"set YARN2_SKIP_PRUNING={skip} instead$"):
        compile_app(node_app, {"YARN_PRODUCTION": value})
    assert node_app.npm_calls() == []


@pytest.mark.parametrize(("yarnrc", "release", "message"), [
    # test/run-yarn testYarn2WithoutYarnrcYml, testYarn2WithoutYarnPath, testYarn2WithoutYarnRelease
    (None, None, "The 'yarnrc.yml' file is not found: yarn.lock is Yarn 2\\+'s"),
    ("enableColors: false\n", None, "The 'yarnPath' could not be read from the 'yarnrc.yml' file"),
    ("yarnPath: .yarn/releases/yarn-rc.js\n", None, "^Yarn was not found: yarnPath '.yarn/releases/yarn-rc"),
    ("yarnPath: ../../etc/yarn.js\n", None, "^yarnPath '../../etc/yarn.js' in .yarnrc.yml must be a plain"),
    ("yarnPath: 'a b\"$(x).js'\n", None, "^yarnPath 'a b\"\\$\\(x\\).js' in .yarnrc.yml must be a plain"),
    ("yarnPath: [oops\n", None, "^.yarnrc.yml is not valid YAML at line 2; fix it"),
])
def test_a_yarn_2_app_that_cannot_name_its_yarn_fails_in_one_line(node_app, yarnrc, release, message):
    berry_app(node_app, {**YARN_2, "engines": {"yarn": "1.x"}}, yarnrc, release)
    with pytest.raises(YarnSetupFailed, match=message):
        compile_app(node_app)
    assert node_app.npm_calls() == []


def test_a_declared_yarn_4_without_yarn_path_is_installed(node_app):
    # test/fixtures/yarn-4-engine: engines.yarn 4.x, no yarnPath
    berry_app(node_app, {**YARN_2, "engines": {"yarn": "4.0.0"}}, "enableColors: false\n", None)
    compile_app(node_app)
    assert node_app.npm_calls()[:2] == ["npm install --global @yarnpkg/cli-dist@4.0.0",
                                        "yarn install --immutable"]


def test_plug_n_play_keeps_the_yarn_cache_in_the_app(node_app):
    # bin/compile berry_use_app_cache: without nodeLinker node-modules the cache is needed at runtime;
    # a committed cache (zero-install) stays in the app and must not change
    berry_app(node_app)
    cache = node_app.app_dir / ".yarn" / "cache"
    assert yarn.berry_env(node_app.app_dir, {}) == {"YARN_CACHE_FOLDER": str(cache)}
    (node_app.app_dir / ".yarnrc.yml").write_text(f"yarnPath: {RELEASE}\nnodeLinker: node-modules\n")
    assert yarn.berry_env(node_app.app_dir, {}) == {}
    cache.mkdir()
    (cache / "dep.zip").write_text("zip")
    assert yarn.berry_env(node_app.app_dir, {"YARN_CACHE_FOLDER": "/mine"}) == {
        "YARN_ENABLE_IMMUTABLE_CACHE": "true"}


def test_node_modules_linker_drops_the_yarn_cache_after_pruning(node_app):
    berry_app(node_app, yarnrc=f"yarnPath: {RELEASE}\nnodeLinker: node-modules\n")
    (node_app.app_dir / ".yarn" / "cache").mkdir()
    (node_app.app_dir / ".yarn" / "cache" / "dep.zip").write_text("zip")
    compile_app(node_app)
    assert not (node_app.app_dir / ".yarn" / "cache").exists()


def test_engines_yarn_without_a_yarn_lock_installs_that_yarn(node_app):
    # test/run-yarn testYarnOnlyEngine, test/fixtures/yarn-only-engine: yarn 1.4.0 installed, npm installs
    node_app.write({"name": "yarn", "version": "1.0.0", "engines": {"yarn": "1.4.0"},
                    "dependencies": {"lodash": "^4.16.4"}})
    compile_app(node_app)
    assert node_app.npm_calls()[:2] == ["npm install --global yarn@1.4.0", "npm install --include=dev"]
    assert (node_app.app_dir / ".heroku" / "node" / "bin" / "yarn").is_file()
