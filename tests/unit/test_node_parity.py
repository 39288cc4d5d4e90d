"""The Node.js buildpack answering as Heroku's does on Heroku's own fixtures (heroku/heroku-buildpack-nodejs
test/fixtures, with the expectations of test/run-*): each test names its source."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from node_fakes import compile_app
from slugbuild.buildpacks.node import InstallFailed, ScriptFailed

from slugbuild.errors import BuildFailed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SLUGIGNORED = ("'package.json' listed in '.slugignore' file: no package.json was found because the "
               "'.slugignore' file is removing it before the build begins; remove that line "
               "(https://devcenter.heroku.com/articles/slug-compiler#ignoring-files-with-slugignore)")
GITIGNORED = ("'package.json' listed in '.gitignore' file: no package.json was found because the "
              "'.gitignore' file is preventing it from being checked in; remove that line and commit "
              "package.json (https://devcenter.heroku.com/articles/gitignore)")


# test/run-general testBinDetectWarnings, fixtures slugignore-package-json and gitignore-package-json
@pytest.mark.parametrize(("fixture", "message"), [
    ("node-slugignore-package-json", SLUGIGNORED), ("node-gitignore-package-json", GITIGNORED)])
@pytest.mark.parametrize("flags", [("--buildpack", "node"), ()])
def test_a_package_json_left_out_by_an_ignore_file_is_named(run_cli, tmp_path, fixture, message, flags):
    result = run_cli("build", FIXTURES / fixture, "-o", tmp_path / "slug.tgz", *flags)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.strip() == "!     " + message
    assert not (tmp_path / "slug.tgz").exists()


def test_an_app_without_package_json_is_still_not_compatible(run_cli, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / ".slugignore").write_text("package-lock.json\n")
    result = run_cli("build", tmp_path / "src", "-o", tmp_path / "slug.tgz", "--buildpack", "node")
    assert result.last_error_line.strip().startswith("!     App not compatible with buildpack: node")


# Heroku's failure classifiers (lib/failures.sh, lib/package_manager.sh, lib/package_managers/*.sh) on the
# outputs of test/fixtures error-* (checked in test/run-general, run-npm, run-yarn): the tool's tell-tale
# lines, the lockfile that picks the tool, and the start of the explanation (Heroku's own words).
INSTALL_OUTPUTS = [
    ("invalid-dependency", {}, ["npm error code E404", "npm error 404 Not Found - GET http://r/nope"],
     "A package could not be found in the npm registry (404, E404)"),
    ("npm ETARGET", {}, ["npm error code ETARGET", "npm error notarget No matching version for debug@99"],
     "A dependency asks for a package version that does not exist in the npm registry (ETARGET)"),
    ("error-npm-peer-dependency-conflict", {}, ["npm error code ERESOLVE", "npm error unable to resolve"],
     "Conflict detected in requested npm dependencies (ERESOLVE"),
    ("error-npm-lockfile-out-of-sync", {"package-lock.json": "{}"},
     ["npm error code EUSAGE", "npm error `npm ci` can only install packages when your package.json and "
      "package-lock.json are in sync. Please update your lock file with `npm install` before continuing."],
     "npm lockfile is not in sync"),
    ("error-npm-git-error", {}, ["npm error code 128", "npm error An unknown git error occurred"],
     "npm Git dependency error (code 128)"),
    ("private git+ssh dependency", {}, ["npm error code 128", "npm error Host key verification failed."],
     "Unable to install a git dependency over SSH"),
    ("yarn-lockfile-out-of-date", {"yarn.lock": "# yarn lockfile v1\n"},
     ["error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`."],
     "Outdated Yarn lockfile"),
    ("yarn classic 404", {"yarn.lock": "# yarn lockfile v1\n"},
     ['error An unexpected error occurred: "http://r/nope: Request failed "404 Not Found"".'],
     "A package could not be found in the npm registry (404)"),
    ("pnpm outdated lockfile", {"pnpm-lock.yaml": "lockfileVersion: 9\n"},
     [' ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with "frozen-lockfile"'], "pnpm lockfile is not in sync"),
    ("econnreset", {}, ["npm error code ECONNRESET", "npm error network aborted"],
     "A network connection was reset while communicating with a remote server (ECONNRESET)"),
]


@pytest.mark.parametrize(("case", "files", "output", "cause"), INSTALL_OUTPUTS,
                         ids=[c[0] for c in INSTALL_OUTPUTS])
def test_install_failures_are_explained_in_one_line_then_the_tail(node_app, case, files, output, cause):
    node_app.write({"dependencies": {"dep": "1.0.0"}}, **files)
    with pytest.raises(InstallFailed) as caught:
        compile_app(node_app, {"FAIL_INSTALL": "\n".join(output) + "\n"})
    first, *tail = str(caught.value).splitlines()
    assert first.startswith("`") and f"failed. {cause}" in first
    assert [line.strip() for line in tail] == [line.strip() for line in output]


SCRIPT_OUTPUTS = [
    ("error-oom", ["FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"],
     "Node.js Out-Of-Memory (OOM) during the build"),
    ("error-openssl-unsupported-algorithm",
     ["Error: error:0308010C:digital envelope routines::unsupported", "  code: 'ERR_OSSL_EVP_UNSUPPORTED'"],
     "Unsupported cryptographic algorithm used (ERR_OSSL_EVP_UNSUPPORTED): the app"),
    ("error-openssl-unsupported-algorithm-in-webpack",
     ["[webpack-cli] Error: error:0308010C:digital envelope routines::unsupported",
      "  code: 'ERR_OSSL_EVP_UNSUPPORTED'"],
     "Unsupported cryptographic algorithm used (ERR_OSSL_EVP_UNSUPPORTED): Webpack's default hash"),
]


@pytest.mark.parametrize(("case", "output", "cause"), SCRIPT_OUTPUTS, ids=[c[0] for c in SCRIPT_OUTPUTS])
def test_build_script_failures_are_explained_in_one_line_then_the_tail(node_app, case, output, cause):
    node_app.write({"scripts": {"build": "webpack"}})
    with pytest.raises(ScriptFailed) as caught:
        compile_app(node_app, {"FAIL_SCRIPT": "build", "FAIL_OUTPUT": "\n".join(output) + "\n"})
    first, *tail = str(caught.value).splitlines()
    assert first.startswith(f"the 'build' script failed. {cause}")
    assert [line.strip() for line in tail] == ["boom from build", *[line.strip() for line in output]]


def test_an_unknown_install_failure_stays_one_line(node_app):
    node_app.write({"dependencies": {"dep": "1.0.0"}})
    with pytest.raises(InstallFailed, match=r"^`npm install --include=dev` failed with exit status 1; its "
                                            r"output is above: fix the dependencies and build again$"):
        compile_app(node_app, {"FAIL_INSTALL": "something odd\n"})


# test/fixtures/cache-directories-camel/package.json, checked by test/run-general (testCacheDirectoriesCamel)
CAMEL = {"name": "node-buildpack-test-app", "version": "0.0.1", "scripts": {"build": "make-clients"},
         "cacheDirectories": ["server/node_modules", "client/node_modules", "non/existent"]}
MADE = "server/node_modules/a client/node_modules/b"


def rebuilt(node_app, package_json=CAMEL, **config: str):
    """A fresh checkout of the app built again with the same cache; the log."""
    shutil.rmtree(node_app.app_dir)
    node_app.write(package_json)
    return compile_app(node_app, config or None)


def test_cache_directories_are_saved_and_restored(node_app):
    node_app.write(CAMEL)
    infos = compile_app(node_app, {"FAKE_MAKES": MADE}).texts("info")
    at = infos.index("Saving cacheDirectories (package.json):")
    assert infos[at + 1:at + 4] == ["- server/node_modules", "- client/node_modules",
                                    "- non/existent (nothing to cache)"]
    log = rebuilt(node_app)
    infos = log.texts("info")
    at = infos.index("Loading from cacheDirectories (package.json):")
    assert infos[at + 1:at + 4] == ["- server/node_modules", "- client/node_modules",
                                    "- non/existent (not cached - skipping)"]
    assert (node_app.app_dir / "server" / "node_modules" / "a").read_text() == "made by build\n"
    assert not (node_app.root / "cache" / "node" / "node_modules").exists()  # the list replaced the default


def test_saved_cache_directories_changed_with_size_and_mtime_kept_are_not_restored(node_app):
    node_app.write(CAMEL)
    compile_app(node_app, {"FAKE_MAKES": MADE})
    [kept] = (node_app.root / "cache" / "node" / "directories").glob("*/dir/server/node_modules/a")
    st = kept.stat()
    kept.write_bytes(b"X" * st.st_size)
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns))
    log = rebuilt(node_app)
    assert [w for w in log.texts("warn") if "cached" in w] == [
        "the cached cacheDirectories directories were changed after they were saved (server/node_modules/a); "
        "discarding them, the build makes them again"]
    assert "- not restored: nothing saved for this node, npm, package manager and stack" in log.texts("info")
    assert not (node_app.app_dir / "server" / "node_modules").exists()
    assert not list(node_app.app_dir.glob(".slugbuild-restoring-*"))


def test_cache_directories_snake_case_and_a_changed_runtime(node_app):
    # test/fixtures/cache-directories: cache_directories, read when cacheDirectories is absent
    snake = {"scripts": {"build": "x"}, "cache_directories": ["bower_components", "node_modules"]}
    node_app.write(snake)
    compile_app(node_app, {"FAKE_MAKES": "bower_components/bower.json"})
    assert "- bower_components" in rebuilt(node_app, snake).texts("info")
    ctx_log = rebuilt(node_app, snake, NODE_MODULES_CACHE="false").texts("info")
    assert not [line for line in ctx_log if line.startswith("Loading from")]
    assert not list((node_app.root / "cache" / "node" / "directories").glob("*/manifest.json"))


@pytest.mark.parametrize("value", [["../outside"], ["/etc"], [5], ["."], ["  "], "node_modules",
                                   {"a": "b"}])
def test_a_cache_directory_outside_the_app_fails_in_one_line(node_app, value):
    node_app.write({"cacheDirectories": value})
    with pytest.raises(BuildFailed, match=r"^cacheDirectories in package.json: .* is not a directory inside "
                                          r"the app; list relative paths"):
        compile_app(node_app)


def test_links_never_carry_cache_directories_outside_the_app(node_app, tmp_path):
    outside = tmp_path / "outside"
    (outside / "cache").mkdir(parents=True)
    (outside / "cache" / "secret").write_text("not the app's")
    package = {"scripts": {"build": "x"}, "cacheDirectories": ["linked", "out/cache"]}
    node_app.write(package)
    (node_app.app_dir / "linked").symlink_to(outside)
    compile_app(node_app, {"FAKE_MAKES": "out/cache/kept"})
    [saved] = (node_app.root / "cache" / "node" / "directories").glob("*/dir")
    assert not (saved / "linked").exists() and (saved / "out" / "cache" / "kept").is_file()
    shutil.rmtree(node_app.app_dir)
    node_app.write(package)
    (node_app.app_dir / "out").symlink_to(outside)  # a restore must not write through it
    log = compile_app(node_app)
    assert "- out/cache (exists - skipping)" in log.texts("info")
    assert sorted(p.name for p in (outside / "cache").iterdir()) == ["secret"]
