"""Known build failures, recognised in the output of npm, yarn, pnpm or a build script, and explained as
Heroku's Node.js buildpack explains them (lib/failures.sh, lib/package_manager.sh and the classifiers in
lib/package_managers/*.sh): one line naming the cause and the fix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TAIL_LINES = 10  # of the tool's output, shown under the explanation


@dataclass(frozen=True)
class Known:
    """A failure: what its output holds (every pattern must match some line) and the explanation."""

    patterns: tuple[str, ...]
    explanation: str

    def matches(self, text: str) -> bool:
        return all(re.search(p, text, re.IGNORECASE | re.MULTILINE) for p in self.patterns)

    def first_line_matches(self, line: str) -> bool:
        return re.search(self.patterns[0], line, re.IGNORECASE) is not None


NPM_CODE = r"npm (ERR!|error) code {}($| )"

# Checked in order, as Heroku does: the git and package-manager specific causes first, then the network
# and runtime ones that may also appear beside them (failure::handle_econnreset is a last resort).
INSTALL_FAILURES = (
    Known(("Host key verification failed",),
          "Unable to install a git dependency over SSH: a dependency points at a git+ssh:// repository "
          "and the build has no SSH keys; use an https git URL with an access token, or a published "
          "version"),
    Known((NPM_CODE.format("E404"),),
          "A package could not be found in the npm registry (404, E404): check the package named below "
          "and fix its name in package.json"),
    Known((r'error An unexpected error occurred: .* Request failed "404 Not Found"',),
          "A package could not be found in the npm registry (404): check the package named below and fix "
          "its name in package.json"),
    Known((NPM_CODE.format("ETARGET"),),
          "A dependency asks for a package version that does not exist in the npm registry (ETARGET): "
          "update the range in package.json to a published version"),
    Known(("error Couldn't find any versions for",),
          "A dependency asks for a package version that does not exist in the npm registry: update the "
          "range in package.json to a published version"),
    Known((NPM_CODE.format("ERESOLVE"),),
          "Conflict detected in requested npm dependencies (ERESOLVE, usually peer dependencies): update "
          "the packages named below so they agree, or as a stopgap set the config var "
          "NPM_CONFIG_LEGACY_PEER_DEPS=true"),
    Known((NPM_CODE.format("EUSAGE"), "Please update your lock file"),
          "npm lockfile is not in sync: package.json and package-lock.json list different dependencies; "
          "run `npm install` locally and commit package-lock.json"),
    Known(("Your lockfile needs to be updated",),
          "Outdated Yarn lockfile: yarn.lock does not match package.json; run `yarn install` locally and "
          "commit yarn.lock"),
    Known(("YN0028",),
          "Yarn lockfile is not in sync: yarn.lock does not match package.json and --immutable forbids "
          "changing it; run `yarn install` locally and commit yarn.lock"),
    Known(("ERR_PNPM_OUTDATED_LOCKFILE",),
          "pnpm lockfile is not in sync: pnpm-lock.yaml does not match package.json; run `pnpm install` "
          "locally and commit pnpm-lock.yaml"),
    Known((NPM_CODE.format("128"), "An unknown git error occurred"),
          "npm Git dependency error (code 128): a git dependency in package.json could not be fetched; "
          "check its URL and that the repository is reachable from the build"),
    Known((NPM_CODE.format("ENOENT"),),
          "npm could not find a file or directory it needs (ENOENT), usually a `file:` dependency or a "
          "path in package.json that is not in the app; commit it or fix the path"),
)
NETWORK_AND_RUNTIME = (
    Known((r"^npm (ERR!|error) (code ECONNRESET|network.*ECONNRESET)|^error .*ECONNRESET|YN[0-9]{4}:.*"
           r"ECONNRESET|ERR_PNPM_[A-Z_]+.*ECONNRESET|^\s*ERROR\s.*ECONNRESET",),
          "A network connection was reset while communicating with a remote server (ECONNRESET); this is "
          "usually passing: build again"),
    Known((r"version `GLIBC_\d+\.\d+' not found",),
          "This Node.js version is not compatible with the current stack (its glibc is too old); use a "
          "newer stack or pin engines.node to a Node.js the stack supports"),
)
SCRIPT_FAILURES = (
    Known(("ERR_OSSL_EVP_UNSUPPORTED", r"\[webpack-cli\] Error"),
          "Unsupported cryptographic algorithm used (ERR_OSSL_EVP_UNSUPPORTED): Webpack's default hash "
          "is not in OpenSSL 3 (Node.js 17 and later); set output.hashFunction to \"xxhash64\" (Webpack "
          "5.54+), or as a stopgap set the config var NODE_OPTIONS=--openssl-legacy-provider"),
    Known(("ERR_OSSL_EVP_UNSUPPORTED",),
          "Unsupported cryptographic algorithm used (ERR_OSSL_EVP_UNSUPPORTED): the app or a dependency "
          "uses an algorithm OpenSSL 3 (Node.js 17 and later) dropped; update it, or as a stopgap set "
          "the config var NODE_OPTIONS=--openssl-legacy-provider"),
    Known(("JavaScript heap out of memory",),
          "Node.js Out-Of-Memory (OOM) during the build, most often a bundler running too many parallel "
          "jobs: lower its parallelism, or raise the limit for that script with "
          "NODE_OPTIONS=--max-old-space-size=<MB>"),
)


def explain(output: Sequence[str], known: Sequence[Known]) -> str | None:
    """The first known failure `output` shows: its explanation, then the tail of the output from the line
    that told (so a long stack trace after it does not hide it); None when no known failure matches."""
    text = "\n".join(output)
    found = next((k for k in known if k.matches(text)), None)
    if found is None:
        return None
    tell = next((i for i, line in enumerate(output) if found.first_line_matches(line)), 0)
    start = min(tell, max(len(output) - TAIL_LINES, 0))
    tail = [f"  {line}" for line in output[start:start + TAIL_LINES] if line.strip()]
    return "\n".join([found.explanation, *tail])


def explain_install(output: Sequence[str]) -> str | None:
    """A dependency install (or prune) failure, explained, then its output's tail."""
    return explain(output, (*INSTALL_FAILURES, *NETWORK_AND_RUNTIME))


def explain_script(output: Sequence[str]) -> str | None:
    """A build script failure, explained, then its output's tail."""
    return explain(output, (*SCRIPT_FAILURES, *NETWORK_AND_RUNTIME))
