"""The HTTP side: the API as a Starlette (ASGI) app, served by uvicorn; Heroku's headers, version and
credential checks, and the file store's blob route, streamed in both directions.

The endpoints themselves stay framework-free (handlers.py: Call -> Reply); this module only turns
requests into Calls and Replies and problems into responses. Run it under uvicorn directly with
`uvicorn --factory slugbuild.platform.server:from_environment` (see the README).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from slugbuild import SERVE_HEADER, __version__
from slugbuild.platform.server import account, handlers, problems
from slugbuild.platform.server.blobs import BlobStore, parse_id
from slugbuild.platform.server.database import Unavailable
from slugbuild.platform.server.problems import NO_ENDPOINT, ApiProblem
from slugbuild.platform.server.store import Gone

MAX_API_BODY_B = 1 << 20
MAX_SBOM_BODY_B = 32 << 20  # an SBOM lists every package: a large npm app's runs to megabytes
WRITE_B = 1 << 20  # blob bytes gathered before each write to disk
BODY_IDLE_S = 120.0  # a request body that sends nothing for this long is given up
RATE_LIMIT_REMAINING = str(account.RATE_LIMIT_REMAINING)
API_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_ACCEPT = re.compile(r"application/vnd\.heroku\+json\s*;\s*version=(?P<version>[\w.-]+)", re.IGNORECASE)
_REQUEST_ID = re.compile(r"^[\w.,-]{1,200}$")
_HOST = re.compile(r"^(?:[\w.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$", re.ASCII)
_LENGTH = re.compile(r"^[0-9]{1,18}$")

Log = Callable[[str], None]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Served:
    """What the app serves: the state and blobs, the key clients must send, where requests are logged."""

    backend: handlers.Backend
    api_key: str
    log: Log | None = None


def make_app(backend: handlers.Backend, api_key: str, log: Log | None = None) -> Starlette:
    """The whole API as one ASGI app; the blob route only when blobs pass through this server."""
    served = Served(backend, api_key, log)
    routes = []
    if backend.blobs.streams_through_server:
        routes.append(Route("/blobs/{slug_id}", _answered(served, _blob), methods=["GET", "PUT", "OPTIONS"]))
    routes.append(Route("/blobs/{rest:path}", _answered(served, _no_blob), methods=["GET", "PUT", "OPTIONS"]))
    routes.append(Route("/{path:path}", _answered(served, _api), methods=[*API_METHODS, "OPTIONS"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _routing_error})
    app.state.served = served
    return app


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, media_type="application/json")


def _answered(served: Served, endpoint: Callable[[Served, Request], Awaitable[Response]]) -> Endpoint:
    """`endpoint` with Heroku's headers on every answer and every failure answered in Heroku's shape."""

    async def answer(request: Request) -> Response:
        try:
            response = await endpoint(served, request)
        except ApiProblem as problem:
            # A body left unread (too big, stalled) leaves nothing to read the next request from.
            closing = {"Connection": "close"} if problem.status in (408, 413) else None
            response = _json_response(problem.status, problem.body(), closing)
        except Gone as gone:
            response = _json_response(404, problems.not_found(str(gone)).body())
        except Unavailable:
            response = _json_response(503, {"id": "service_unavailable", "message": (
                "The API's database cannot be reached; try again in a moment.")}, {"Retry-After": "5"})
        except ClientDisconnect:
            response = Response(status_code=400)  # nobody is left to read it
        except Exception:
            _report(served, traceback.format_exc().rstrip())
            response = _json_response(500, {"id": "internal_server_error", "message": (
                "The local API server failed; its log has the traceback.")})
        _stamp(request, response)
        if served.log is not None:  # the path only: blob URLs carry signatures in their query
            served.log(f"{request.method} {request.url.path} {response.status_code}")
        return response

    return answer


def _stamp(request: Request, response: Response) -> None:
    sent = request.headers.get("request-id", "")
    response.headers["Request-Id"] = sent if _REQUEST_ID.match(sent) else str(uuid.uuid4())
    response.headers["RateLimit-Remaining"] = RATE_LIMIT_REMAINING
    response.headers[SERVE_HEADER] = __version__  # clients send slugbuild's extensions (the SBOM) only here


def _report(served: Served, text: str) -> None:
    if served.log is not None:
        served.log(text)


async def _routing_error(request: Request, exc: Exception) -> Response:
    """A method no route takes (405) or a path none matches, answered as Heroku does."""
    response = _json_response(404, ApiProblem(404, "not_found", NO_ENDPOINT).body())
    _stamp(request, response)
    return response


# -- the API ---------------------------------------------------------------------------------------

async def _api(served: Served, request: Request) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    path = request.url.path
    if method == "OPTIONS":
        return _options(path)
    raw = await _api_body(request)
    _check_version(request)
    if not _is_authorized(request, served.api_key):
        raise problems.unauthorized()
    call = handlers.Call(served.backend, {}, _json(raw), request.headers.get("range"), _base_url(request),
                         dict(request.headers))
    reply = await run_in_threadpool(handlers.answer, method, path, call)
    if reply.status == 304:  # Not Modified carries no body
        return Response(status_code=304, headers=reply.headers)
    return _json_response(reply.status, reply.body, reply.headers)


def _options(path: str) -> Response:
    """Which methods the path takes (Allow), without credentials, as a CORS preflight needs."""
    allowed = [method for method in API_METHODS if handlers.route(method, path)]
    if not allowed:
        raise ApiProblem(404, "not_found", NO_ENDPOINT)
    methods = ", ".join([*allowed, *(["HEAD"] if "GET" in allowed else []), "OPTIONS"])
    return Response(status_code=204, headers={"Allow": methods})


def content_length(request: Request) -> int | None:
    """The declared body length; a 400 for anything but a plain number of bytes."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not _LENGTH.match(raw.strip()):
        raise ApiProblem(400, "bad_request", f"Content-Length {raw!r} is not a number of bytes.")
    return int(raw)


