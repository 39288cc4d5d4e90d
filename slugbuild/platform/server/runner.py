"""Running the app under uvicorn: on a socket bound here (so a taken port reads as one line), in this
process, on a thread (the tests), or in N worker processes sharing that socket (`serve --workers N`).
"""

from __future__ import annotations

import errno
import inspect
import json
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from slugbuild.errors import UsageError

FACTORY = "slugbuild.platform.server:from_environment"
MAX_HEAD_B = 64 << 10  # request line and headers; httptools itself sets no limit


def _bad_request(message: str) -> bytes:
    body = json.dumps({"id": "bad_request", "message": message}).encode()
    return (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class HerokuHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, refusing a request it cannot parse, or whose headers go on and on,
    with Heroku's error body."""

    _head_bytes = 0
    _in_head = False  # from a request's first byte to the end of its headers

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_B:
                self._refuse(f"The request line and headers are over {MAX_HEAD_B >> 10} KiB.")

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse("The request is not valid HTTP/1.1 (a malformed request line, header or "
                     "Content-Length).")

    def _refuse(self, message: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(_bad_request(message))
            self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one), or one line saying what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use; stop the other server or pass --port with a "
                             "free port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; pass another --host or "
                         "--port") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def config(app: Any, **options: Any) -> uvicorn.Config:
    """uvicorn as slugbuild runs it: Heroku's 400 body, no access log of its own (the app logs paths
    without their signed queries), no lifespan events, a keep-alive longer than a client's pause."""
    return uvicorn.Config(app, http=HerokuHttpProtocol, lifespan="off", access_log=False,
                          log_level="warning", server_header=False, timeout_keep_alive=30, **options)


class Stop:
    """The SIGINT/SIGTERM handler: asks the server to stop, whenever the signal comes.

    Before uvicorn has put its own handlers in place it remembers the request; then it passes it on.
    It never raises, so a signal cannot land as an exception in whatever code happens to run.
    """

    def __init__(self) -> None:
        self.requested = False
        self.server: uvicorn.Server | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True
        if self.server is not None:
            self.server.handle_exit(signum, frame)


def run(app: Any, sock: socket.socket, stop: Stop) -> None:
    """Serve `app` in this process until SIGINT or SIGTERM."""
    stop.server = uvicorn.Server(config(app))
    if not stop.requested:
        stop.server.run(sockets=[sock])


def run_workers(sock: socket.socket, workers: int, stop: Stop) -> None:
    """Serve `workers` processes, each making the app from the environment, until SIGINT or SIGTERM."""
    settings = config(FACTORY, factory=True, workers=workers)
    # uvicorn before 0.50 wanted each worker's target; later ones make it themselves. Either way the
    # supervisor takes over SIGINT and SIGTERM when it is made.
    if "target" in inspect.signature(Multiprocess).parameters:
        supervisor = Multiprocess(settings, target=uvicorn.Server(settings).run, sockets=[sock])
    else:
        supervisor = Multiprocess(settings, sockets=[sock])
    if not stop.requested:
        supervisor.run()


class ThreadedServer:
    """`app` served on a thread of this process, for tests; `stop()` ends it."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.url = url_of(sock)
        self._sock = sock
        self._server = uvicorn.Server(config(app))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
