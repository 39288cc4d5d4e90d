"""The TCP port a command listens on or hands a process: a real port number, and free before we start."""

from __future__ import annotations

import errno
import socket

from slugbuild.errors import UsageError


def check(port: int | None) -> None:
    """A UsageError unless `port` (from --port) is a TCP port number; 0 picks a free one."""
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port; give one from 1 to 65535 (0 picks a free one)")


def check_free(host: str, port: int) -> None:
    """A UsageError when nothing could listen on host:port now (taken, or an address not ours)."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use; stop the other server or pass --port with a "
                             "free port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; pass another --host or "
                         "--port") from None
