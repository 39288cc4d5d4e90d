"""The Node.js buildpack against a fake node/npm from a file:// mirror: what it installs, runs and offers."""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import pytest
import slugbuild.buildpacks.node
from node_fakes import FAKE_VERSION, NodeApp, compile_app, make_mirror
from slugbuild.buildpacks.node import NodeBuildpack, ScriptFailed
from slugbuild.buildpacks.node.package_json import BadPackageJson
from slugbuild.buildpacks.node.package_manager import MultipleLockfiles

from slugbuild.buildpack import Detection
from slugbuild.errors import BuildFailed
from slugbuild.log import RecordingLog

HEROKU_PROFILE = """\
export PATH="$HOME/.heroku/node/bin:$HOME/.heroku/yarn/bin:$PATH:$HOME/bin:$HOME/node_modules/.bin"
export NODE_HOME="$HOME/.heroku/node"
export NODE_ENV=${NODE_ENV:-production}
"""
DEPS = {"dep": "1.0.0"}
ALL_SCRIPTS = {"heroku-prebuild": "x", "build": "x", "heroku-postbuild": "x", "heroku-cleanup": "x",
               "start": "node web.js"}


def test_node_is_installed_verified_and_recorded(node_app):
    node_app.write({"engines": {"node": "24.x"}, "scripts": {"start": "node web.js"}})
    ctx = node_app.context()
    NodeBuildpack().compile(ctx)
    node_home = node_app.app_dir / ".heroku" / "node"
    assert (node_home / "bin" / "node").is_file()
    tarball = node_app.mirror / f"v{FAKE_VERSION}" / f"node-v{FAKE_VERSION}-linux-x64.tar.gz"
    [runtime] = ctx.runtimes
    assert runtime.as_json() == {
        "name": "node", "requested": "24.x", "source": "package.json engines.node", "version": FAKE_VERSION,
        "url": f"{node_app.mirror.as_uri()}/v{FAKE_VERSION}/{tarball.name}",
        "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest()}
    assert ctx.env["PATH"].split(":")[0] == str(node_home / "bin")
    assert ctx.env["NODE_HOME"] == str(node_home)


def test_the_log_names_requested_resolved_and_source(node_app):
    node_app.write({"engines": {"node": "^24"}})
    assert f"Installing node {FAKE_VERSION} (^24 from package.json engines.node)" in compile_app(
        node_app).texts("step")


def test_no_engines_installs_the_newest_lts_and_says_so(node_app):
    node_app.write({})
    steps = compile_app(node_app).texts("step")
    assert f"Installing node {FAKE_VERSION} (newest LTS, no engines.node)" in steps


def test_a_wide_range_is_capped_at_the_lts_with_a_warning(node_app):
    node_app.write({"engines": {"node": ">=22"}})
    log = compile_app(node_app)
    assert f"Installing node {FAKE_VERSION} (>=22 from package.json engines.node)" in log.texts("step")
    [warning] = [w for w in log.texts("warn") if "LTS" in w]
    assert "26.0.0" in warning and "NODEJS_ALLOW_WIDE_RANGE" in warning


def test_an_unmatched_range_fails_before_any_download(node_app):
    node_app.write({"engines": {"node": "^99"}})
    with pytest.raises(BuildFailed, match="engines.node '\\^99' in package.json matches no Node.js "
                                          "release in the mirror"):
        compile_app(node_app)
    assert not (node_app.root / "cache" / "downloads" / "downloads").exists()


def test_a_range_the_mirror_lacks_names_the_mirror_and_the_command_that_fills_it(tmp_path):
    node_app = NodeApp(tmp_path / "a b")
    make_mirror(node_app.mirror / "node")
    node_app.write({"engines": {"node": "20.x"}})
    ctx = node_app.context()
    ctx.env["SLUGBUILD_NODE_MIRROR"] = (node_app.mirror / "node").as_uri()
    with pytest.raises(BuildFailed) as caught:
        NodeBuildpack().compile(ctx)
    assert str(caught.value) == (
        f"engines.node '20.x' in package.json matches no Node.js release in the mirror "
        f"{(node_app.mirror / 'node').as_uri()} (SLUGBUILD_NODE_MIRROR); add it with `slugbuild mirror "
        f"'{node_app.mirror}' --node 20`, or use a range the mirror has, such as \"24.x\"")


def test_profile_d_is_herokus(node_app):
    node_app.write({})
    compile_app(node_app)
    assert (node_app.app_dir / ".profile.d" / "nodejs.sh").read_text() == HEROKU_PROFILE


def test_scripts_run_in_herokus_order_and_postbuild_wins_over_build(node_app):
    node_app.write({"scripts": ALL_SCRIPTS}, **{"package-lock.json": "{}"})
    compile_app(node_app)
    assert node_app.npm_calls() == [
        "npm run heroku-prebuild", "npm ci --include=dev", "npm run heroku-postbuild", "npm prune --omit=dev",
        "npm run heroku-cleanup"]


def test_build_runs_when_there_is_no_heroku_postbuild_and_no_lockfile_means_npm_install(node_app):
    node_app.write({"scripts": {"build": "x"}, "dependencies": DEPS})
    compile_app(node_app)
    assert node_app.npm_calls() == ["npm install --include=dev", "npm run build", "npm prune --omit=dev"]


@pytest.mark.parametrize(("config", "install"), [
    ({"NODE_ENV": "development"}, "npm install --include=dev"),
    ({"NPM_CONFIG_PRODUCTION": "true"}, "npm install --omit=dev"),
])
def test_dev_dependencies_are_kept_outside_production(node_app, config, install):
    node_app.write({"dependencies": DEPS})
    log = compile_app(node_app, config)
    assert node_app.npm_calls() == [install]
    assert any(text.startswith("Skipped: NODE_ENV") for text in log.texts("info"))


def test_a_failing_script_shows_its_output_and_ends_as_one_line(node_app):
    node_app.write({"scripts": {"build": "exit 3"}})
    log = RecordingLog()
    with pytest.raises(ScriptFailed) as caught:
        NodeBuildpack().compile(node_app.context({"FAIL_SCRIPT": "build"}, log))
    assert str(caught.value) == ("the 'build' script in package.json failed with exit status 3; "
                                 "its output is above: fix the script and build again")
    assert "boom from build" in log.texts("child")


@pytest.mark.parametrize(("package_json", "calls"), [
    ({}, []),
    ({"scripts": {"postinstall": "x"}}, ["npm install --include=dev", "npm prune --omit=dev"]),
    ({"devDependencies": DEPS}, ["npm install --include=dev", "npm prune --omit=dev"]),
])
def test_npm_runs_only_when_there_is_something_to_install(node_app, package_json, calls):
    node_app.write(package_json)
    compile_app(node_app)
    assert node_app.npm_calls() == calls


def test_config_vars_reach_npm_but_denied_ones_do_not(node_app):
    node_app.write({"scripts": {"build": "x"}})
    log = compile_app(node_app, {"NPM_CONFIG_LOGLEVEL": "silly", "NODE_OPTIONS": "x", "PATH": "/nope",
                                 "NPM_CONFIG__AUTH": "s3cr3t"})
    infos = log.texts("info")
    assert "NPM_CONFIG_LOGLEVEL=silly" in infos and "NODE_ENV=production" in infos
    assert not any("s3cr3t" in text for text in infos)
    assert node_app.npm_calls()  # npm still found: the PATH config var did not replace the build's


def test_an_unchanged_rebuild_restores_node_modules_instead_of_installing(node_app):
    node_app.write({}, **{"package-lock.json": "{}"})
    compile_app(node_app)
    node_app.npm_log.unlink()
    node_app.write({}, **{"package-lock.json": "{}"})
    (node_app.app_dir / "node_modules").rename(node_app.root / "old_modules")
    log = compile_app(node_app)
    assert "npm ci --include=dev" not in node_app.npm_calls()
    assert (node_app.app_dir / "node_modules" / "dep" / "installed-by").is_file()
    assert any(text.startswith("Restored node_modules from the cache") for text in log.texts("info"))


def test_a_changed_lockfile_installs_again(node_app):
    node_app.write({}, **{"package-lock.json": "{}"})
    compile_app(node_app)
    node_app.npm_log.unlink()
    node_app.write({}, **{"package-lock.json": '{"lockfileVersion": 3}'})
    (node_app.app_dir / "node_modules").rename(node_app.root / "old_modules")
    compile_app(node_app)
    assert "npm ci --include=dev" in node_app.npm_calls()


def test_yarn_lock_installs_yarn_with_npm_and_uses_it(node_app):
    node_app.write({"scripts": {"build": "x"}}, **{"yarn.lock": "# yarn lockfile v1\n"})
    compile_app(node_app)
    calls = node_app.npm_calls()
    assert calls[0] == "npm install --global yarn@1.22.x"
    assert calls[1].startswith("yarn install --production=false --frozen-lockfile")
    assert calls[2:4] == ["yarn run build", "yarn install --production=true --frozen-lockfile "
                          "--ignore-engines --ignore-scripts --prefer-offline --non-interactive"]


def test_pnpm_version_comes_from_package_manager(node_app):
    node_app.write({"packageManager": "pnpm@9.1.0+sha512.abc"}, **{"pnpm-lock.yaml": "lockfileVersion: 9\n"})
    compile_app(node_app)
    assert node_app.npm_calls()[:2] == ["npm install --global pnpm@9.1.0",
                                        "pnpm install --prod=false --frozen-lockfile"]


# heroku/heroku-buildpack-nodejs bin/release: `web: npm start` always, `{}` when a Procfile line matches
# `^\s*mcp.*:`.
@pytest.mark.parametrize(("package_json", "files", "web"), [
    ({"scripts": {"start": "node web.js"}}, {}, {"web": "npm start"}),
    ({}, {"server.js": ""}, {"web": "npm start"}),
    ({"scripts": {"build": "x"}}, {}, {"web": "npm start"}),
    ({}, {"Procfile": "worker: node worker.js\n"}, {"web": "npm start"}),
    ({}, {"Procfile": "web: node a.js\n  mcp-server: node mcp.js\n"}, {}),
    ({}, {"Procfile": "mcp: node mcp.js\n"}, {}),
    ({}, {"Procfile": "web: node a.js # mcp: later\n"}, {"web": "npm start"}),
    ({}, {"Procfile": "\nmcp\nweb: x\n"}, {"web": "npm start"}),
])
def test_default_process_types(node_app, package_json, files, web):
    node_app.write(package_json, **files)
    info = NodeBuildpack().release(node_app.context())
    assert dict(info.process_types) == web


def test_an_app_with_no_way_to_start_gets_herokus_warning(node_app):
    node_app.write({})
    warnings = compile_app(node_app).texts("warn")
    assert any("may not specify any way to start a node process" in w for w in warnings)


def test_a_procfile_silences_the_start_warning(node_app):
    node_app.write({}, Procfile="web: node web.js\n")
    assert not any("way to start" in w for w in compile_app(node_app).texts("warn"))


def test_heroku_node_as_a_file_is_refused(node_app):
    node_app.write({}, **{".heroku": "oops"})
    with pytest.raises(BuildFailed, match=r"^\.heroku is a file, but the Node.js buildpack installs node"):
        compile_app(node_app)


def test_detect_needs_package_json(tmp_path):
    assert NodeBuildpack().detect(tmp_path) is None
    (tmp_path / "package.json").write_text("{}")
    assert NodeBuildpack().detect(tmp_path) == Detection("Node.js")


def test_bad_json_is_reported_with_its_position(node_app):
    node_app.write('{\n  "name": "x"\n  "version": "1.0.0"\n}\n')
    expected = ("Unable to parse package.json: Expecting ',' delimiter at line 3 column 3; "
                "fix the JSON (a trailing comma or a missing quote is the usual cause)")
    assert NodeBuildpack().detect(node_app.app_dir) == Detection("Node.js", error=expected)
    with pytest.raises(BadPackageJson) as caught:
        compile_app(node_app)
    assert str(caught.value) == expected


def test_package_json_must_be_an_object(node_app):
    node_app.write("[1, 2]")
    with pytest.raises(BadPackageJson, match="the top level is an array, not an object"):
        compile_app(node_app)


def test_several_lockfiles_are_refused_with_the_fix(node_app):
    node_app.write({}, **{"package-lock.json": "{}", "yarn.lock": ""})
    detection = NodeBuildpack().detect(node_app.app_dir)
    assert detection is not None and detection.error is not None
    assert detection.error == (
        "Multiple lockfiles found: package-lock.json, yarn.lock; keep the one of the package manager you use "
        "and delete the others (`git rm yarn.lock` to keep package-lock.json)")
    with pytest.raises(MultipleLockfiles):
        compile_app(node_app)


def test_offline_rebuild_uses_the_cached_index_and_tarball(node_app):
    node_app.write({"engines": {"node": "24.x"}})
    compile_app(node_app)
    shutil.rmtree(node_app.mirror)
    shutil.rmtree(node_app.app_dir / ".heroku")
    ctx = node_app.context()
    ctx.fetcher.offline = True
    NodeBuildpack().compile(ctx)
    assert [r.version for r in ctx.runtimes] == [FAKE_VERSION]


def test_node_rewritten_in_place_by_one_build_is_pristine_in_the_next(node_app):
    node_app.write({"engines": {"node": "24.x"}})
    compile_app(node_app)
    node = node_app.app_dir / ".heroku" / "node" / "bin" / "node"
    pristine = node.read_bytes()
    with node.open("r+b") as fh:  # as `npm i -g` writing into .heroku/node: the file is a hard link
        fh.write(b"XX")
    log = compile_app(node_app)
    assert node.read_bytes() == pristine
    assert (f"the cache's unpacked node-v{FAKE_VERSION}-linux-x64.tar.gz changed since it was unpacked "
            "(bin/node): a build wrote into it; unpacking it again") in log.texts("warn")


def test_the_buildpack_sees_only_the_context():
    forbidden = ("slugbuild.cli", "slugbuild.platform")
    for path in Path(slugbuild.buildpacks.node.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in modules if m and m.startswith(forbidden)}, path


def test_a_numeric_engines_node_is_read_as_a_range(node_app):
    node_app.write({"engines": {"node": 24}})
    assert f"Installing node {FAKE_VERSION} (24 from package.json engines.node)" in compile_app(
        node_app).texts("step")


USER_ERRORS = [
    ('{"name": "x",}', {},
     "Unable to parse package.json: Expecting property name enclosed in double quotes at line 1 column 14; "
     "fix the JSON (a trailing comma or a missing quote is the usual cause)"),
    ({"engines": {"node": "banana"}}, {},
     "engines.node 'banana' in package.json is not a valid semver range; use a range such as \"24.x\""),
    ({}, {"yarn.lock": "", "pnpm-lock.yaml": ""},
     "Multiple lockfiles found: yarn.lock, pnpm-lock.yaml; keep the one of the package manager you use and "
     "delete the others (`git rm pnpm-lock.yaml` to keep yarn.lock)"),
    ({"scripts": {"build": "x"}}, {},
     "the 'build' script in package.json failed with exit status 3; its output is above: fix the script and "
     "build again"),
]


@pytest.mark.parametrize(("package_json", "files", "message"), USER_ERRORS)
def test_user_errors_end_the_build_as_one_line(node_app, run_cli, package_json, files, message):
    node_app.write(package_json, **files)
    node_app.context()  # makes the mirror
    result = run_cli("build", node_app.app_dir, "-o", node_app.root / "slug.tgz",
                     "--env", "FAIL_SCRIPT=build", "--env", f"NPM_LOG={node_app.npm_log}",
                     env={"SLUGBUILD_NODE_MIRROR": node_app.mirror.as_uri()})
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.last_error_line == f"!     {message}"
    assert not (node_app.root / "slug.tgz").exists()


def test_a_new_stack_installs_again(node_app):
    node_app.write({}, **{"package-lock.json": "{}"})
    compile_app(node_app)
    node_app.npm_log.unlink()
    (node_app.app_dir / "node_modules").rename(node_app.root / "old_modules")
    ctx = node_app.context()
    ctx.stack = "heroku-22"
    NodeBuildpack().compile(ctx)
    assert "npm ci --include=dev" in node_app.npm_calls()
