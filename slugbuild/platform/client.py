"""The Platform API client: one session, the v3 Accept header, errors as one line, ranges, honest retries."""

from __future__ import annotations

import email.utils
import random
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from slugbuild import USER_AGENT, tls
from slugbuild.errors import ApiError, SlugbuildError
from slugbuild.log import BuildLog
from slugbuild.platform.auth import API_KEY_ENV, BearerAuth, Credentials, resolve
from slugbuild.transport import describe, is_untrusted_certificate

ACCEPT = "application/vnd.heroku+json; version=3"
TIMEOUT_S = (10, 120)  # connect, read: creating a release can take a while on a busy platform
PAGE_SIZE = 200  # Heroku's default page; lists past it arrive in several pages
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
URL_HINT = "SLUGBUILD_API_URL (for the local server: is `slugbuild serve` running?)"


class ApiUnreachable(SlugbuildError):
    """The API could not be reached, or answered with something that is not the Platform API."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait: Retry-After when the server names it, else backoff with jitter."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_delay_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        named = parse_retry_after(retry_after)
        if named is not None:
            return min(named, self.max_delay_s)
        ceiling = min(self.max_delay_s, self.backoff_s * 2 ** attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter spreads clients that failed together


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def app_path(app: str, *rest: str) -> str:
    """`/apps/NAME/...` with every part quoted, so a name cannot reach another path."""
    return "/".join(["/apps", *(urllib.parse.quote(part, safe="") for part in (app, *rest))])


def never_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left, so any method may retry."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


Retryable = Callable[[requests.Response | None, requests.RequestException | None], bool]


def with_retries(policy: RetryPolicy, attempt: Callable[[], requests.Response], retryable: Retryable,
                 notify: Callable[[str], None] | None = None) -> requests.Response:
    """Run `attempt` until it gives a response `retryable` rejects or the attempts run out.

    The last response is returned whatever its status, so the caller reports the server's own error;
    the last exception is raised.
    """
    for number in range(1, policy.attempts + 1):
        retry_after = None
        try:
            response = attempt()
        except requests.RequestException as exc:
            if number == policy.attempts or not retryable(None, exc) or is_untrusted_certificate(exc):
                raise
            why = describe(exc)
        else:
            if number == policy.attempts or not retryable(response, None):
                return response
            retry_after = response.headers.get("Retry-After")
            why = f"{response.status_code} {response.reason}"
            response.close()
        wait = policy.delay(number - 1, retry_after)
        if notify:
            notify(f"{why}; retrying in {wait:.1f}s (attempt {number + 1} of {policy.attempts})")
        policy.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def api_retryable(method: str) -> Retryable:
    """429 for every method (the server did nothing); 5xx and lost connections only where safe to repeat."""

    def retryable(response: requests.Response | None, exc: requests.RequestException | None) -> bool:
        if response is not None:
            return response.status_code == 429 or (
                response.status_code in RETRY_STATUSES and method in IDEMPOTENT)
        assert exc is not None
        return never_sent(exc) or (method in IDEMPOTENT and isinstance(exc, (requests.ConnectionError,
                                                                               requests.Timeout)))

    return retryable


class PlatformClient:
    """Talks to one Platform API with one key; use it as a context manager so its session is closed."""

    def __init__(self, credentials: Credentials, *, policy: RetryPolicy | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.credentials = credentials
        self.base_url = credentials.api_url.value
        self.policy = policy or RetryPolicy()
        self.notify = notify
        self.session = requests.Session()
        self.session.headers.update({"Accept": ACCEPT, "User-Agent": USER_AGENT})
        self.session.auth = BearerAuth(credentials.api_key.value)
        self.session.verify = tls.verify_setting()  # SSL_CERT_FILE/SSL_CERT_DIR too, not only requests' own

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r}, key from {self.credentials.api_key.source})"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, body: object = None,
                range_: str | None = None) -> requests.Response:
        """One API call with retries; a non-2xx answer becomes ApiError, no answer ApiUnreachable."""
        headers = {"Request-Id": str(uuid.uuid4())}
        if range_:
            headers["Range"] = range_

        def attempt() -> requests.Response:
            return self.session.request(method, self.base_url + path, json=body, headers=headers,
                                        timeout=TIMEOUT_S)

        try:
            response = with_retries(self.policy, attempt, api_retryable(method), self.notify)
        except requests.RequestException as exc:
            raise self._unreachable(method, path, exc) from None
        if not response.ok:
            raise self._error(response)
        return response

    def get(self, path: str) -> Any:
        return self.json(self.request("GET", path))

    def post(self, path: str, body: object) -> Any:
        return self.json(self.request("POST", path, body=body))

    def patch(self, path: str, body: object) -> Any:
        return self.json(self.request("PATCH", path, body=body))

    def delete(self, path: str) -> Any:
        return self.json(self.request("DELETE", path))

    def pages(self, path: str, range_: str) -> Iterator[Any]:
        """Every item of a list, page after page, following `Next-Range` while the answer is 206."""
        while True:
            response = self.request("GET", path, range_=range_)
            items = self.json(response)
            if not isinstance(items, list):
                raise self._not_api(response, "a list")
            yield from items
            next_range = response.headers.get("Next-Range")
            if response.status_code != 206 or not next_range or not items:
                return
            range_ = next_range

    def json(self, response: requests.Response) -> Any:
        """The decoded body; a body that is not JSON means the URL is not the Platform API."""
        try:
            return response.json()
        except ValueError:
            raise self._not_api(response, "JSON") from None

    def _unreachable(self, method: str, path: str, exc: requests.RequestException) -> ApiUnreachable:
        where = f"the Platform API at {self.base_url} ({self.credentials.api_url.source})"
        if never_sent(exc) or method in IDEMPOTENT:
            return ApiUnreachable(f"cannot reach {where}: {describe(exc)}; check --api-url or {URL_HINT}")
        return ApiUnreachable(f"{where} did not answer {method} {path} ({describe(exc)}); it may have taken "
                              "effect, so check the result before trying again")

    def _not_api(self, response: requests.Response, expected: str) -> ApiUnreachable:
        return ApiUnreachable(
            f"{self.base_url} ({self.credentials.api_url.source}) answered {response.request.method} "
            f"{response.request.path_url} with {response.status_code} but not {expected}; "
            f"check that --api-url or {URL_HINT} names a Platform API")

    def _error(self, response: requests.Response) -> ApiError:
        error_id, message = _error_body(response)
        method = str(response.request.method)
        return ApiError(response.status_code, error_id, message, self._fix(response.status_code, method))

    def _fix(self, status: int, method: str) -> str:
        source = self.credentials.api_key.source
        fixes = {
            401: f"the API key from {source} was refused by {self.base_url}; check it, or give another "
                 f"with --api-key or {API_KEY_ENV}",
            403: f"the account of the API key from {source} may not do this; use a key with access",
            404: f"check the name (`slugbuild apps list` shows the apps) and that {self.base_url} "
                 f"({self.credentials.api_url.source}) is the right API",
            422: "change the value the message names and try again",
            429: "the account is out of API requests; wait a few minutes and try again",
        }
        if status >= 500 and method in IDEMPOTENT:
            return f"{self.base_url} failed after {self.policy.attempts} attempts; try again later"
        if status >= 500:
            return (f"{self.base_url} failed; a {method} is not repeated in case it took effect, so check "
                    "the result (`slugbuild releases`, `slugbuild apps list`) before trying again")
        return fixes.get(status, "")


def _error_body(response: requests.Response) -> tuple[str, str]:
    """(id, message) from `{"id", "message"}`, or `error` as Heroku's missing_version has it."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return "unknown", response.reason or "no reason given"
    message = data.get("message") or data.get("error") or response.reason or "no message"
    return str(data.get("id") or "unknown"), " ".join(str(message).split())


def connect(api_url: str | None, api_key: str | None, log: BuildLog | None = None) -> PlatformClient:
    """A client for the API the flags, the environment or netrc name; retries are reported to `log`."""
    return PlatformClient(resolve(api_url, api_key), notify=log.warn if log else None)
