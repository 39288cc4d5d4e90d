"""Custom certificate authorities (a TLS-intercepting proxy, a private mirror): the variables that name
them, in one place for slugbuild's own downloads and for the build environment, and the one line that
says which to set when verification fails."""

from __future__ import annotations

import os
from collections.abc import Mapping

# What slugbuild's own HTTPS (downloads, API calls) honours, first found wins: requests' two variables,
# then OpenSSL's, which requests alone ignores (it trusts certifi's bundle instead).
OWN_CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")

# Every variable by which a program a build runs may be given a CA: passed into the build environment as
# the proxy variables are. npm and bundler read theirs from npm_config_* / BUNDLE_* in any case.
CA_VARS = (
    *OWN_CA_VARS,
    "NODE_EXTRA_CA_CERTS",  # node, npm, yarn, pnpm
    "PIP_CERT",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "NPM_CONFIG_CAFILE",
    "npm_config_cafile",
    "BUNDLE_SSL_CA_CERT",
)

FIX = "set SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) to the CA bundle of your proxy or mirror"


def verify_setting(environ: Mapping[str, str] | None = None) -> str | bool:
    """What requests' `verify` should be: the CA file or directory the environment names, else True.

    Set on a session it also reaches sessions with `trust_env = False`, which ignore REQUESTS_CA_BUNDLE.
    """
    env = os.environ if environ is None else environ
    for name in OWN_CA_VARS:
        if env.get(name, "").strip():
            return env[name].strip()
    return True


def verify_source(environ: Mapping[str, str] | None = None) -> str | None:
    """The variable `verify_setting` took its CA from, or None when it uses the default bundle."""
    env = os.environ if environ is None else environ
    return next((name for name in OWN_CA_VARS if env.get(name, "").strip()), None)


def failure_hint(environ: Mapping[str, str] | None = None) -> str:
    """The fix for a certificate that did not verify, naming the variable to set (or the one in use)."""
    used = verify_source(environ)
    if used:
        env = os.environ if environ is None else environ
        return f"the CA from {used}={env[used].strip()} did not verify it; point {used} at your proxy's CA"
    return FIX
