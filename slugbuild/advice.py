"""What a failed program's output says the user should do: trust a CA, or fill the cache before --offline.

Package managers bury these causes in pages of output; the build's last line should name the fix.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from pathlib import PurePath

from slugbuild.errors import BuildFailed, CommandFailed

# Certificate-verification failures as node, OpenSSL (Ruby, git, curl), Go and Python word them.
TLS_MARKERS = re.compile(
    r"(self[- ]signed certificate|unable to get local issuer certificate|unable to verify the first "
    r"certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|"
    r"DEPTH_ZERO_SELF_SIGNED_CERT|certificate verify failed|CERTIFICATE_VERIFY_FAILED|"
    r"x509: certificate signed by unknown authority|tls: failed to verify certificate)", re.IGNORECASE)
# The CA variable each program reads; anything else (a classic buildpack's curl, say) reads OpenSSL's.
CA_VARIABLE_OF = {
    "npm": "NODE_EXTRA_CA_CERTS", "npx": "NODE_EXTRA_CA_CERTS", "yarn": "NODE_EXTRA_CA_CERTS",
    "pnpm": "NODE_EXTRA_CA_CERTS", "node": "NODE_EXTRA_CA_CERTS", "corepack": "NODE_EXTRA_CA_CERTS",
    "bundle": "BUNDLE_SSL_CA_CERT", "git": "GIT_SSL_CAINFO", "pip": "PIP_CERT", "curl": "CURL_CA_BUNDLE",
}
DEFAULT_CA_VARIABLE = "SSL_CERT_FILE"
# What a package manager prints when an offline install needs something its cache lacks: a URL or a name.
MISSING_URL = (
    re.compile(r"request to (\S+) failed: cache mode is 'only-if-cached'"),  # npm ENOTCACHED
    re.compile(r"in offline mode \(\"?([^\s\")]+)"),  # yarn 1
    re.compile(r"may be downloaded from (\S+?)\.?$"),  # pnpm ERR_PNPM_NO_OFFLINE_TARBALL
    re.compile(r"Network access ha(?:s|ve) been disabled by configuration \(\w+ ([^\s)]+)"),  # yarn 2+
)
MISSING_NAME = (
    re.compile(r"Failed to resolve (\S+) in package mirror"),  # pnpm ERR_PNPM_NO_OFFLINE_META
    re.compile(r"Couldn't find any versions for \"([^\"]+)\""),  # yarn 1 without a lockfile entry
    re.compile(r"Could not find (?:gem )?'?(.+?)'? in (?:locally installed gems|cached gems or installed "
               r"locally)"),  # bundler --local
    re.compile(r"(\S+@\S+): module lookup disabled by GOPROXY=off"),  # go
)


def explained(exc: BaseException, *, offline: bool,
              env: Mapping[str, str] | None = None) -> BuildFailed | None:
    """A clearer error for `exc` when a program it wraps failed on TLS or, under --offline, on a package
    missing from the cache; None when the output shows neither. `env` is the build's environment."""
    failed = _command_failure(exc)
    if failed is None:
        return None
    return (offline and _missing_package(failed)) or _untrusted_certificate(failed, env or {}) or None


def _command_failure(exc: BaseException | None) -> CommandFailed | None:
    """The CommandFailed `exc` is or replaced (buildpacks raise their own errors `from None`)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, CommandFailed):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _command(failed: CommandFailed) -> str:
    return " ".join([PurePath(failed.argv[0]).name, *failed.argv[1:]]) if failed.argv else "a program"


def _untrusted_certificate(failed: CommandFailed, env: Mapping[str, str]) -> BuildFailed | None:
    found = next((m for line in reversed(failed.tail) if (m := TLS_MARKERS.search(line))), None)
    if found is None:
        return None
    program = PurePath(failed.argv[0]).name if failed.argv else ""
    variable = CA_VARIABLE_OF.get(program, DEFAULT_CA_VARIABLE)
    if env.get(variable):
        fix = (f"{variable}={env[variable]} is set but does not hold the CA that signed it; point "
               f"{variable} at your proxy's or registry's CA certificate")
    else:
        fix = (f"if a proxy or private registry uses its own CA, export {variable}=/path/to/ca.pem before "
               "running slugbuild and build again")
    return BuildFailed(f"`{_command(failed)}` could not verify a TLS certificate ({found.group(1)}); {fix}")


def _missing_package(failed: CommandFailed) -> BuildFailed | None:
    for line in failed.tail:
        name = _name_in(line)
        if name:
            return BuildFailed(f"--offline: {name} is not in the build cache, so `{_command(failed)}` "
                               "cannot install it; build once without --offline to fill the cache")
    return None


def _name_in(line: str) -> str | None:
    for pattern in MISSING_NAME:
        if match := pattern.search(line):
            return match.group(1)
    for pattern in MISSING_URL:
        if match := pattern.search(line):
            return package_of(match.group(1))
    return None


def package_of(url: str) -> str:
    """The npm package a registry URL is for: `.../ms`, `.../ms/-/ms-2.1.2.tgz`, `.../@scope%2fname`."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).split("/-/")[0]
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[-2].startswith("@"):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1] if parts else url
