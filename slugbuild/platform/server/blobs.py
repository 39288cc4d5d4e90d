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
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlencode

from slugbuild.platform.server.problems import ApiProblem
from slugbuild.platform.server.store import Slug, Store, now

DEFAULT_TTL_S = 3600
STALE_PART_S = 3600  # an upload file not written for this long was cut off
EXPIRES = re.compile(r"^[0-9]{1,12}$")  # ASCII digits only: int() reads other scripts' digits too


class Blobs(Protocol):
    """Where slug blobs live: files on this server, or an object store (slugbuild.platform.server.s3)."""

    streams_through_server: bool  # True when blob URLs reach this server's /blobs/ route
    ttl_s: int  # how long a URL it makes can be used

    def url(self, base_url: str, slug: Slug, method: str) -> str: ...

    def seal(self, slug: Slug) -> Slug: ...

    def remove(self, slug_id: str) -> None: ...


CLOCK_SKEW_S = 60  # between this host, the other replicas and the store


def sweep_removals(store: Store, blobs: Blobs) -> None:
    """Remove again the blobs of deleted slugs once every URL made before the delete has expired, so an
    upload made with such a URL meanwhile is not kept for ever."""
    for slug_id in store.removals_due(now(-(blobs.ttl_s + CLOCK_SKEW_S))):
        blobs.remove(slug_id)
        store.forget_removal(slug_id)


def parse_id(text: str) -> str | None:
    """The canonical form of a slug id, or None if `text` is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


class BlobStore:
    """Blob files for slugs and the signed URLs that reach them; the bytes pass through this server."""

    streams_through_server = True

    def __init__(self, root: Path, secret: bytes, ttl_s: int = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret
        self.ttl_s = ttl_s
        self._clock = clock
        self._remove_stale_parts()

    def _remove_stale_parts(self) -> None:
        """Remove what uploads cut off by a server stop left; not a live upload of another worker or
        replica sharing this directory, which writes its file at least once a megabyte."""
        for part in self.root.glob(".*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < self._clock() - STALE_PART_S:
                    part.unlink()

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
        expires = int(self._clock()) + self.ttl_s
        query = urlencode({"Expires": expires, "Signature": self._signature(method, slug_id, expires)})
        return f"{base_url}/blobs/{slug_id}?{query}"

    def check(self, method: str, slug_id: str, query: dict[str, list[str]]) -> None:
        """Raise ApiProblem (403) unless the query carries a valid, unexpired signature for this request."""
        expires_text = (query.get("Expires") or [""])[0]
        signature = (query.get("Signature") or [""])[0]
        if not EXPIRES.match(expires_text) or not signature:
            raise ApiProblem(403, "forbidden", "This blob URL is not signed; ask the API for a new URL.")
        expected = self._signature(method, slug_id, int(expires_text))
        if not hmac.compare_digest(expected, signature):
            raise ApiProblem(403, "forbidden", f"This blob URL's signature does not match a {method}; "
                                                "ask the API for a new URL.")
        if int(expires_text) < self._clock():
            raise ApiProblem(403, "forbidden", "This blob URL has expired; ask the API for a new URL.")

    def url(self, base_url: str, slug: Slug, method: str) -> str:
        """The slug's blob URL for `method` (PUT or GET), on this server."""
        return self.signed_url(base_url, slug.id, method)

    def partial(self, slug_id: str) -> Path:
        """A fresh temporary path beside the blob, for an upload to be renamed into place when whole."""
        final = self.path(slug_id)
        return final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")

    def place(self, partial: Path, slug_id: str) -> None:
        os.replace(partial, self.path(slug_id))

    def seal(self, slug: Slug) -> Slug:
        """A file blob's size and digest were recorded when it was put in place; nothing to check."""
        return slug

    def open(self, slug_id: str) -> BinaryIO | None:
        """The blob opened for reading, or None if it was never uploaded."""
        try:
            return self.path(slug_id).open("rb")
        except FileNotFoundError:
            return None

    def remove(self, slug_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(slug_id).unlink()