async def _api_body(request: Request) -> bytes:
    limit = MAX_SBOM_BODY_B if request.url.path.endswith("/sbom") else MAX_API_BODY_B
    too_big = ApiProblem(413, "request_entity_too_large", f"The request body is over {limit} bytes.")
    if (content_length(request) or 0) > limit:
        raise too_big
    body = bytearray()
    async for chunk in _chunks(request):
        body += chunk
        if len(body) > limit:  # a chunked body says no length up front
            raise too_big
    return bytes(body)


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a 408 (closing the connection) when it stalls for BODY_IDLE_S."""
    stream = request.stream().__aiter__()
    while True:
        try:
            yield await asyncio.wait_for(stream.__anext__(), BODY_IDLE_S)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiProblem(408, "request_timeout", f"The request body stalled for {BODY_IDLE_S:.0f} s; "
                                                     "send it again.") from None


def _check_version(request: Request) -> None:
    match = _ACCEPT.search(request.headers.get("accept", ""))
    if match is None:
        raise problems.missing_version()
    if match["version"].split(".")[0] != "3":
        raise ApiProblem(406, "not_acceptable",
                         "Set Accept: application/vnd.heroku+json; version=3 header and try again.")


def _is_authorized(request: Request, api_key: str) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        token = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    else:
        return False
    return hmac.compare_digest(token.encode(), api_key.encode())


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode()  # "\ud800" parses, but is no text to store
    except RecursionError:
        raise ApiProblem(400, "bad_request", "The request body nests too deeply to be read.") from None
    except UnicodeEncodeError:
        raise ApiProblem(400, "bad_request", "The request body has a lone surrogate (\\ud800-\\udfff), "
                                             "which is not text; send UTF-8.") from None
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: also a number of thousands of digits
        raise ApiProblem(400, "bad_request", f"The request body is not valid JSON: {exc}.") from None
    return body


def _base_url(request: Request) -> str:
    host = request.headers.get("host", "")
    if not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.url.scheme}://{host}"


# -- blobs -----------------------------------------------------------------------------------------

async def _no_blob(served: Served, request: Request) -> Response:
    raise ApiProblem(404, "not_found", "Couldn't find that blob.")


async def _blob(served: Served, request: Request) -> Response:
    slug_id = request.path_params["slug_id"]
    blobs = served.backend.blobs
    # Only a canonical UUID names a blob, so no path can reach outside the blob directory.
    if parse_id(slug_id) != slug_id or not isinstance(blobs, BlobStore):
        raise ApiProblem(404, "not_found", "Couldn't find that blob.")
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": "GET, HEAD, PUT, OPTIONS"})
    query = parse_qs(request.url.query)
    if request.method == "PUT":
        blobs.check("PUT", slug_id, query)
        return await _receive(served, request, blobs, slug_id)
    blobs.check("GET", slug_id, query)
    path = blobs.path(slug_id)
    if not path.is_file():
        raise ApiProblem(404, "not_found", "This slug's blob was never uploaded.")
    return FileResponse(path, media_type="application/octet-stream")


async def _receive(served: Served, request: Request, blobs: BlobStore, slug_id: str) -> Response:
    """Stream the body to a temporary file, then put it in place unless the slug was released meanwhile."""
    length = content_length(request)
    if length is None:
        raise ApiProblem(411, "length_required", "Send the slug with a Content-Length (not chunked).")
    store = served.backend.store
    if await run_in_threadpool(store.find_slug, slug_id) is None:
        raise ApiProblem(404, "not_found", "Couldn't find that slug.")
    if await run_in_threadpool(store.is_released, slug_id):
        raise _released(slug_id)
    partial = blobs.partial(slug_id)
    try:
        digest = await _write(request, partial.open("wb"))
        if digest[1] != length:
            raise ApiProblem(400, "bad_request", f"The upload ended after {digest[1]} of {length} bytes; "
                                                 "send the whole slug again.")
        outcome = await run_in_threadpool(store.finish_upload, slug_id, length, digest[0],
                                          lambda: blobs.place(partial, slug_id))
    finally:
        partial.unlink(missing_ok=True)
    if outcome == "gone":
        raise ApiProblem(404, "not_found", "Couldn't find that slug: its app was deleted during the upload.")
    if outcome == "released":
        raise _released(slug_id)
    return Response(status_code=200, headers={"ETag": f'"{digest[0]}"'})


def _released(slug_id: str) -> ApiProblem:
    return ApiProblem(409, "conflict", f"Slug {slug_id} is already released; create a new slug.")


async def _write(request: Request, out: BinaryIO) -> tuple[str, int]:
    """Copy the request body into `out` a megabyte at a time on a thread, receiving the next megabyte
    meanwhile; (sha256 hex, bytes)."""
    digest = hashlib.sha256()
    size = 0
    pending = bytearray()
    writing: asyncio.Future = asyncio.get_running_loop().create_future()
    writing.set_result(None)

    def flush(data: bytes) -> None:
        out.write(data)
        digest.update(data)

    with out:
        try:
            async for chunk in _chunks(request):
                pending += chunk
                size += len(chunk)
                if len(pending) >= WRITE_B:
                    await writing  # one write at a time, in order
                    writing = asyncio.ensure_future(run_in_threadpool(flush, bytes(pending)))
                    pending.clear()
            await writing
            await run_in_threadpool(flush, bytes(pending))
        finally:
            await asyncio.gather(writing, return_exceptions=True)  # never close the file under a write
    return digest.hexdigest(), size
