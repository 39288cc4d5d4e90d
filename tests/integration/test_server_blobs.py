"""Blob URLs: presigned PUT and GET on the same server, signed, expiring, length-checked, no path escape."""

from __future__ import annotations

import http.client
import os
import socket
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import services

pytestmark = services.FILE_STORE


def _new_slug(raw_api, app: str = "blobby") -> dict:
    raw_api.create_app(app)
    return raw_api("POST", f"/apps/{app}/slugs", json={"process_types": {"web": "x"}}).json()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode({k: v for k, v in query.items() if v is not None})).geturl()


def _raw_request(url: str, method: str, path: str, headers: dict[str, str],
                 body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these headers (no Content-Length unless given), as requests would not."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders(body or None)
    response = conn.getresponse()
    result = response.status, response.read()
    conn.close()
    return result


def test_upload_then_download_the_same_bytes(raw_api):
    data = os.urandom(3 * 1024 * 1024 + 17)  # several of the server's chunks
    raw_api.create_app("blobby")
    slug = raw_api.uploaded_slug("blobby", data)
    info = raw_api("GET", f"/apps/blobby/slugs/{slug['id']}").json()
    assert info["size"] == len(data)
    download = requests.get(info["blob"]["url"], timeout=30)
    assert download.status_code == 200 and download.content == data


def test_blob_urls_need_no_api_key(raw_api):
    slug = _new_slug(raw_api)
    upload = requests.put(slug["blob"]["url"], data=b"abc", timeout=30)  # no Accept, no Authorization
    assert upload.status_code == 200 and upload.content == b""


def test_a_tampered_signature_or_expiry_is_refused(raw_api):
    slug = _new_slug(raw_api)
    url = slug["blob"]["url"]
    signature = parse_qs(urlsplit(url).query)["Signature"][0]
    later = str(int(parse_qs(urlsplit(url).query)["Expires"][0]) + 86400)
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    other_id = slug["id"][:-1] + ("1" if slug["id"][-1] == "0" else "0")
    for bad in (_with_query(url, Signature=flipped), _with_query(url, Expires=later),
                _with_query(url, Signature=None), url.replace(slug["id"], other_id)):
        refused = requests.put(bad, data=b"abc", timeout=30)
        assert refused.status_code in (403, 404), bad
        assert refused.json()["id"] in ("forbidden", "not_found")
    assert raw_api.release("blobby", slug["id"]).status_code == 422  # nothing was stored


def test_a_put_url_cannot_be_used_to_get(raw_api):
    raw_api.create_app("blobby")
    slug = raw_api.uploaded_slug("blobby", b"secret slug")
    response = requests.get(slug["blob"]["url"], timeout=30)
    assert response.status_code == 403 and b"secret slug" not in response.content


def test_an_expired_url_is_refused(start_api_server, make_raw_api):
    # URLs from this server expire a minute before they are made.
    raw_api = make_raw_api(start_api_server(blob_ttl_s=-60))
    slug = _new_slug(raw_api)
    refused = requests.put(slug["blob"]["url"], data=b"abc", timeout=30)
    assert refused.status_code == 403 and "expired" in refused.json()["message"]


def test_put_without_content_length_is_411(raw_api):
    slug = _new_slug(raw_api)
    path = urlsplit(slug["blob"]["url"])
    status, body = _raw_request(raw_api.url, "PUT", f"{path.path}?{path.query}", {})
    assert status == 411
    chunked = requests.put(slug["blob"]["url"], data=iter([b"a", b"b"]), timeout=30)
    assert chunked.status_code == 411 and chunked.json()["id"] == "length_required"


@pytest.mark.parametrize("path", ["/blobs/../canary", "/blobs/%2e%2e/canary", "/blobs/..%2fcanary",
                                  "/blobs/%2e%2e%2fcanary", "/blobs/../api.sqlite3", "/blobs//etc/passwd"])
def test_no_path_escapes_the_blob_directory(raw_api, api_server, path):
    canary = b"canary bytes beside the blobs"
    (api_server.data_dir / "canary").write_bytes(canary)
    status, body = _raw_request(raw_api.url, "GET", path, {})
    assert status == 404
    assert canary not in body and b"SQLite format 3" not in body


def test_a_released_slug_cannot_be_overwritten(raw_api):
    raw_api.create_app("blobby")
    slug = raw_api.uploaded_slug("blobby", b"v1 bytes")
    raw_api.release("blobby", slug["id"])
    again = requests.put(slug["blob"]["url"], data=b"other bytes", timeout=30)
    assert again.status_code == 409
    info = raw_api("GET", f"/apps/blobby/slugs/{slug['id']}").json()
    assert requests.get(info["blob"]["url"], timeout=30).content == b"v1 bytes"


def test_an_upload_cut_short_keeps_the_earlier_blob_and_leaves_no_partial_file(raw_api, api_server):
    raw_api.create_app("blobby")
    slug = raw_api.uploaded_slug("blobby", b"good bytes")
    parts = urlsplit(slug["blob"]["url"])
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Content-Length: 1000\r\n\r\nonly a few bytes".encode())
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(4096)
    assert not answer.startswith(b"HTTP/1.1 200")  # the client hung up: nobody reads the 400
    info = raw_api("GET", f"/apps/blobby/slugs/{slug['id']}").json()
    assert requests.get(info["blob"]["url"], timeout=30).content == b"good bytes"
    assert raw_api.release("blobby", slug["id"]).status_code == 201
    assert not list((api_server.data_dir / "blobs").glob(".*.part"))


def test_head_on_a_signed_get_url_gives_the_size_without_the_bytes(raw_api):
    raw_api.create_app("blobby")
    slug = raw_api.uploaded_slug("blobby", b"twelve bytes")
    info = raw_api("GET", f"/apps/blobby/slugs/{slug['id']}").json()
    head = requests.head(info["blob"]["url"], timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == "12" and head.content == b""
    assert requests.head(slug["blob"]["url"], timeout=30).status_code == 403  # a PUT URL reads nothing


def test_a_start_removes_cut_off_uploads_but_not_one_another_worker_is_writing(start_api_server, tmp_path):
    blob_dir = tmp_path / "state" / "blobs"
    blob_dir.mkdir(parents=True)
    live, cut_off = blob_dir / ".a.tgz.1.part", blob_dir / ".b.tgz.2.part"
    live.write_bytes(b"being written")
    cut_off.write_bytes(b"left by a stop")
    two_hours_ago = time.time() - 7200
    os.utime(cut_off, (two_hours_ago, two_hours_ago))
    start_api_server(data_dir=tmp_path / "state")
    assert live.exists() and not cut_off.exists()
