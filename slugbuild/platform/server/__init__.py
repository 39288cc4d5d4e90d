"""The local Heroku-compatible Platform API behind `slugbuild serve`.

State lives in SQLite (`DATA_DIR/api.sqlite3`) and slug blobs in files beside it (`DATA_DIR/blobs/`), so a
restart loses nothing. This package never imports the client: the two share only the wire.
"""

from __future__ import annotations

import errno
import shlex
import signal
import sqlite3
from pathlib import Path

import platformdirs

from slugbuild.errors import UsageError
from slugbuild.log import BuildLog
from slugbuild.platform.server import keys
from slugbuild.platform.server.blobs import DEFAULT_TTL_S, BlobStore
from slugbuild.platform.server.handlers import Backend
from slugbuild.platform.server.httpd import ApiServer
from slugbuild.platform.server.store import Store

STATE_FILE = "api.sqlite3"
BLOB_DIR = "blobs"

__all__ = ["ApiServer", "default_data_dir", "open_server", "serve"]


def default_data_dir() -> Path:
    """The user data directory, where `serve` keeps its state without --data-dir."""
    return Path(platformdirs.user_data_dir("slugbuild"))


def _open_store(path: Path) -> Store:
    try:
        return Store(path)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} is not a slugbuild state database ({exc}); move it away or use another "
                         "--data-dir") from None


def _unwritable(data_dir: Path, exc: OSError) -> UsageError:
    return UsageError(f"data directory {data_dir}: {exc.strerror}; pass --data-dir with a writable directory")


def _bind(host: str, port: int, backend: Backend, key: str, log: BuildLog | None) -> ApiServer:
    try:
        return ApiServer((host, port), backend, key, log)
    except OSError as exc:
        backend.store.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use; stop the other server or pass --port with a "
                             "free port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; pass another --host or "
                         "--port") from None


def open_server(host: str, port: int, data_dir: Path, key: str, *, log: BuildLog | None = None,
                blob_ttl_s: int = DEFAULT_TTL_S) -> ApiServer:
    """A bound, not yet serving, API server keeping its state in `data_dir` (port 0 picks a free one)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        blobs = BlobStore(data_dir / BLOB_DIR, keys.blob_secret(data_dir), blob_ttl_s)
    except OSError as exc:
        raise _unwritable(data_dir, exc) from None
    return _bind(host, port, Backend(_open_store(data_dir / STATE_FILE), blobs), key, log)


def _show_how_to_connect(server: ApiServer, key: keys.ApiKey, data_dir: Path, log: BuildLog) -> None:
    if key.source == "--key":
        key_line = "export HEROKU_API_KEY=...   # the key given with --key"
    elif key.source == keys.KEY_ENV:
        key_line = f'export HEROKU_API_KEY="${keys.KEY_ENV}"'
    else:
        key_line = f'export HEROKU_API_KEY="$(cat {shlex.quote(key.source)})"'
    log.step(f"Platform API listening on {server.url}")
    log.info(f"State in {data_dir}")
    log.info("Point slugbuild at it:")
    log.info(f"  export SLUGBUILD_API_URL={server.url}")
    log.info(f"  {key_line}")
    log.info("Press Ctrl-C to stop.")


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(host: str, port: int, data_dir: str | None, key: str | None, log: BuildLog) -> None:
    """Run the API until Ctrl-C; prints where it listens and how to point slugbuild at it, never the key."""
    root = (Path(data_dir).expanduser() if data_dir else default_data_dir()).absolute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(root, exc) from None
    api_key = keys.api_key(key, root)
    server = open_server(host, port, root, api_key.value, log=log)
    _show_how_to_connect(server, api_key, root, log)
    # Set both explicitly: a background job of a non-interactive shell starts with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_on_signal)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.step("Stopped")
    finally:
        server.server_close()
