"""Versioned schema migrations: `NNNN_name.sql` files beside this module, applied in order on start.

Each file runs in one transaction with the row that records it in `schema_migrations`, so a migration
is applied whole or not at all, and replicas starting together apply it once. Write portable SQL that
both SQLite and PostgreSQL accept (TEXT, INTEGER, BIGINT; no semicolons inside literals), and never edit
a file once released: add the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from slugbuild.platform.server.database import Database, Tx

_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>\w+)\.sql$")
TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"""


class SchemaTooNew(Exception):
    """The database was migrated by a newer slugbuild than this one."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"schema version {found}, from a newer slugbuild (this one knows up to {known})")
        self.found, self.known = found, known


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def known() -> list[Migration]:
    """Every migration this slugbuild ships, in order."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text()))
    return sorted(found, key=lambda migration: migration.version)


def _current(tx: Tx) -> int:
    tx.run(TABLE)
    row = tx.row("SELECT MAX(version) AS version FROM schema_migrations")
    return row["version"] if row and row["version"] is not None else 0


def apply(db: Database, stamp: str) -> list[int]:
    """Bring the schema up to date; returns the versions applied. SchemaTooNew if it is ahead of us."""
    migrations = known()
    latest = migrations[-1].version if migrations else 0
    with db.migration() as tx:
        current = _current(tx)
        if current > latest:
            raise SchemaTooNew(current, latest)
        pending = [migration for migration in migrations if migration.version > current]
        for migration in pending:
            for statement in migration.statements():
                tx.run(statement)
            tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   migration.version, migration.name, stamp)
    return [migration.version for migration in pending]
