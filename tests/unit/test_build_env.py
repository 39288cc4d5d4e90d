"""The environment buildpacks run in (CA variables in, the builder's HOME out), what a long quiet step
says, and the one line a TLS or --offline failure ends with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slugbuild import advice, build
from slugbuild import buildpack as buildpacks
from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog
from slugbuild.tls import CA_VARS

BUILDER = {"PATH": "/usr/bin:/bin", "HOME": "/home/builder", "HTTPS_PROXY": "http://proxy:3128",
           "AWS_SECRET_ACCESS_KEY": "s3cr3t", "EDITOR": "vim"}


def test_ca_variables_reach_the_build_as_proxy_variables_do(tmp_path):
    environ = {**BUILDER, **{name: f"/etc/ca/{name}.pem" for name in CA_VARS}}
    env = build.build_env(environ, "heroku-24", None, tmp_path / "home")
    assert {name: env[name] for name in CA_VARS} == {n: f"/etc/ca/{n}.pem" for n in CA_VARS}
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "EDITOR" not in env


def test_the_build_has_a_home_of_its_own_not_the_builders(tmp_path):
    env = build.build_env(BUILDER, "heroku-24", None, tmp_path / "home")
    assert env["HOME"] == str(tmp_path / "home")


def context(tmp_path: Path, log: RecordingLog) -> BuildContext:
    return BuildContext(tmp_path, tmp_path / "cache", tmp_path / "env", {"PATH": "/usr/bin:/bin"}, {},
                        "heroku-24", Fetcher(tmp_path / "cache", log), log)


def test_a_step_silent_for_a_while_is_said_to_be_still_running(tmp_path, monkeypatch):
    monkeypatch.setattr(buildpacks, "SILENCE_NOTICE_S", 0.4)
    log = RecordingLog()
    context(tmp_path, log).run(["sh", "-c", "sleep 1.1; echo done"])
    notices = [t for t in log.texts("info") if t.startswith("still running")]
    assert 1 <= len(notices) <= 3
    assert all(re.fullmatch(r"still running `sh -c sleep 1.1; echo done` \(\d+ s\)", n) for n in notices)
    assert log.texts("child") == ["done"]


def test_a_step_that_keeps_talking_gets_no_notice(tmp_path, monkeypatch):
    monkeypatch.setattr(buildpacks, "SILENCE_NOTICE_S", 0.4)
    log = RecordingLog()
    context(tmp_path, log).run(["sh", "-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.2; done"])
    assert not [t for t in log.texts("info") if t.startswith("still running")]


NPM_TLS = ["npm error code SELF_SIGNED_CERT_IN_CHAIN",
           "npm error errno SELF_SIGNED_CERT_IN_CHAIN",
           "npm error request to https://127.0.0.1:4873/ms failed, reason: self-signed certificate in "
           "certificate chain"]


@pytest.mark.parametrize(("argv", "tail", "variable"), [
    (["npm", "ci"], NPM_TLS, "NODE_EXTRA_CA_CERTS"),
    (["/app/.heroku/node/bin/yarn", "install"], ["error Error: unable to get local issuer certificate"],
     "NODE_EXTRA_CA_CERTS"),
    (["bundle", "install"], ["Could not verify the SSL certificate for https://rubygems.org/.",
                             "certificate verify failed (unable to get local issuer certificate)"],
     "BUNDLE_SSL_CA_CERT"),
    (["go", "install"], ['go: example.com/x@v1.0.0: Get "https://proxy.golang.org/...": tls: failed to '
                         "verify certificate: x509: certificate signed by unknown authority"],
     "SSL_CERT_FILE"),
    (["/tmp/bp/bin/compile"], ["curl: (60) SSL certificate problem: self-signed certificate"],
     "SSL_CERT_FILE"),
])
def test_a_tls_failure_ends_with_the_variable_that_fixes_it(argv, tail, variable):
    with pytest.raises(BuildFailed) as wrapped:
        try:
            raise CommandFailed(argv, 1, ["some output", *tail])
        except CommandFailed:  # as buildpacks do: their own error, raised `from None`
            raise BuildFailed("`npm ci` failed with exit status 1; its output is above") from None
    explained = advice.explained(wrapped.value, offline=False)
    assert explained is not None
    assert f"export {variable}=/path/to/ca.pem before running slugbuild" in str(explained)
    assert "\n" not in str(explained)


def test_a_ca_variable_already_set_is_named_as_the_one_to_fix():
    failed = CommandFailed(["npm", "ci"], 1, NPM_TLS)
    explained = advice.explained(failed, offline=False, env={"NODE_EXTRA_CA_CERTS": "/etc/old-ca.pem"})
    assert str(explained).endswith("NODE_EXTRA_CA_CERTS=/etc/old-ca.pem is set but does not hold the CA that "
                                   "signed it; point NODE_EXTRA_CA_CERTS at your proxy's or registry's CA "
                                   "certificate")


def test_other_failures_are_left_as_they_are():
    assert advice.explained(CommandFailed(["npm", "ci"], 1, ["npm error 404 Not Found - ms"]),
                            offline=True) is None
    assert advice.explained(BuildFailed("no package.json"), offline=False) is None


@pytest.mark.parametrize(("argv", "line", "package"), [
    (["npm", "ci"], "npm error request to http://127.0.0.1:4873/ms failed: cache mode is 'only-if-cached' "
                    "but no cached response is available.", "ms"),
    (["npm", "ci"], "npm error request to http://127.0.0.1:4873/@types%2fnode/-/node-20.1.0.tgz failed: "
                    "cache mode is 'only-if-cached' but no cached response is available.", "@types/node"),
    (["yarn", "install"], 'error Can\'t make a request in offline mode ("https://registry.yarnpkg.com/ms/-/'
                          'ms-2.1.2.tgz")', "ms"),
    (["pnpm", "install"], " ERR_PNPM_NO_OFFLINE_TARBALL  A package is missing from the store but cannot "
                          "download it in offline mode. The missing package may be downloaded from "
                          "https://registry.npmjs.org/debug/-/debug-4.3.4.tgz.", "debug"),
    (["yarn", "install"], "➤ YN0001: │ RequestError: Network access have been disabled by configuration "
                          "(GET https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz)", "left-pad"),
    (["bundle", "install"], "Could not find rack-3.0.8 in locally installed gems", "rack-3.0.8"),
    (["bundle", "install"], "Could not find rack-3.0.8 in cached gems or installed locally", "rack-3.0.8"),
    (["go", "install"], "go: github.com/google/uuid@v1.6.0: module lookup disabled by GOPROXY=off",
     "github.com/google/uuid@v1.6.0"),
])
def test_an_offline_build_missing_a_package_names_it(argv, line, package):
    explained = advice.explained(CommandFailed(argv, 1, ["...", line]), offline=True)
    assert str(explained) == (f"--offline: {package} is not in the build cache, so `{' '.join(argv)}` "
                              "cannot install it; build once without --offline to fill the cache")
