"""Slug blobs in an S3-compatible object store, reached through presigned URLs: no byte passes through us.

Layout under `s3://BUCKET/PREFIX/`: clients PUT to `uploads/<slug id>.tgz`; the first release copies that
object, inside the store, to `slugs/<slug id>.tgz`, asking the store for the copy's SHA-256 as it
writes it, and compares size and digest with the slug's checksum. GET URLs of a released slug reach only
`slugs/...`, for which no PUT URL is ever made: a PUT still under way, or made later with an unexpired
URL, cannot replace what was released. A store that does not return the digest is read back once instead
(the slug's size, through this server, at its first release).

boto3 reads the standard AWS variables: AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any
from urllib.parse import urlsplit

from slugbuild import USER_AGENT
from slugbuild.errors import UsageError
from slugbuild.platform.server.store import Slug

BLOB_STORE_ENV = "SLUGBUILD_BLOB_STORE"
SETTING = f"--blob-store (or {BLOB_STORE_ENV})"
AWS_SETTINGS = "AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION"
CHUNK_B = 1 << 20


def is_url(value: str) -> bool:
    return value.startswith("s3://")


def parse(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://BUCKET/PREFIX`; the prefix has no slashes at either end."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"{SETTING} {url!r} is not s3://BUCKET[/PREFIX]; name a bucket")
    return parts.netloc, parts.path.strip("/")


class S3Blobs:
    """Slug blobs as objects; URLs are S3's own presigned URLs, checked by the store."""

    streams_through_server = False

    def __init__(self, url: str, ttl_s: int, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = parse(url)
        self.ttl_s = ttl_s
        # Only the store's SHA-256 is asked for; botocore's default CRC32 on every PUT is not needed.
        config = Config(user_agent_extra=USER_AGENT, request_checksum_calculation="when_required",
                        response_checksum_validation="when_required", retries={"mode": "standard"},
                        signature_version="s3v4", connect_timeout=10, read_timeout=60)
        self._s3 = client or boto3.client("s3", config=config)
        self._check_bucket(url)

    def _check_bucket(self, url: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket"):
                raise UsageError(f"bucket {self.bucket} does not exist; create it or fix {SETTING}") from None
            raise UsageError(f"the store refused bucket {self.bucket} ({code}): check the credentials "
                             f"({AWS_SETTINGS}) and {SETTING}") from None
        except BotoCoreError as exc:
            raise UsageError(f"cannot reach the object store for {url}: {exc}; check AWS_ENDPOINT_URL and "
                             f"{SETTING}") from None

    def _key(self, kind: str, slug_id: str) -> str:
        return "/".join(part for part in (self.prefix, kind, f"{slug_id}.tgz") if part)

    def url(self, base_url: str, slug: Slug, method: str) -> str:
        """A presigned PUT to the upload object, or a GET of the released object once there is one."""
        if method == "PUT":
            operation, key = "put_object", self._key("uploads", slug.id)
        else:
            operation = "get_object"
            key = self._key("slugs" if slug.sha256 else "uploads", slug.id)
        return self._s3.generate_presigned_url(operation, Params={"Bucket": self.bucket, "Key": key},
                                               ExpiresIn=self.ttl_s)

    def seal(self, slug: Slug) -> Slug:
        """Copy the upload to the released object; the slug with its size and SHA-256 (None if missing)."""
        from botocore.exceptions import ClientError

        try:
            copied = self._s3.copy_object(
                Bucket=self.bucket, Key=self._key("slugs", slug.id), ChecksumAlgorithm="SHA256",
                CopySource={"Bucket": self.bucket, "Key": self._key("uploads", slug.id)})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return dataclasses.replace(slug, size=None, sha256=None)
            raise
        head = self._s3.head_object(Bucket=self.bucket, Key=self._key("slugs", slug.id))
        digest = copied.get("CopyObjectResult", {}).get("ChecksumSHA256")
        sha256 = base64.b64decode(digest).hex() if digest and "-" not in digest else self._read_back(slug)
        return dataclasses.replace(slug, size=head["ContentLength"], sha256=sha256)

    def _read_back(self, slug: Slug) -> str:
        """The released object's SHA-256, read through this server: for stores that don't compute it."""
        body = self._s3.get_object(Bucket=self.bucket, Key=self._key("slugs", slug.id))["Body"]
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(CHUNK_B):
            digest.update(chunk)
        return digest.hexdigest()

    def remove(self, slug_id: str) -> None:
        for kind in ("uploads", "slugs"):
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(kind, slug_id))
