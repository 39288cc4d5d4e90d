"""Slug blobs: files under the data directory, reached through presigned, expiring URLs.

A URL names the slug id, the time it expires and an HMAC over (method, slug id, expiry) made with the
server's secret, as S3's presigned URLs do; so a PUT URL cannot be used to GET, nor edited to last longer
or to reach another slug. The path is always built from a parsed UUID, so it cannot leave the blob
directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from slugbuild.platform.server.problems import ApiProblem

CHUNK_B = 1 << 20
DEFAULT_TTL_S = 3600


def parse_id(text: str) -> str | None:
    """The canonical form of a slug id, or None if `text` is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


class BlobStore:
    """Blob files for slugs and the signed URLs that reach them."""

    def __init__(self, root: Path, secret: bytes, ttl_s: int = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".*.part"):  # left by uploads cut off when the server stopped
            stale.unlink(missing_ok=True)
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock

    def path(self, slug_id: str) -> Path:
        canonical = parse_id(slug_id)
        if canonical is None:
            raise ValueError(f"not a slug id: {slug_id!r}")
        return self.root / f"{canonical}.tgz"

    def _signature(self, method: str, slug_id: str, expires: int) -> str:
        message = f"{method}\n{slug_id}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def signed_url(self, base_url: str, slug_id: str, method: str) -> str:
        """A URL that lets its holder `method` (PUT or GET) the slug's blob until it expires."""
        expires = int(self._clock()) + self._ttl_s
        query = urlencode({"Expires": expires, "Signature": self._signature(method, slug_id, expires)})
        return f"{base_url}/blobs/{slug_id}?{query}"

    def check(self, method: str, slug_id: str, query: dict[str, list[str]]) -> None:
        """Raise ApiProblem (403) unless the query carries a valid, unexpired signature for this request."""
        expires_text = (query.get("Expires") or [""])[0]
        signature = (query.get("Signature") or [""])[0]
        if not expires_text.isdigit() or not signature:
            raise ApiProblem(403, "forbidden", "This blob URL is not signed; ask the API for a new URL.")
        expected = self._signature(method, slug_id, int(expires_text))
        if not hmac.compare_digest(expected, signature):
            raise ApiProblem(403, "forbidden", f"This blob URL's signature does not match a {method}; "
                                                "ask the API for a new URL.")
        if int(expires_text) < self._clock():
            raise ApiProblem(403, "forbidden", "This blob URL has expired; ask the API for a new URL.")

    def receive(self, slug_id: str, body: BinaryIO, length: int) -> str:
        """Write exactly `length` bytes from `body` in chunks; returns their sha256 hex digest.

        The bytes go to a temporary file renamed into place only when complete, so a broken upload
        never replaces a good blob.
        """
        final = self.path(slug_id)
        partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                remaining = length
                while remaining:
                    chunk = body.read(min(CHUNK_B, remaining))
                    if not chunk:
                        raise ApiProblem(400, "bad_request",
                                          f"The upload ended after {length - remaining} of {length} bytes; "
                                          "send the whole slug again.")
                    out.write(chunk)
                    digest.update(chunk)
                    remaining -= len(chunk)
            os.replace(partial, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return digest.hexdigest()

    def open(self, slug_id: str) -> BinaryIO | None:
        """The blob opened for reading, or None if it was never uploaded."""
        try:
            return self.path(slug_id).open("rb")
        except FileNotFoundError:
            return None

    def remove(self, slug_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(slug_id).unlink()
