"""Slug bytes to and from a blob URL (pytest-httpserver on 127.0.0.1): the exact bytes, headers, retries."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug import Request, Response

from slugbuild.log import RecordingLog
from slugbuild.platform import blob
from slugbuild.platform.client import RetryPolicy

SIGNED = "?Expires=99&Signature=very-secret-signature"


@pytest.fixture
def slug(tmp_path: Path) -> Path:
    path = tmp_path / "slug.tgz"
    path.write_bytes(bytes(range(256)) * 4096 + b"tail")  # 1 MiB and a bit: several reads
    return path


@pytest.fixture(autouse=True)
def netrc_with_a_default_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A netrc that would lend credentials to any host, as requests does when trust_env is on."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login me password machine-key\ndefault login anyone password leak\n")
    monkeypatch.setenv("NETRC", str(netrc))


class ProgressLog(RecordingLog):
    """Keeps the sum of what each progress bar was told."""

    def __init__(self) -> None:
        super().__init__()
        self.counted = 0

    @contextlib.contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        def report(n: int) -> None:
            self.counted += n

        yield report


def no_waiting() -> RetryPolicy:
    return RetryPolicy(attempts=4, sleep=lambda s: None)


def recording(*statuses: int) -> tuple[list[dict[str, object]], Callable[[Request], Response]]:
    """A handler answering `statuses` in turn (then 200), and what each request carried."""
    seen: list[dict[str, object]] = []

    def handler(request: Request) -> Response:
        data = request.get_data()
        seen.append({"method": request.method, "headers": dict(request.headers),
                     "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
        return Response("", statuses[len(seen) - 1] if len(seen) <= len(statuses) else 200)

    return seen, handler


def test_progress_file_counts_each_byte_once_across_a_rewind():
    counted: list[int] = []
    body = blob.ProgressFile(io.BytesIO(b"x" * 100), 100, counted.append)
    body.read(60)
    body.seek(0)
    assert sum(counted) == 0
    while body.read(30):
        pass
    assert sum(counted) == 100 and len(body) == 100


def test_upload_sends_the_file_with_a_length_no_content_type_and_no_credentials(server, slug):
    seen, handler = recording()
    server.expect_request("/blobs/1", method="PUT").respond_with_handler(handler)
    blob.upload({"method": "put", "url": server.url_for("/blobs/1") + SIGNED}, slug, RecordingLog())
    (request,) = seen
    headers = request["headers"]
    assert request["method"] == "PUT"
    assert headers["Content-Length"] == str(slug.stat().st_size)
    assert "Transfer-Encoding" not in headers
    assert headers.get("Content-Type", "") == ""
    assert "Authorization" not in headers
    assert request["sha256"] == hashlib.sha256(slug.read_bytes()).hexdigest()


def test_upload_that_fails_twice_is_sent_whole_three_times_and_counted_once(server, slug):
    seen, handler = recording(503, 500)
    server.expect_request("/blobs/1", method="PUT").respond_with_handler(handler)
    log = ProgressLog()
    blob.upload({"method": "PUT", "url": server.url_for("/blobs/1") + SIGNED}, slug, log, no_waiting())
    expected = hashlib.sha256(slug.read_bytes()).hexdigest()
    assert [r["sha256"] for r in seen] == [expected] * 3
    assert log.counted == slug.stat().st_size
    assert len(log.texts("warn")) == 2 and "503 SERVICE UNAVAILABLE" in log.texts("warn")[0].upper()


def test_an_upload_the_store_refuses_is_one_line_without_the_signature(server, slug):
    server.expect_request("/blobs/1", method="PUT").respond_with_data("expired", status=403)
    with pytest.raises(blob.BlobTransferFailed) as caught:
        blob.upload({"method": "PUT", "url": server.url_for("/blobs/1") + SIGNED}, slug, RecordingLog(),
                    no_waiting())
    message = str(caught.value)
    assert f"uploading {slug} failed: " in message and "answered 403" in message
    assert "very-secret-signature" not in message


def test_download_checks_the_checksum_and_leaves_the_file(server, slug, tmp_path):
    data = slug.read_bytes()
    server.expect_request("/blobs/1", method="GET").respond_with_data(data)
    dest = tmp_path / "got.tgz"
    checksum = f"SHA256:{hashlib.sha256(data).hexdigest()}"
    assert blob.download(server.url_for("/blobs/1") + SIGNED, dest, checksum, RecordingLog()) == dest
    assert dest.read_bytes() == data


def test_a_download_that_does_not_match_its_checksum_leaves_nothing(server, slug, tmp_path):
    server.expect_request("/blobs/1", method="GET").respond_with_data(b"not the slug")
    dest = tmp_path / "got.tgz"
    with pytest.raises(blob.BlobTransferFailed, match="download it again"):
        blob.download(server.url_for("/blobs/1"), dest, "SHA256:" + "0" * 64, RecordingLog())
    assert list(tmp_path.glob("got.tgz*")) == [] and list(tmp_path.glob(".got.tgz*")) == []


def test_the_download_carries_no_credentials_either(server, tmp_path):
    seen, handler = recording()
    server.expect_request("/blobs/1", method="GET").respond_with_handler(handler)
    blob.download(server.url_for("/blobs/1"), tmp_path / "got.tgz", None, RecordingLog())
    assert "Authorization" not in seen[0]["headers"]
