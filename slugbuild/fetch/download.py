"""One URL into one local file over HTTP(S) or file://: retries with backoff, resume by Range, progress."""

from __future__ import annotations

import contextlib
import random
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path

import requests

from slugbuild import USER_AGENT
from slugbuild.errors import DownloadFailed
from slugbuild.log import BuildLog

CHUNK_B = 1 << 20
MAX_NUMBER_DIGITS = 18  # a byte count of up to an exabyte
TIMEOUT_S = 30
RETRIES = 5
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0


class NotFound(DownloadFailed):
    """The server (or the mirror directory) says the file does not exist: a 404, not a transient failure."""


class _Retryable(Exception):
    """A transient failure (connection, 5xx, short body) worth another attempt."""


class Downloader:
    """Owns the HTTP session; `download` fills a file with a URL's bytes or raises DownloadFailed."""

    def __init__(self, log: BuildLog, *, retries: int = RETRIES, backoff_s: float = BACKOFF_S,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.log = log
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # The bytes on disk must be the bytes the checksum names; a transparently decoded body is not.
        self.session.headers["Accept-Encoding"] = "identity"

    def download(self, url: str, dest: Path, label: str | None, quiet: bool = False) -> None:
        """Fill `dest` (which exists, perhaps empty) with the body at `url`, retrying transient failures."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(BACKOFF_MAX_S, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                time.sleep(delay)
            try:
                self._download_once(url, dest, label, quiet)
                return
            except _Retryable as exc:
                last = str(exc)
        raise DownloadFailed(f"could not download {url} after {self.retries + 1} attempts: {last}")

    def _download_once(self, url: str, dest: Path, label: str | None, quiet: bool) -> None:
        """One attempt; a partial file left by an earlier attempt is resumed with a Range request."""
        if urllib.parse.urlsplit(url).scheme == "file":
            _copy_local(url, dest)
            return
        have = dest.stat().st_size
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout_s, headers=headers)
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        with response:
            start = have if response.status_code == 206 and _range_start(response) == have else 0
            if response.status_code != 200 and not start:
                dest.write_bytes(b"")  # whatever the server meant, the next attempt starts afresh
                _refuse(url, response.status_code)
            length = _number(response.headers.get("Content-Length"))
            total = start + length if length is not None else None
            written = self._stream(response, dest, label, start, total, quiet)
        if total is not None and written != total:
            raise _Retryable(f"body ended after {written} of {total} bytes")

    def _stream(self, response: requests.Response, dest: Path, label: str | None, start: int,
                total: int | None, quiet: bool) -> int:
        written = start
        progress = contextlib.nullcontext(lambda n: None) if quiet else self.log.progress(label or "", total)
        try:
            with open(dest, "ab" if start else "wb") as fh, progress as advance:
                advance(start)
                for chunk in response.iter_content(CHUNK_B):
                    fh.write(chunk)
                    written += len(chunk)
                    advance(len(chunk))
        except requests.RequestException as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        return written


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


def _refuse(url: str, status: int) -> None:
    if status >= 500 or status in (206, 416, 429):  # 206/416: a resume gone wrong
        raise _Retryable(f"HTTP {status}")
    if status == 404:
        raise NotFound(f"could not download {url}: HTTP 404; check the version and the mirror")
    raise DownloadFailed(f"could not download {url}: HTTP {status}; check the version and the mirror")


def _copy_local(url: str, dest: Path) -> None:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if not source.is_file():
        raise NotFound(f"{url} does not exist; check the mirror directory")
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise DownloadFailed(f"could not read {url}: {exc.strerror}; check the mirror directory") from None
