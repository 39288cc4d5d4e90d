"""Platform API credentials: the base URL and the key, each resolved once and kept with its source."""

from __future__ import annotations

import netrc
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import requests

from slugbuild.config import DEFAULT_API_URL, Sourced
from slugbuild.errors import SlugbuildError, UsageError

API_URL_ENV = "SLUGBUILD_API_URL"
API_KEY_ENV = "HEROKU_API_KEY"


class MissingApiKey(SlugbuildError):
    """No key from the flag, the environment or the netrc file."""

    def __init__(self, host: str, netrc_path: Path) -> None:
        super().__init__(
            f"no API key for {host}: pass --api-key KEY, set {API_KEY_ENV}, or add "
            f"`machine {host} login EMAIL password KEY` to {netrc_path}")


class NetrcUnreadable(SlugbuildError):
    """The netrc file exists but cannot be parsed or is readable by others."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}; fix the file (chmod 600 {path}) or pass --api-key")


@dataclass(frozen=True)
class Credentials:
    """Where to send requests and the key to send; the key never appears in its repr."""

    api_url: Sourced[str]
    api_key: Sourced[str]

    @property
    def host(self) -> str:
        """The API URL's host name, the netrc machine to look up."""
        return urllib.parse.urlsplit(self.api_url.value).hostname or ""

    def __repr__(self) -> str:
        return f"Credentials(api_url={self.api_url.value!r}, api_key from {self.api_key.source})"


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer KEY`, passed as `auth=` so a netrc entry can never replace it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


def resolve_api_url(flag: str | None) -> Sourced[str]:
    """The base URL: --api-url, else SLUGBUILD_API_URL, else Heroku's; without a trailing slash."""
    if flag:
        found = Sourced(flag, "--api-url")
    elif os.environ.get(API_URL_ENV):
        found = Sourced(os.environ[API_URL_ENV], API_URL_ENV)
    else:
        found = Sourced(DEFAULT_API_URL, "default")
    parts = urllib.parse.urlsplit(found.value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{found.source} {found.value!r} is not an http(s) URL; "
                         f"give one like {DEFAULT_API_URL}")
    return Sourced(found.value.rstrip("/"), found.source)


def netrc_path() -> Path:
    """$NETRC when set (as curl and requests honour it), else ~/.netrc."""
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def netrc_key(host: str, path: Path) -> str | None:
    """The password of the netrc entry for exactly `host`; never `default` nor another machine's."""
    if not path.is_file():
        return None
    try:
        # The stdlib refuses a group- or world-readable ~/.netrc only when it picks the path itself.
        entries = netrc.netrc(None if path == Path.home() / ".netrc" else str(path))
    except netrc.NetrcParseError as exc:
        raise NetrcUnreadable(path, f"line {exc.lineno}: {exc.msg}") from None
    except OSError as exc:
        raise NetrcUnreadable(path, exc.strerror or "cannot be read") from None
    entry = entries.hosts.get(host)
    return entry[2] if entry and entry[2] else None


def resolve_api_key(flag: str | None, host: str) -> Sourced[str]:
    """The key: --api-key, else HEROKU_API_KEY, else the netrc entry for `host`."""
    if flag:
        return Sourced(flag.strip(), "--api-key")
    if os.environ.get(API_KEY_ENV, "").strip():
        return Sourced(os.environ[API_KEY_ENV].strip(), API_KEY_ENV)
    path = netrc_path()
    key = netrc_key(host, path)
    if key is None:
        raise MissingApiKey(host, path)
    return Sourced(key.strip(), f"{path} (machine {host})")


def resolve(api_url: str | None, api_key: str | None) -> Credentials:
    """Both values at once, URL first because the netrc entry is looked up by its host."""
    url = resolve_api_url(api_url)
    host = urllib.parse.urlsplit(url.value).hostname or ""
    return Credentials(api_url=url, api_key=resolve_api_key(api_key, host))
