"""The database under the store: SQLite (embedded, the default) or PostgreSQL (for teams), one interface.

SQL is written once, portable, with `?` placeholders; the PostgreSQL side rewrites them to psycopg's
`%s`. Rows read as mappings on both. A database that cannot be reached raises `Unavailable`, which the
API answers with 503; the next request tries again, so the server recovers without a restart.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

DATABASE_ENV = "SLUGBUILD_DATABASE_URL"
SETTING = f"--database (or {DATABASE_ENV})"
_MIGRATION_LOCK = 7_311_812  # any fixed number: the advisory lock every replica takes to migrate


class Unavailable(Exception):
    """The database cannot be reached now; the message says why."""


class Duplicate(Exception):
    """A write broke a unique constraint."""


class Tx(Protocol):
    """One transaction (or one read) on one connection."""

    def rows(self, sql: str, *args: object) -> list[Mapping[str, Any]]: ...

    def row(self, sql: str, *args: object) -> Mapping[str, Any] | None: ...

    def run(self, sql: str, *args: object) -> None: ...

    def lock(self, table: str, row_id: str) -> Mapping[str, Any] | None: ...


class Database(Protocol):
    """Where the state lives; `describe` names it (without a password) for messages."""

    describe: str

    def transaction(self) -> contextlib.AbstractContextManager[Tx]: ...

    def migration(self) -> contextlib.AbstractContextManager[Tx]: ...

    def close(self) -> None: ...


class _Cursor:
    """Tx over a DB-API cursor; `placeholder` is what `?` becomes."""

    def __init__(self, cursor: Any, placeholder: str, row_locks: bool) -> None:
        self._cursor, self._placeholder, self._row_locks = cursor, placeholder, row_locks

    def _execute(self, sql: str, args: tuple[object, ...]) -> Any:
        if self._placeholder != "?":
            sql = sql.replace("%", "%%").replace("?", self._placeholder)
        try:
            return self._cursor.execute(sql, args)
        except (sqlite3.IntegrityError, _pg_integrity_error()) as exc:
            raise Duplicate(str(exc)) from exc

    def rows(self, sql: str, *args: object) -> list[Mapping[str, Any]]:
        return list(self._execute(sql, args).fetchall())

    def row(self, sql: str, *args: object) -> Mapping[str, Any] | None:
        return self._execute(sql, args).fetchone()

    def run(self, sql: str, *args: object) -> None:
        self._execute(sql, args)

    def lock(self, table: str, row_id: str) -> Mapping[str, Any] | None:
        """The row, locked until the transaction ends (SQLite's BEGIN IMMEDIATE already locks it all)."""
        suffix = " FOR UPDATE" if self._row_locks else ""
        return self.row(f"SELECT * FROM {table} WHERE id = ?{suffix}", row_id)


def _pg_integrity_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        return sqlite3.IntegrityError
    return psycopg.IntegrityError


class SqliteDatabase:
    """One file, one connection under one lock; BEGIN IMMEDIATE serialises writers across processes too."""

    def __init__(self, path: Path) -> None:
        self.describe = str(path)
        # The state holds config vars: only the owner may read it, the WAL and shared memory files too
        # (SQLite gives those the database file's mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise Unavailable(f"{self.describe}: {exc}") from None
            try:
                yield _Cursor(self._db.cursor(), "?", row_locks=False)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    migration = transaction

    def close(self) -> None:
        with self._lock:
            self._db.close()


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


class PostgresDatabase:
    """A pool of psycopg connections; each transaction takes one and gives it back."""

    def __init__(self, url: str, max_connections: int = 20) -> None:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.describe = redacted(url)
        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        try:
            psycopg.connect(url, connect_timeout=10).close()  # fail now, with the server's own reason
        except psycopg.Error as exc:
            raise Unavailable(_first_line(exc)) from None
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=False,
                                    kwargs={"row_factory": dict_row, "connect_timeout": 5},
                                    check=ConnectionPool.check_connection, timeout=3)
        self._pool.open()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _Cursor(conn.cursor(), "%s", row_locks=True)
        except PoolTimeout:
            raise Unavailable(f"no connection to {self.describe} could be made") from None
        except self._errors as exc:
            raise Unavailable(_first_line(exc)) from None

    @contextlib.contextmanager
    def migration(self) -> Iterator[Tx]:
        """A transaction holding the lock that keeps two replicas from migrating at once."""
        with self.transaction() as tx:
            tx.run(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            yield tx

    def close(self) -> None:
        self._pool.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def is_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))
