"""Versioned schema migrations: `NNNN_name.sql` files beside this module, applied in order on start.

The pending files run in one transaction with the rows that record them in `schema_migrations` (both
engines roll DDL back), so a start migrates wholly or not at all, and replicas starting together
migrate once: the others wait on the lock and then find nothing to do. Every shipped migration
not yet recorded is applied, in version order (so two branches may each add one); a recorded version
this slugbuild does not ship means a newer slugbuild wrote the schema. Write portable SQL that both
SQLite and PostgreSQL accept (TEXT, INTEGER, BIGINT; no semicolons inside literals), and never edit a
file once released: add another.
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


def _applied(tx: Tx) -> set[int]:
    tx.run(TABLE)
    return {row["version"] for row in tx.rows("SELECT version FROM schema_migrations")}


def apply(db: Database, stamp: str) -> list[int]:
    """Bring the schema up to date; returns the versions applied. SchemaTooNew if it is ahead of us."""
    migrations = known()
    shipped = {migration.version for migration in migrations}
    with db.migration() as tx:
        applied = _applied(tx)
        if applied - shipped:
            raise SchemaTooNew(max(applied - shipped), max(shipped, default=0))
        pending = [migration for migration in migrations if migration.version not in applied]
        for migration in pending:
            for statement in migration.statements():
                tx.run(statement)
            tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   migration.version, migration.name, stamp)
    return [migration.version for migration in pending]
