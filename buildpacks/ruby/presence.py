"""Which stacks have a Ruby, asked only once a download was not found: Heroku's DownloadPresence, so the
error can tell a version that does not exist from one that is built for other stacks only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

HEROKU_STACKS = ("heroku-22", "heroku-24", "heroku-26")  # DownloadPresence::STACKS at the reference snapshot
PROBE_TIMEOUT_S = 10


def exists(url: str) -> bool:
    """True when `url` (file://, http:// or https://) names a file that is there; False on any doubt."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).is_file()
    try:
        response = requests.head(url, timeout=PROBE_TIMEOUT_S, allow_redirects=True)
    except requests.RequestException:
        return False
    return response.status_code == 200


def stacks_with(url_for: Callable[[str], str], stack: str) -> list[str]:
    """The stacks other than `stack` that have the file `url_for(stack)` names."""
    return [other for other in HEROKU_STACKS if other != stack and exists(url_for(other))]
