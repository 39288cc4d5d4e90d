"""The HTTP side: a threading server, Heroku's headers, version and credential checks, blob streaming."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from slugbuild.log import BuildLog
from slugbuild.platform.server import account, handlers
from slugbuild.platform.server.blobs import parse_id
from slugbuild.platform.server.problems import ApiProblem, missing_version, unauthorized

MAX_API_BODY_B = 1 << 20
_ACCEPT = re.compile(r"application/vnd\.heroku\+json\s*;\s*version=(?P<version>[\w.-]+)", re.IGNORECASE)
_REQUEST_ID = re.compile(r"^[\w.,-]{1,200}$")
_HOST = re.compile(r"^(?:[\w.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$")


class ApiServer(ThreadingHTTPServer):
    """The local Platform API on one address; `url` is where clients reach it."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 resets connections when 20 clients arrive at once

    def __init__(self, address: tuple[str, int], backend: handlers.Backend, key: str,
                 log: BuildLog | None = None) -> None:
        self.backend, self.api_key, self.log = backend, key, log
        super().__init__(address, ApiRequestHandler)

    def server_close(self) -> None:
        super().server_close()
        self.backend.store.close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def report(self, text: str) -> None:
        """Show a server-side failure: in the log when there is one, else on stderr."""
        if self.log is not None:
            self.log.error(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is not the server's fault; anything else is a bug to show.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            self.report(traceback.format_exc().rstrip())


class ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms between them
    timeout = 120
    server: ApiServer

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        self.request_id = self._request_id()
        try:
            if path.startswith("/blobs/"):
                self._blob(path.removeprefix("/blobs/"), parse_qs(parts.query))
            else:
                self._api(path)
        except ApiProblem as problem:
            self._send_json(problem.status, problem.body())
        except Exception:
            self.server.report(traceback.format_exc().rstrip())
            self.close_connection = True
            self._send_json(500, {"id": "internal_server_error",
                                  "message": "The local API server failed; its log has the traceback."})

    # -- the API ---------------------------------------------------------------------------------

    def _api(self, path: str) -> None:
        raw = self._api_body()
        self._check_version()
        if not self._is_authorized():
            raise unauthorized()
        call = handlers.Call(self.server.backend, {}, self._json(raw), self.headers.get("Range"),
                             self._base_url(), handlers.Headers(dict(self.headers.items())))
        reply = handlers.answer(self.command, path, call)
        if reply.status == 304:  # Not Modified has no body
            self._start(304, reply.headers)
            return
        self._send_json(reply.status, reply.body, reply.headers)

    def _api_body(self) -> bytes:
        if self._is_chunked():
            self.close_connection = True
            raise ApiProblem(411, "length_required", "Send the request body with a Content-Length.")
        length = self._content_length() or 0
        if length > MAX_API_BODY_B:
            self.close_connection = True
            raise ApiProblem(413, "request_entity_too_large",
                             f"The request body is over {MAX_API_BODY_B} bytes.")
        return self.rfile.read(length) if length else b""

    def _check_version(self) -> None:
        match = _ACCEPT.search(self.headers.get("Accept", ""))
        if match is None:
            raise missing_version()
        if match["version"].split(".")[0] != "3":
            raise ApiProblem(406, "not_acceptable",
                             "Set Accept: application/vnd.heroku+json; version=3 header and try again.")

    def _is_authorized(self) -> bool:
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer":
            token = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return False
        else:
            return False
        return hmac.compare_digest(token.encode(), self.server.api_key.encode())

    @staticmethod
    def _json(raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiProblem(400, "bad_request", f"The request body is not valid JSON: {exc}.") from None

    # -- blobs -----------------------------------------------------------------------------------

    def _blob(self, slug_id: str, query: dict[str, list[str]]) -> None:
        # Only a canonical UUID names a blob, so no path can reach outside the blob directory.
        if parse_id(slug_id) != slug_id or self.command not in ("GET", "PUT"):
            self.close_connection = True
            raise ApiProblem(404, "not_found", "Couldn't find that blob.")
        backend = self.server.backend
        if self.command == "GET":
            backend.blobs.check("GET", slug_id, query)
            self._send_blob(slug_id)
            return
        client_closes = self.close_connection
        self.close_connection = True  # a refusal leaves the body unread, so the connection can't be reused
        backend.blobs.check("PUT", slug_id, query)
        digest = self._receive(slug_id)
        self.close_connection = client_closes
        self._start(200, {"ETag": f'"{digest}"', "Content-Length": "0"})

    def _receive(self, slug_id: str) -> str:
        """Store the request body as the slug's blob; returns its sha256 hex digest."""
        length = self._content_length()
        if length is None or self._is_chunked():
            raise ApiProblem(411, "length_required", "Send the slug with a Content-Length (not chunked).")
        store = self.server.backend.store
        if store.find_slug(slug_id) is None:
            raise ApiProblem(404, "not_found", "Couldn't find that slug.")
        if store.is_released(slug_id):
            raise ApiProblem(409, "conflict", f"Slug {slug_id} is already released; create a new slug.")
        digest = self.server.backend.blobs.receive(slug_id, self.rfile, length)
        store.record_upload(slug_id, length, digest)
        return digest

    def _send_blob(self, slug_id: str) -> None:
        blob = self.server.backend.blobs.open(slug_id)
        if blob is None:
            raise ApiProblem(404, "not_found", "This slug's blob was never uploaded.")
        with blob:
            size = os.fstat(blob.fileno()).st_size
            self._start(200, {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
            self.wfile.flush()
            self.connection.sendfile(blob)

    # -- the wire --------------------------------------------------------------------------------

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        if not raw.strip().isdigit():
            self.close_connection = True
            raise ApiProblem(400, "bad_request", f"Content-Length {raw!r} is not a number of bytes.")
        return int(raw)

    def _is_chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _request_id(self) -> str:
        sent = self.headers.get("Request-Id", "")
        return sent if _REQUEST_ID.match(sent) else str(uuid.uuid4())

    def _base_url(self) -> str:
        host = self.headers.get("Host", "")
        return f"http://{host}" if _HOST.match(host) else self.server.url

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Request-Id", self.request_id)
        self.send_header("RateLimit-Remaining", str(account.RATE_LIMIT_REMAINING))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._start(status, {**(headers or {}), "Content-Type": "application/json",
                             "Content-Length": str(len(data))})
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: blob URLs carry signatures in their query.
        if self.server.log is not None:
            self.server.log.info(f"{self.command} {urlsplit(self.path).path} {code}")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log.info(format % args)
