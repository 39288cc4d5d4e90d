"""The variables that name extra certificate authorities (a company's TLS-intercepting proxy, say)."""

from __future__ import annotations

# Passed into the build environment as proxy variables are; each tool reads its own.
CA_VARIABLES = (
    "SSL_CERT_FILE", "SSL_CERT_DIR",  # OpenSSL (Ruby, curl, git), Go
    "NODE_EXTRA_CA_CERTS",  # node, so npm, yarn and pnpm
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",  # Python's requests, curl, pip
    "GIT_SSL_CAINFO",
    "npm_config_cafile", "NPM_CONFIG_CAFILE",  # npm's own setting, in both spellings npm reads
    "BUNDLE_SSL_CA_CERT",  # bundler
)
