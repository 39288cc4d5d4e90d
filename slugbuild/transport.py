"""What an HTTP failure means, in a few words a user can act on, for downloads and the API client alike."""

from __future__ import annotations

import re

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from slugbuild import tls

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_CERT = re.compile(r"certificate verify failed: ([^'\"()]+)")


def describe(exc: requests.RequestException | Urllib3Error) -> str:
    """`Connection refused`, `timed out`: the cause without the pool's long wrapper text; a certificate that
    did not verify also names the variable that fixes it."""
    if isinstance(exc, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        found = _CERT.search(str(exc))
        why = found.group(1).strip() if found else "it did not verify"
        return f"TLS certificate not trusted ({why}); {tls.failure_hint()}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    found = _ERRNO.search(str(exc))
    return found.group(1).strip() if found else type(exc).__name__


def is_untrusted_certificate(exc: BaseException) -> bool:
    """A TLS failure no retry can fix: the server's certificate is not trusted here."""
    return isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc)
