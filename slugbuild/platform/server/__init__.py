"""The local Heroku-compatible Platform API behind `slugbuild serve`.

State lives in SQLite (`DATA_DIR/api.sqlite3`) or PostgreSQL (`--database`), slug blobs in files
(`DATA_DIR/blobs/`) or an S3-compatible store (`--blob-store`); a restart loses nothing, and replicas
share nothing but the database and the store. This package never imports the client: the two share only
the wire.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from starlette.applications import Starlette

from slugbuild.errors import UsageError
from slugbuild.log import BuildLog
from slugbuild.platform.server import database, keys, runner, s3
from slugbuild.platform.server.app import make_app
from slugbuild.platform.server.blobs import DEFAULT_TTL_S, Blobs, BlobStore, sweep_removals
from slugbuild.platform.server.handlers import Backend
from slugbuild.platform.server.migrations import SchemaTooNew
from slugbuild.platform.server.store import Store

STATE_FILE = "api.sqlite3"
BLOB_DIR = "blobs"
DATA_DIR_ENV = "SLUGBUILD_SERVE_DATA_DIR"
INDENT = " " * 7

__all__ = ["LocalServer", "ServeOptions", "default_data_dir", "from_environment", "open_server", "serve"]


def default_data_dir() -> Path:
    """The user data directory, where `serve` keeps its state without --data-dir."""
    return Path(platformdirs.user_data_dir("slugbuild"))


@dataclass(frozen=True)
class ServeOptions:
    """Where the server keeps things: the data dir always; a database URL and a blob store when given."""

    data_dir: Path
    database: str | None = None  # postgresql://...; None keeps SQLite in data_dir
    blob_store: str | None = None  # s3://BUCKET/PREFIX; None keeps files in data_dir
    blob_ttl_s: int = DEFAULT_TTL_S

    @classmethod
    def from_environment(cls, data_dir: str | None = None, **given: str | None) -> ServeOptions:
        """Flags (`given`) over SLUGBUILD_DATABASE_URL / SLUGBUILD_BLOB_STORE / SLUGBUILD_SERVE_DATA_DIR."""
        root = data_dir or os.environ.get(DATA_DIR_ENV)
        path = (Path(root).expanduser() if root else default_data_dir()).absolute()
        db = given.get("database") or os.environ.get(database.DATABASE_ENV) or None
        store = given.get("blob_store") or os.environ.get(s3.BLOB_STORE_ENV) or None
        return cls(path, db, store)


def _unwritable(data_dir: Path, exc: OSError) -> UsageError:
    return UsageError(f"data directory {data_dir}: {exc.strerror}; pass --data-dir with a writable directory")


def _open_database(options: ServeOptions) -> database.Database:
    if options.database is None:
        path = options.data_dir / STATE_FILE
        try:
            return database.SqliteDatabase(path)
        except OSError as exc:
            raise _unwritable(options.data_dir, exc) from None
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{path} is not a slugbuild state database ({exc}); move it away or use another "
                             "--data-dir") from None
    if not database.is_url(options.database):
        raise UsageError(f"{database.SETTING} {database.redacted(options.database)!r} is not a "
                         "postgresql://USER:PASSWORD@HOST:PORT/DB URL")
    try:
        return database.PostgresDatabase(options.database)
    except database.Unavailable as exc:
        raise UsageError(f"cannot use the database {database.redacted(options.database)}: {exc}; check "
                         f"{database.SETTING}") from None


def _open_store(options: ServeOptions) -> Store:
    db = _open_database(options)
    try:
        return Store(db)
    except SchemaTooNew as exc:
        db.close()
        raise UsageError(f"the database {db.describe} has {exc}; upgrade slugbuild, or point "
                         f"{database.SETTING if options.database else '--data-dir'} elsewhere") from None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise UsageError(f"{db.describe} is not a slugbuild state database ({exc}); move it away or use "
                         "another --data-dir") from None
    except database.Unavailable as exc:
        db.close()
        raise UsageError(f"cannot use the database {db.describe}: {exc}; check {database.SETTING}") from None


def _open_blobs(options: ServeOptions, store: Store) -> Blobs:
    if options.blob_store is not None:
        if not s3.is_url(options.blob_store):
            raise UsageError(f"{s3.SETTING} {options.blob_store!r} is not s3://BUCKET[/PREFIX]")
        return s3.S3Blobs(options.blob_store, options.blob_ttl_s)
    try:
        return BlobStore(options.data_dir / BLOB_DIR, store.blob_secret, options.blob_ttl_s)
    except OSError as exc:
        raise _unwritable(options.data_dir, exc) from None


def open_backend(options: ServeOptions) -> Backend:
    """The state and the blobs, checked: a setting that cannot work is one UsageError line naming it."""
    try:
        options.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(options.data_dir, exc) from None
    store = _open_store(options)
    try:
        blobs = _open_blobs(options, store)
        sweep_removals(store, blobs)
    except BaseException:
        store.close()
        raise
    return Backend(store, blobs)


class LocalServer:
    """The API served on a thread of this process, as the tests run it; `stop()` also closes the state."""

    def __init__(self, backend: Backend, key: str, host: str, port: int, log: BuildLog | None) -> None:
        self.backend = backend
        sock = runner.bind(host, port)
        self._threaded = runner.ThreadedServer(make_app(backend, key, log.info if log else None), sock)
        self.url = self._threaded.url

    def stop(self) -> None:
        self._threaded.stop()
        self.backend.store.close()


def open_server(host: str, port: int, options: ServeOptions, key: str, *,
                log: BuildLog | None = None) -> LocalServer:
    """A running API server on a thread (port 0 picks a free one); the tests' and embedders' entry."""
    backend = open_backend(options)
    try:
        return LocalServer(backend, key, host, port, log)
    except BaseException:
        backend.store.close()
        raise


def from_environment() -> Starlette:
    """The app as a worker process (or `uvicorn --factory`) makes it: every setting from the environment."""
    try:
        options = ServeOptions.from_environment()
        backend = open_backend(options)
        key = keys.api_key(None, options.data_dir, store=backend.store if options.database else None)
    except UsageError as exc:
        raise SystemExit(f"slugbuild: {exc}") from None  # one line, from uvicorn's workers too
    return make_app(backend, key.value, lambda text: print(INDENT + text, flush=True))


def _show_how_to_connect(url: str, key: keys.ApiKey, options: ServeOptions, workers: int,
                         log: BuildLog) -> None:
    if key.source == "--key":
        key_line = "export HEROKU_API_KEY=...   # the key given with --key"
    elif key.source == keys.KEY_ENV:
        key_line = f'export HEROKU_API_KEY="${keys.KEY_ENV}"'
    else:
        key_line = f'export HEROKU_API_KEY="$(cat {shlex.quote(str(key.path))})"'
    log.step(f"Platform API listening on {url}" + (f" ({workers} workers)" if workers > 1 else ""))
    log.info(f"State in {database.redacted(options.database) if options.database else options.data_dir}")
    log.info(f"Slugs in {options.blob_store or options.data_dir / BLOB_DIR}")
    log.info("Point slugbuild at it:")
    log.info(f"  export SLUGBUILD_API_URL={url}")
    log.info(f"  {key_line}")
    log.info("Press Ctrl-C to stop.")


def _export(options: ServeOptions, key: str) -> None:
    """Hand the settings to worker processes, which make the app from the environment."""
    os.environ[DATA_DIR_ENV] = str(options.data_dir)
    os.environ[keys.KEY_ENV] = key
    for name, value in ((database.DATABASE_ENV, options.database), (s3.BLOB_STORE_ENV, options.blob_store)):
        if value:
            os.environ[name] = value


def serve(host: str, port: int, options: ServeOptions, key: keys.ApiKey | None, log: BuildLog,
          workers: int = 1) -> None:
    """Run the API until Ctrl-C; prints where it listens and how to point slugbuild at it, never the key."""
    backend = open_backend(options)
    try:
        api_key = key or keys.api_key(None, options.data_dir,
                                      store=backend.store if options.database else None)
        sock = runner.bind(host, port)
    except BaseException:
        backend.store.close()
        raise
    # Set both explicitly (a background job of a non-interactive shell starts with SIGINT ignored), and
    # before the banner: a script may signal as soon as it reads it.
    stop = runner.Stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    _show_how_to_connect(runner.url_of(sock), api_key, options, workers, log)
    try:
        if workers > 1:
            backend.store.close()
            _export(options, api_key.value)
            runner.run_workers(sock, workers, stop)
        else:
            runner.run(make_app(backend, api_key.value, log.info), sock, stop)
    finally:
        backend.store.close()
        sock.close()
    log.step("Stopped")
