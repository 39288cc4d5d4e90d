"""Slug bytes to and from a blob URL: streamed from disk, retried, and never carrying API credentials."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import requests

from slugbuild import tls
from slugbuild.errors import SlugbuildError
from slugbuild.log import BuildLog
from slugbuild.platform.client import USER_AGENT, RetryPolicy, describe, with_retries

TIMEOUT_S = (10, 300)  # connect, read: the store answers only once the last byte is in
CHUNK_B = 1 << 20


class BlobTransferFailed(SlugbuildError):
    """The blob store refused or dropped an upload or download after every retry."""


class ProgressFile(io.RawIOBase):
    """A read-only view of a file that reports each byte read once: a seek moves the count with it, so
    a retry that rewinds the body does not count the bytes twice."""

    def __init__(self, fh: BinaryIO, size: int, report: Callable[[int], None]) -> None:
        super().__init__()
        self._fh, self._size, self._report = fh, size, report
        self._reported = fh.tell()

    def __len__(self) -> int:
        # requests takes the Content-Length from here, so the body is never sent chunked.
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._moved(self._fh.tell())
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._fh.seek(offset, whence)
        self._moved(position)
        return position

    def tell(self) -> int:
        return self._fh.tell()

    def _moved(self, position: int) -> None:
        if position != self._reported:
            self._report(position - self._reported)
            self._reported = position


def blob_session() -> requests.Session:
    """A session that sends nothing of ours: no auth, and trust_env off so no netrc entry rides along."""
    session = requests.Session()
    session.trust_env = False
    session.verify = tls.verify_setting()  # trust_env off drops REQUESTS_CA_BUNDLE; the CA still applies
    session.headers["User-Agent"] = USER_AGENT
    return session


def public_part(url: str) -> str:
    """The URL without its query, which holds the signature; safe to print."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def blob_retryable(response: requests.Response | None, exc: requests.RequestException | None) -> bool:
    """PUT and GET of a whole blob are safe to repeat: retry lost connections, 429 and 5xx."""
    if response is not None:
        return response.status_code == 429 or response.status_code >= 500
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def upload(blob: Mapping[str, str], path: Path, log: BuildLog, policy: RetryPolicy | None = None) -> None:
    """Send the file at `path` to `blob` (`{"method", "url"}`) with a Content-Length and no Content-Type."""
    method, url = blob["method"].upper(), blob["url"]
    size = path.stat().st_size
    policy = policy or RetryPolicy()
    progress = log.progress(f"Uploading {path.name}", size)
    with blob_session() as session, path.open("rb") as fh, progress as report:
        body = ProgressFile(fh, size, report)

        def attempt() -> requests.Response:
            body.seek(0)
            # An empty Content-Type, as Heroku's `curl -H "Content-Type:"`: a presigned URL signs it.
            return session.request(method, url, data=body, headers={"Content-Type": ""}, timeout=TIMEOUT_S)

        response = _transfer(policy, attempt, f"uploading {path}", url, log)
    response.close()


def download(url: str, dest: Path, checksum: str | None, log: BuildLog,
             policy: RetryPolicy | None = None) -> Path:
    """GET `url` into `dest` through a temp file, checking `SHA256:<hex>` when given; returns `dest`."""
    policy = policy or RetryPolicy()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    try:
        with blob_session() as session, os.fdopen(fd, "wb") as out:

            def attempt() -> requests.Response:
                out.seek(0)
                out.truncate()
                # identity: the bytes on disk must be the tgz whose checksum the slug names.
                return session.get(url, stream=True, timeout=TIMEOUT_S,
                                   headers={"Accept-Encoding": "identity"})

            response = _transfer(policy, attempt, f"downloading the slug to {dest}", url, log)
            digest = _save(response, out, log)
        if checksum and checksum.lower() != f"sha256:{digest}":
            raise BlobTransferFailed(f"the slug downloaded from {public_part(url)} has SHA256:{digest}, not "
                                     f"{checksum}; download it again or re-release the app")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _save(response: requests.Response, out: BinaryIO, log: BuildLog) -> str:
    size = int(response.headers.get("Content-Length") or 0) or None
    digest = hashlib.sha256()
    with response, log.progress("Downloading slug", size) as report:
        try:
            for chunk in response.iter_content(CHUNK_B):
                digest.update(chunk)
                out.write(chunk)
                report(len(chunk))
        except requests.RequestException as exc:
            raise BlobTransferFailed(f"downloading from {public_part(response.url)} broke off: "
                                     f"{describe(exc)}; try again") from None
    return digest.hexdigest()


def _transfer(policy: RetryPolicy, attempt: Callable[[], requests.Response], what: str, url: str,
              log: BuildLog) -> requests.Response:
    """`attempt` with retries; anything but a 2xx at the end is one line naming the store's answer."""
    try:
        response = with_retries(policy, attempt, blob_retryable, lambda msg: log.warn(f"{what}: {msg}"))
    except requests.RequestException as exc:
        raise BlobTransferFailed(f"{what} failed: {public_part(url)}: {describe(exc)} after "
                                 f"{policy.attempts} attempts; check the connection and try again") from None
    if not response.ok:
        raise BlobTransferFailed(f"{what} failed: {public_part(url)} answered {response.status_code} "
                                 f"{_store_says(response)}; try again, the blob URL may have expired")
    return response


def _store_says(response: requests.Response) -> str:
    """The reason phrase, and the store's own message when it sent a short JSON one."""
    with response:
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError, requests.RequestException):
            message = None
    return f"{response.reason} ({' '.join(str(message).split())})" if message else str(response.reason)
