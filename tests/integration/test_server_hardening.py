"""Odd and hostile input to the server: never a 500, and no race reaches a released or deleted slug's blob."""

from __future__ import annotations

import contextlib
import json
import socket
import stat
from urllib.parse import urlsplit

import pytest
import requests
import services

# Arabic-Indic, superscript and full-width digits: str.isdigit() says yes to each.
NON_ASCII_DIGITS = ["١٢", "²", "１２"]
HUGE = "9" * 5000  # past int()'s 4300-digit limit


def _wire(text: str) -> bytes:
    """A header value as bytes: latin-1 where it can be (as servers read headers), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def _assert_heroku_error(response: requests.Response, statuses: tuple[int, ...]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"id", "message"}, body


@pytest.mark.parametrize("value", [*NON_ASCII_DIGITS, HUGE, "-1", "1e3"])
def test_odd_release_ids_and_versions_are_404_not_500(raw_api, value):
    raw_api.create_app("oddity")
    _assert_heroku_error(raw_api("GET", f"/apps/oddity/releases/{value}"), (404,))


@pytest.mark.parametrize("header", [f"version ..; max={d}" for d in [*NON_ASCII_DIGITS, HUGE]] +
                         [f"version {d}..; max=10" for d in [*NON_ASCII_DIGITS, HUGE]])
def test_odd_numbers_in_range_are_416_not_500(raw_api, header):
    raw_api.create_app("oddity")
    _assert_heroku_error(raw_api("GET", "/apps/oddity/releases", headers={"Range": _wire(header)}), (416,))


@services.FILE_STORE
@pytest.mark.parametrize("expires", [*NON_ASCII_DIGITS, HUGE, "-5"])
def test_odd_numbers_in_expires_are_403_not_500(raw_api, expires):
    raw_api.create_app("oddity")
    slug = raw_api("POST", "/apps/oddity/slugs", json={"process_types": {"web": "x"}}).json()
    parts = urlsplit(slug["blob"]["url"])
    query = "&".join(part if not part.startswith("Expires=") else f"Expires={expires}"
                     for part in parts.query.split("&"))
    _assert_heroku_error(requests.put(parts._replace(query=query).geturl(), data=b"x", timeout=30), (403,))


@pytest.mark.parametrize("length", [*NON_ASCII_DIGITS, "99999999999999999999999999999", "1 2", "-1"])
def test_odd_content_lengths_are_400_with_heroku_body(raw_api, length):
    parts = urlsplit(raw_api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"POST /apps HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: ".encode() +
                     _wire(length) + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert json.loads(body)["id"] == "bad_request"


@pytest.mark.parametrize("body, status", [
    (b'{"name": "' + b"x" * (2 << 20) + b'"}', 413),
    (b"[" * 1_000_000 + b"]" * 1_000_000, 413),
    (b"[" * 50_000 + b"]" * 50_000, 400),
    (b'{"name": ' + b"9" * 5000 + b"}", 400),
])
def test_oversized_deep_or_huge_json_is_a_4xx(raw_api, body, status):
    _assert_heroku_error(raw_api("POST", "/apps", data=body), (status,))


def test_a_chunked_api_body_over_the_limit_is_413(raw_api):
    chunks = iter([b'{"name": "'] + [b"x" * 65536] * 20 + [b'"}'])
    _assert_heroku_error(raw_api("POST", "/apps", data=chunks), (413,))


class SlowUpload:
    """A PUT whose body is sent in two halves, so something can happen between them."""

    def __init__(self, url: str, data: bytes) -> None:
        self.parts, self.data = urlsplit(url), data
        self.sock = socket.create_connection((self.parts.hostname, self.parts.port), timeout=30)
        head = (f"PUT {self.parts.path}?{self.parts.query} HTTP/1.1\r\nHost: {self.parts.netloc}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n")
        self.sock.sendall(head.encode() + data[:len(data) // 2])

    def finish(self) -> int:
        self.sock.sendall(self.data[len(self.data) // 2:])
        answer = self.sock.recv(4096)
        self.sock.close()
        return int(answer.split(b" ", 2)[1])


@services.FILE_STORE
def test_a_put_that_finishes_after_the_release_cannot_replace_the_released_blob(raw_api):
    raw_api.create_app("racer")
    slug = raw_api.uploaded_slug("racer", b"the released bytes")
    late = SlowUpload(slug["blob"]["url"], b"other bytes " * 100_000)
    assert raw_api.release("racer", slug["id"]).status_code == 201
    assert late.finish() == 409
    info = raw_api("GET", f"/apps/racer/slugs/{slug['id']}").json()
    assert requests.get(info["blob"]["url"], timeout=30).content == b"the released bytes"


@services.FILE_STORE
def test_a_blob_uploaded_while_its_app_is_destroyed_is_not_kept(raw_api, api_server):
    raw_api.create_app("doomed")
    slug = raw_api("POST", "/apps/doomed/slugs", json={"process_types": {"web": "x"}}).json()
    late = SlowUpload(slug["blob"]["url"], b"orphan bytes " * 100_000)
    assert raw_api("DELETE", "/apps/doomed").status_code == 200
    assert late.finish() == 404
    assert list((api_server.data_dir / "blobs").iterdir()) == []


@services.FILE_STORE
def test_the_state_file_is_private_even_when_an_older_slugbuild_left_it_readable(start_api_server, tmp_path):
    state = tmp_path / "old" / "api.sqlite3"
    state.parent.mkdir()
    state.touch(mode=0o644)
    start_api_server(data_dir=state.parent).stop()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


@pytest.mark.parametrize("path", ["/apps", "/apps/headed", "/apps/headed/releases",
                                  "/apps/headed/config-vars"])
def test_head_answers_every_get_path_with_its_headers_and_no_body(raw_api, path):
    raw_api.create_app("headed")
    got, head = raw_api("GET", path), raw_api("HEAD", path)
    assert head.status_code == got.status_code == 200
    assert head.content == b"" and head.headers["Content-Length"] == got.headers["Content-Length"]


def test_options_lists_the_methods_of_a_path_and_404s_an_unknown_one(raw_api, api_server):
    allowed = requests.options(f"{api_server.url}/apps/any-app/releases", timeout=30)
    assert allowed.status_code == 204
    assert set(allowed.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    _assert_heroku_error(requests.options(f"{api_server.url}/nowhere", timeout=30), (404,))


def test_headers_that_go_on_and_on_are_refused_with_heroku_body(raw_api):
    parts = urlsplit(raw_api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET /apps HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Long: ".encode())
        with contextlib.suppress(OSError):  # the server hangs up once it has seen enough
            for _ in range(64):
                sock.sendall(b"a" * 65536)
        answer = sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["id"] == "bad_request"
    assert raw_api("GET", "/apps").status_code == 200  # and it still serves everyone else


@pytest.mark.parametrize("backend", services.BACKENDS, indirect=True)
@pytest.mark.parametrize("text", ["a\\u0000b", "\\ud800", "\\udfff tail"])
def test_text_no_database_can_store_is_a_4xx_never_a_500(raw_api, text):
    raw_api.create_app("texty")
    body = f'{{"process_types": {{"web": "x"}}, "commit": "{text}"}}'.encode()
    _assert_heroku_error(raw_api("POST", "/apps/texty/slugs", data=body), (400, 422))
    body = f'{{"name": "{text}"}}'.encode()
    _assert_heroku_error(raw_api("POST", "/apps", data=body), (400, 422))
    body = f'{{"K": "{text}", "DESCRIPTION": "{text}"}}'.encode()
    changed = raw_api("PATCH", "/apps/texty/config-vars", data=body)
    assert changed.status_code in (200, 400), changed.text
    if changed.status_code == 200:  # a NUL in a value is kept, and read back as sent
        assert raw_api("GET", "/apps/texty/config-vars").json()["K"] == json.loads(f'"{text}"')


@services.FILE_STORE
def test_an_upload_that_stalls_is_given_up_with_408_and_leaves_no_file(raw_api, api_server, monkeypatch):
    from slugbuild.platform.server import app

    monkeypatch.setattr(app, "BODY_IDLE_S", 0.5)
    raw_api.create_app("stalled")
    slug = raw_api("POST", "/apps/stalled/slugs", json={"process_types": {"web": "x"}}).json()
    stalled = SlowUpload(slug["blob"]["url"], b"never finished " * 10_000)
    answer = stalled.sock.recv(4096)  # no second half: the server gives up first
    stalled.sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
    assert list((api_server.data_dir / "blobs").iterdir()) == []
