"""The Platform API client on the wire (pytest-httpserver on 127.0.0.1): headers, errors, ranges, retries."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from slugbuild.config import Sourced
from slugbuild.errors import ApiError
from slugbuild.platform.auth import Credentials
from slugbuild.platform.client import ApiUnreachable, PlatformClient, RetryPolicy, parse_retry_after

KEY = "key-that-must-stay-secret"
ACCEPT = "application/vnd.heroku+json; version=3"


class Sleeps(list):
    """Records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(url: str, sleeps: Sleeps, attempts: int = 4) -> PlatformClient:
    creds = Credentials(Sourced(url.rstrip("/"), "--api-url"), Sourced(KEY, "HEROKU_API_KEY"))
    return PlatformClient(creds, policy=RetryPolicy(attempts=attempts, sleep=sleeps))


@pytest.fixture
def client(server: HTTPServer, sleeps: Sleeps) -> Iterator[PlatformClient]:
    with make_client(server.url_for("/"), sleeps) as api:
        yield api


def error(status: int, error_id: str, message: str, **headers: str) -> Response:
    return Response(json.dumps({"id": error_id, "message": message}), status, headers,
                    content_type="application/json")


def replies(*responses: Response) -> tuple[list[Request], object]:
    """A handler answering with `responses` in turn, and the list of requests it saw."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return seen, handler


def test_every_request_sends_accept_user_agent_request_id_and_bearer(server, client, tmp_path, monkeypatch):
    # A netrc entry for the same host must not replace the explicit key.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login me password netrc-password\n")
    monkeypatch.setenv("NETRC", str(netrc))
    seen, handler = replies(Response("[]", 200, content_type="application/json"))
    server.expect_request("/apps").respond_with_handler(handler)
    client.get("/apps")
    client.get("/apps")
    ids = [request.headers["Request-Id"] for request in seen]
    for request in seen:
        assert request.headers["Accept"] == ACCEPT
        assert request.headers["User-Agent"].startswith("slugbuild/")
        assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert len(set(ids)) == 2 and all(uuid.UUID(i) for i in ids)


def test_a_json_body_is_sent_as_json(server, client):
    server.expect_request("/apps", method="POST", json={"name": "demo-app"}).respond_with_json(
        {"name": "demo-app"}, status=201)
    assert client.post("/apps", {"name": "demo-app"}) == {"name": "demo-app"}


@pytest.mark.parametrize(("status", "error_id", "message", "fix"), [
    (401, "unauthorized", "Invalid credentials provided.", "the API key from HEROKU_API_KEY was refused"),
    (403, "forbidden", "You do not have access to the app demo.", "use a key with access"),
    (404, "not_found", "Couldn't find that app.", "check the name (`slugbuild apps list`"),
    (422, "invalid_params", "Name is already taken", "change the value the message names"),
])
def test_api_errors_end_as_one_line_with_the_api_message_and_a_fix(server, client, status, error_id,
                                                                     message, fix):
    server.expect_request("/apps/demo").respond_with_response(error(status, error_id, message))
    with pytest.raises(ApiError) as caught:
        client.get("/apps/demo")
    text = str(caught.value)
    assert text.startswith(f"{message} ({status} {error_id}): ")
    assert fix in text and "\n" not in text and KEY not in text
    assert caught.value.status == status


def test_missing_version_error_uses_the_error_field(server, client):
    body = {"id": "missing_version", "error": "Please specify a version along with Heroku's API MIME type.\n"}
    server.expect_request("/apps").respond_with_json(body, status=400)
    with pytest.raises(ApiError, match=r"^Please specify a version .* \(400 missing_version\)$"):
        client.get("/apps")


def test_a_non_json_error_body_still_gives_one_line(server, client):
    server.expect_request("/apps").respond_with_data("<html>teapot</html>", status=418)
    with pytest.raises(ApiError, match=r"\(418 unknown\)$"):
        client.get("/apps")


def test_a_success_that_is_not_json_says_the_url_is_not_the_api(server, client):
    server.expect_request("/apps").respond_with_data("<html>hello</html>", status=200)
    with pytest.raises(ApiUnreachable, match="answered GET /apps with 200 but not JSON"):
        client.get("/apps")


def test_429_is_retried_even_for_post_after_the_retry_after_it_names(server, client, sleeps):
    seen, handler = replies(error(429, "rate_limit", "Your account reached the API rate limit", **{
        "Retry-After": "7"}), Response('{"id": "r"}', 201, content_type="application/json"))
    server.expect_request("/apps/demo/releases", method="POST").respond_with_handler(handler)
    assert client.post("/apps/demo/releases", {"slug": "s"}) == {"id": "r"}
    assert len(seen) == 2 and sleeps == [7.0]


def test_get_is_retried_on_5xx_with_growing_jittered_backoff(server, client, sleeps):
    seen, handler = replies(error(503, "unavailable", "down"), error(502, "bad_gateway", "down"),
                            Response("{}", 200, content_type="application/json"))
    server.expect_request("/apps/demo").respond_with_handler(handler)
    assert client.get("/apps/demo") == {}
    assert len(seen) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_post_is_not_retried_on_5xx_because_the_server_may_have_acted(server, client, sleeps):
    seen, handler = replies(error(500, "internal_server_error", "Internal server error."))
    server.expect_request("/apps/demo/releases", method="POST").respond_with_handler(handler)
    with pytest.raises(ApiError, match=r"\(500 internal_server_error\): .* failed; a POST is not repeated"):
        client.post("/apps/demo/releases", {"slug": "s"})
    assert len(seen) == 1 and sleeps == []


def test_retries_stop_after_the_last_attempt_and_report_the_last_answer(server, client, sleeps):
    seen, handler = replies(error(503, "unavailable", "Service unavailable."))
    server.expect_request("/apps").respond_with_handler(handler)
    with pytest.raises(ApiError, match=r"^Service unavailable\. \(503 unavailable\)"):
        client.get("/apps")
    assert len(seen) == 4 and len(sleeps) == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_post_that_never_connected_is_retried_then_reported_as_unreachable(sleeps):
    with make_client(f"http://127.0.0.1:{free_port()}", sleeps) as api, \
            pytest.raises(ApiUnreachable, match=r"cannot reach the Platform API at http://127\.0\.0\.1:\d+ "
                                                r"\(--api-url\): Connection refused; check --api-url"):
        api.post("/apps", {"name": "x"})
    assert len(sleeps) == 3


@pytest.fixture
def hang_up() -> Iterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 that reads each request and closes the connection without an answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(30)  # a client that connects and sends nothing must not hang teardown's join
                received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
    listener.close()
    thread.join()


def test_a_post_that_got_no_answer_is_not_repeated_and_may_have_taken_effect(hang_up, sleeps):
    url, received = hang_up
    expected = r"did not answer POST /apps/demo/releases \(.*\); it may have taken effect"
    with make_client(url, sleeps) as api, pytest.raises(ApiUnreachable, match=expected):
        api.post("/apps/demo/releases", {"slug": "s"})
    assert len(received) == 1 and sleeps == []


def test_a_get_that_got_no_answer_is_repeated(hang_up, sleeps):
    url, received = hang_up
    with make_client(url, sleeps) as api, pytest.raises(ApiUnreachable, match="cannot reach the Platform"):
        api.get("/apps")
    assert len(received) == 4 and len(sleeps) == 3


def test_lists_follow_next_range_until_the_last_page(server, client):
    first, second, third = (f"version {start}..; order=desc, max=2" for start in ("", "]4", "]2"))
    pages = {first: ([{"version": 5}, {"version": 4}], second),
             second: ([{"version": 3}, {"version": 2}], third),
             third: ([{"version": 1}], None)}
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.headers["Range"])
        items, next_range = pages[request.headers["Range"]]
        headers = {"Next-Range": next_range} if next_range else {}
        status = 206 if next_range else 200
        return Response(json.dumps(items), status, headers, content_type="application/json")

    server.expect_request("/apps/demo/releases").respond_with_handler(handler)
    versions = [r["version"] for r in client.pages("/apps/demo/releases", "version ..; order=desc, max=2")]
    assert versions == [5, 4, 3, 2, 1]
    assert seen == list(pages)


def test_the_key_is_not_in_the_clients_repr(client):
    assert KEY not in repr(client) and KEY not in repr(client.session.auth)


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), (None, None), ("soon", None),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_is_read_as_seconds_or_a_date(header, seconds):
    assert parse_retry_after(header) == seconds


def test_the_sbom_goes_only_to_a_server_that_says_it_keeps_one(server, client, tmp_path):
    from slugbuild import SERVE_HEADER
    from slugbuild.log import RecordingLog
    from slugbuild.platform.release import SlugFile, release_slug

    slug_path, sbom_path = tmp_path / "slug.tgz", tmp_path / "slug.tgz.cdx.json"
    slug_path.write_bytes(b"slug")
    describing = {"component": {"hashes": [{"alg": "SHA-256", "content": "0" * 64}]}}  # this slug's
    sbom_path.write_text(json.dumps({"bomFormat": "CycloneDX", "metadata": describing}))
    slug = SlugFile(slug_path, {"web": "x"}, "SHA256:" + "0" * 64, sbom=sbom_path)
    blob = {"method": "put", "url": server.url_for("/blob")}
    sent: list[str] = []

    def record(request: Request) -> Response:
        sent.append(f"{request.method} {request.path}")
        return Response("{}", 200, content_type="application/json")

    for extra in ({}, {SERVE_HEADER: "0.1.0"}):  # Heroku first, then slugbuild serve
        sent.clear()
        server.clear()
        server.expect_request("/apps/demo/slugs", method="POST").respond_with_json(
            {"id": "s1", "blob": blob}, status=201, headers=extra)
        server.expect_request("/blob", method="PUT").respond_with_data("")
        server.expect_request("/apps/demo/slugs/s1/sbom", method="PUT").respond_with_handler(record)
        server.expect_request("/apps/demo/releases", method="POST").respond_with_json(
            {"id": "r1", "version": 1, "slug": {"id": "s1"}}, status=201)
        release_slug(client, "demo", slug, None, RecordingLog())
        assert sent == ([] if not extra else ["PUT /apps/demo/slugs/s1/sbom"])
