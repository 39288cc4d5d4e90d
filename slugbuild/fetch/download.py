"""One URL into one local file over HTTP(S) or file://: retries with backoff (each one logged), resume by
Range, a stall limit, progress, and a final error that names the URL and what to change."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from slugbuild import USER_AGENT, tls
from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.log import BuildLog
from slugbuild.transport import describe, is_untrusted_certificate

CHUNK_B = 1 << 20
MAX_NUMBER_DIGITS = 18  # a byte count of up to an exabyte
TIMEOUT_S = 30
RETRIES = 5
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
# A download slower than STALL_MIN_BPS over STALL_S seconds (a mirror trickling a byte now and then) is cut
# and retried like a dropped connection, so no build waits for ever: at most about 2 x STALL_S per attempt.
STALL_ENV = "SLUGBUILD_DOWNLOAD_STALL_S"
STALL_S = 60.0
STALL_MIN_BPS = 1024


class NotFound(DownloadFailed):
    """The server (or the mirror directory) says the file does not exist: a 404, not a transient failure."""


class _Retryable(Exception):
    """A transient failure (connection, 5xx, short body, a stall) worth another attempt."""


def stall_setting(environ: Mapping[str, str] | None = None) -> float:
    """Seconds without real progress before a download is cut: SLUGBUILD_DOWNLOAD_STALL_S, else 60."""
    raw = (os.environ if environ is None else environ).get(STALL_ENV, "").strip()
    if not raw:
        return STALL_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise UsageError(f"{STALL_ENV}={raw!r} is not a number of seconds above zero; fix or unset it")
    return value


def fix_for(mirror: str | None) -> str:
    """What to change when a URL cannot be fetched: the mirror variable that points elsewhere, if any."""
    if mirror:
        return f"check the network, or set {mirror} to a mirror that answers"
    return "check the network and the URL"


class Downloader:
    """Owns the HTTP session; `download` fills a file with a URL's bytes or raises DownloadFailed."""

    def __init__(self, log: BuildLog, *, retries: int = RETRIES, backoff_s: float = BACKOFF_S,
                 timeout_s: float = TIMEOUT_S, stall_s: float | None = None) -> None:
        self.log = log
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.stall_s = stall_setting() if stall_s is None else stall_s
        self.sleep: Callable[[float], None] = time.sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # The bytes on disk must be the bytes the checksum names; a transparently decoded body is not.
        self.session.headers["Accept-Encoding"] = "identity"
        self.session.verify = tls.verify_setting()  # SSL_CERT_FILE/SSL_CERT_DIR too, not only requests' own

    def download(self, url: str, dest: Path, label: str | None, quiet: bool = False,
                 mirror: str | None = None) -> None:
        """Fill `dest` (which exists, perhaps empty) with the body at `url`, retrying transient failures;
        each retry is logged, and the final error names the URL and `mirror`, the variable to change."""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._download_once(url, dest, label, quiet, mirror)
                return
            except _Retryable as exc:
                why = str(exc)
            if attempt < attempts:
                delay = min(BACKOFF_MAX_S, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                self.log.warn(f"{label or url}: {why}; retrying in {delay:.1f}s (attempt {attempt + 1} of "
                              f"{attempts})")
                self.sleep(delay)
        tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
        raise DownloadFailed(f"could not download {url} after {tries}: {why}; {fix_for(mirror)}")

    def _download_once(self, url: str, dest: Path, label: str | None, quiet: bool,
                       mirror: str | None) -> None:
        """One attempt; a partial file left by an earlier attempt is resumed with a Range request."""
        if urllib.parse.urlsplit(url).scheme == "file":
            _copy_local(url, dest, mirror)
            return
        have = dest.stat().st_size
        headers = {"Range": f"bytes={have}-"} if have else {}
        # A silent server is cut by the read timeout, a trickling one by the stall check in _stream.
        timeout = (self.timeout_s, min(self.timeout_s, self.stall_s))
        try:
            response = self.session.get(url, stream=True, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            raise self._failure(url, exc) from None
        with response:
            start = have if response.status_code == 206 and _range_start(response) == have else 0
            if response.status_code != 200 and not start:
                dest.write_bytes(b"")  # whatever the server meant, the next attempt starts afresh
                _refuse(url, response.status_code, mirror)
            length = _number(response.headers.get("Content-Length"))
            total = start + length if length is not None else None
            written = self._stream(url, response, dest, label, start, total, quiet)
        if total is not None and written != total:
            raise _Retryable(f"body ended after {written} of {total} bytes")

    def _stream(self, url: str, response: requests.Response, dest: Path, label: str | None, start: int,
                total: int | None, quiet: bool) -> int:
        written = start
        progress = contextlib.nullcontext(lambda n: None) if quiet else self.log.progress(label or "", total)
        watch = _StallWatch(self.stall_s)
        try:
            with open(dest, "ab" if start else "wb") as fh, progress as advance:
                advance(start)
                # read1: whatever has arrived, so a trickle is seen as one, not waited on for a full chunk
                while chunk := response.raw.read1(CHUNK_B):
                    fh.write(chunk)
                    written += len(chunk)
                    advance(len(chunk))
                    watch.saw(len(chunk))
        except (requests.RequestException, Urllib3Error) as exc:
            raise self._failure(url, exc, streaming=True) from None
        return written

    def _failure(self, url: str, exc: requests.RequestException | Urllib3Error,
                 streaming: bool = False) -> Exception:
        if is_untrusted_certificate(exc):  # no retry makes a certificate trusted
            return DownloadFailed(f"could not download {url}: {describe(exc)}")
        if streaming and "timed out" in str(exc).lower():
            silent_s = min(self.timeout_s, self.stall_s)
            return _Retryable(f"stalled: no data for {silent_s:g} s ({STALL_ENV} sets the limit)")
        return _Retryable(describe(exc))


class _StallWatch:
    """Raises _Retryable when fewer than STALL_MIN_BPS bytes a second arrived over a window of stall_s."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self.window_start = time.monotonic()
        self.window_b = 0

    def saw(self, size_b: int) -> None:
        self.window_b += size_b
        now = time.monotonic()
        if now - self.window_start < self.stall_s:
            return
        if self.window_b < STALL_MIN_BPS * self.stall_s:
            raise _Retryable(self.describe())
        self.window_start, self.window_b = now, 0

    def describe(self) -> str:
        rate = f"{STALL_MIN_BPS // 1024} KiB/s"
        return f"stalled: less than {rate} for {self.stall_s:g} s ({STALL_ENV} sets the limit)"


def _range_start(response: requests.Response) -> int | None:
    """The first byte a 206 response carries, from `Content-Range: bytes START-END/TOTAL`."""
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    first = _number(rest.partition("-")[0])
    return first if unit == "bytes" else None


def _number(text: str | None) -> int | None:
    """A header's byte count; None unless it is plain ASCII digits (`²` is a digit to str.isdigit, and a
    hostile mirror may send thousands of digits, more than int() converts)."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > MAX_NUMBER_DIGITS:
        return None
    return int(text)


def _refuse(url: str, status: int, mirror: str | None) -> None:
    if status >= 500 or status in (206, 416, 429):  # 206/416: a resume gone wrong
        raise _Retryable(f"HTTP {status}")
    where = mirror or "the mirror"
    if status == 404:
        raise NotFound(f"could not download {url}: HTTP 404; check the version and {where}")
    raise DownloadFailed(f"could not download {url}: HTTP {status}; check the version and {where}")


def _copy_local(url: str, dest: Path, mirror: str | None) -> None:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    where = mirror or "the mirror directory"
    if not source.is_file():
        raise NotFound(f"{url} does not exist; check {where}")
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise DownloadFailed(f"could not read {url}: {exc.strerror}; check {where}") from None
