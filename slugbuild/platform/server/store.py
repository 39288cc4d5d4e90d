"""The server's state in SQLite: apps, their config vars, slugs and releases."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from slugbuild.platform.server.ids import new_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, stack TEXT NOT NULL, config TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slugs (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, process_types TEXT NOT NULL,
    buildpack_provided_description TEXT, checksum TEXT, commit_id TEXT, commit_description TEXT,
    stack TEXT NOT NULL, size INTEGER, sha256 TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, version INTEGER NOT NULL, slug_id TEXT,
    description TEXT NOT NULL, config TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (app_id, version));
"""

# -- schema additions for the Heroku clients (issue 11) --------------------------------------------
# Kept in this one place, each applied once and recorded in `meta`, so they become one versioned
# migration when the store gains its migrations mechanism. Plain SQL that SQLite and PostgreSQL both accept.
SCHEMA_ADDITIONS: tuple[tuple[str, str], ...] = (
    ("apps.region", "ALTER TABLE apps ADD COLUMN region TEXT NOT NULL DEFAULT 'us'"),
    ("apps.maintenance", "ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0"),
    ("apps.build_stack", "ALTER TABLE apps ADD COLUMN build_stack TEXT"),
    ("apps.buildpacks", "ALTER TABLE apps ADD COLUMN buildpacks TEXT NOT NULL DEFAULT '[]'"),
    ("formation", "CREATE TABLE formation ("
                  "id TEXT PRIMARY KEY, app_id TEXT NOT NULL, type TEXT NOT NULL, quantity INTEGER NOT NULL, "
                  "size TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
                  "UNIQUE (app_id, type))"),
)


DEFAULT_SIZE = "Standard-1X"


class NameTaken(Exception):
    """An app with this name already exists."""


class UnknownProcessType(Exception):
    """A formation change names a process type the app's current release does not have."""


class NegativeQuantity(Exception):
    """A formation change would leave a process type below zero dynos."""


@dataclass(frozen=True)
class App:
    id: str
    name: str
    stack: str
    config: dict[str, str]
    created_at: str
    updated_at: str
    region: str = "us"
    maintenance: bool = False
    build_stack: str | None = None  # the stack the next build uses; None: the app's stack
    buildpacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Formation:
    id: str
    app_id: str
    type: str
    quantity: int
    size: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Scale:
    """One formation change: a quantity (added to the current one when `relative`) and/or a size."""

    quantity: int | None = None
    relative: bool = False
    size: str | None = None


@dataclass(frozen=True)
class Slug:
    id: str
    app_id: str
    process_types: dict[str, str]
    buildpack_provided_description: str | None
    checksum: str | None
    commit: str | None
    commit_description: str | None
    stack: str
    size: int | None  # of the uploaded blob; None until it is uploaded
    sha256: str | None  # hex digest of the uploaded blob
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Release:
    id: str
    app_id: str
    version: int
    slug_id: str | None
    description: str
    config: dict[str, str]
    created_at: str
    updated_at: str


def now() -> str:
    """The current UTC time as the API writes it: `2012-01-01T12:00:00Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _app(row: sqlite3.Row) -> App:
    return App(row["id"], row["name"], row["stack"], json.loads(row["config"]), row["created_at"],
               row["updated_at"], row["region"], bool(row["maintenance"]), row["build_stack"],
               tuple(json.loads(row["buildpacks"])))


def _formation(row: sqlite3.Row) -> Formation:
    return Formation(row["id"], row["app_id"], row["type"], row["quantity"], row["size"], row["created_at"],
                     row["updated_at"])


def _slug(row: sqlite3.Row) -> Slug:
    return Slug(row["id"], row["app_id"], json.loads(row["process_types"]),
                row["buildpack_provided_description"], row["checksum"], row["commit_id"],
                row["commit_description"], row["stack"], row["size"], row["sha256"], row["created_at"],
                row["updated_at"])


def _release(row: sqlite3.Row) -> Release:
    return Release(row["id"], row["app_id"], row["version"], row["slug_id"], row["description"],
                   json.loads(row["config"]), row["created_at"], row["updated_at"])


class Store:
    """All reads and writes go through one connection under one lock, each write in one transaction.

    The lock makes release versions consecutive under concurrent requests; BEGIN IMMEDIATE keeps
    them so even if a second process opens the same file.
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        self._add_schema()
        self.owner_id = self._owner_id()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _add_schema(self) -> None:
        """Apply each of SCHEMA_ADDITIONS this database has not had yet."""
        with self._tx() as db:
            done = {row["key"] for row in db.execute("SELECT key FROM meta WHERE key LIKE 'schema:%'")}
            for name, sql in SCHEMA_ADDITIONS:
                if f"schema:{name}" not in done:
                    db.execute(sql)
                    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"schema:{name}", now()))

    def _owner_id(self) -> str:
        """The one local account's id, made on first start and kept."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'owner_id'").fetchone()
            if row:
                return row["value"]
            owner = new_id()
            db.execute("INSERT INTO meta (key, value) VALUES ('owner_id', ?)", (owner,))
            return owner

    # -- apps ------------------------------------------------------------------------------------

    def owner_created_at(self) -> str:
        """When the local account was made: when this state database first started."""
        row = self._one("SELECT MIN(value) AS first FROM meta WHERE key LIKE 'schema:%'")
        return row["first"] if row and row["first"] else now()

    def create_app(self, name: str, stack: str, region: str = "us") -> App:
        """A new app with no config vars and no releases; NameTaken if the name is in use."""
        stamp = now()
        app = App(new_id(), name, stack, {}, stamp, stamp, region)
        try:
            with self._tx() as db:
                db.execute("INSERT INTO apps (id, name, stack, config, created_at, updated_at, region) "
                           "VALUES (?, ?, ?, '{}', ?, ?, ?)", (app.id, name, stack, stamp, stamp, region))
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        return app

    def update_app(self, app: App, name: str | None = None, maintenance: bool | None = None,
                   build_stack: str | None = None) -> App:
        """The app with each given attribute changed; NameTaken if `name` is another app's."""
        changes = {key: value for key, value in (("name", name), ("maintenance", maintenance),
                                                  ("build_stack", build_stack)) if value is not None}
        if not changes:
            return app
        sets = ", ".join(f"{column} = ?" for column in changes)
        try:
            with self._tx() as db:
                db.execute(f"UPDATE apps SET {sets}, updated_at = ? WHERE id = ?",
                           (*(int(v) if isinstance(v, bool) else v for v in changes.values()), now(), app.id))
                return _app(db.execute("SELECT * FROM apps WHERE id = ?", (app.id,)).fetchone())
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None

    def set_buildpacks(self, app: App, buildpacks: list[str]) -> App:
        """The app with its buildpack list replaced by `buildpacks`, in order."""
        with self._tx() as db:
            db.execute("UPDATE apps SET buildpacks = ?, updated_at = ? WHERE id = ?",
                       (json.dumps(buildpacks), now(), app.id))
            return _app(db.execute("SELECT * FROM apps WHERE id = ?", (app.id,)).fetchone())

    def has_app_name(self, name: str) -> bool:
        return self._one("SELECT 1 FROM apps WHERE name = ?", name) is not None

    def apps(self) -> list[App]:
        return [_app(row) for row in self._all("SELECT * FROM apps")]

    def find_app(self, id_or_name: str) -> App | None:
        row = self._one("SELECT * FROM apps WHERE id = ? OR name = ?", id_or_name, id_or_name)
        return _app(row) if row else None

    def delete_app(self, app: App) -> list[str]:
        """Delete the app and its releases; returns the ids of its slugs no other app still uses."""
        with self._tx() as db:
            orphans = [row["id"] for row in db.execute(
                "SELECT id FROM slugs WHERE app_id = ? AND id NOT IN "
                "(SELECT slug_id FROM releases WHERE app_id != ? AND slug_id IS NOT NULL)",
                (app.id, app.id))]
            db.executemany("DELETE FROM slugs WHERE id = ?", [(slug_id,) for slug_id in orphans])
            db.execute("DELETE FROM releases WHERE app_id = ?", (app.id,))
            db.execute("DELETE FROM formation WHERE app_id = ?", (app.id,))
            db.execute("DELETE FROM apps WHERE id = ?", (app.id,))
        return orphans

    # -- slugs -----------------------------------------------------------------------------------

    def create_slug(self, app: App, fields: Mapping[str, object], stack: str) -> Slug:
        stamp = now()
        slug_id = new_id()
        with self._tx() as db:
            db.execute(
                "INSERT INTO slugs (id, app_id, process_types, buildpack_provided_description, checksum, "
                "commit_id, commit_description, stack, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (slug_id, app.id, json.dumps(fields["process_types"], sort_keys=True),
                 fields.get("buildpack_provided_description"), fields.get("checksum"), fields.get("commit"),
                 fields.get("commit_description"), stack, stamp, stamp))
            return _slug(db.execute("SELECT * FROM slugs WHERE id = ?", (slug_id,)).fetchone())

    def find_slug(self, slug_id: str) -> Slug | None:
        row = self._one("SELECT * FROM slugs WHERE id = ?", slug_id)
        return _slug(row) if row else None

    def record_upload(self, slug_id: str, size: int, sha256: str) -> None:
        """Remember the size and digest of the bytes uploaded to the slug's blob."""
        with self._tx() as db:
            db.execute("UPDATE slugs SET size = ?, sha256 = ?, updated_at = ? WHERE id = ?",
                       (size, sha256, now(), slug_id))

    def is_released(self, slug_id: str) -> bool:
        return self._one("SELECT 1 FROM releases WHERE slug_id = ? LIMIT 1", slug_id) is not None

    # -- config vars and releases ----------------------------------------------------------------

    def create_release(self, app: App, slug_id: str | None, description: str,
                       config: Mapping[str, str] | None = None) -> Release:
        """The app's next version; `config` (a rollback's) also becomes the app's config vars."""
        with self._tx() as db:
            return self._insert_release(db, app.id, slug_id, description, config)

    def patch_config(self, app: App, changes: Mapping[str, str | None],
                     describe: str) -> tuple[dict[str, str], Release | None]:
        """Apply changes (None deletes); a change makes a release of the current slug."""
        with self._tx() as db:
            row = db.execute("SELECT config FROM apps WHERE id = ?", (app.id,)).fetchone()
            before: dict[str, str] = json.loads(row["config"])
            after = {k: v for k, v in {**before, **changes}.items() if v is not None}
            if after == before:
                return before, None
            current = db.execute("SELECT slug_id FROM releases WHERE app_id = ? ORDER BY version DESC "
                                 "LIMIT 1", (app.id,)).fetchone()
            release = self._insert_release(db, app.id, current["slug_id"] if current else None, describe,
                                           after)
            return after, release

    def _insert_release(self, db: sqlite3.Connection, app_id: str, slug_id: str | None, description: str,
                        config: Mapping[str, str] | None) -> Release:
        stamp = now()
        version = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = ?",
                             (app_id,)).fetchone()[0]
        if config is None:
            config = json.loads(db.execute("SELECT config FROM apps WHERE id = ?", (app_id,)).fetchone()[0])
        config_json = json.dumps(dict(config), sort_keys=True)
        release = Release(new_id(), app_id, version, slug_id, description, dict(config), stamp,
                          stamp)
        db.execute("INSERT INTO releases (id, app_id, version, slug_id, description, config, created_at, "
                   "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (release.id, app_id, version, slug_id, description, config_json, stamp, stamp))
        db.execute("UPDATE apps SET config = ?, updated_at = ? WHERE id = ?", (config_json, stamp, app_id))
        if slug_id is not None:
            self._follow_slug(db, app_id, slug_id, stamp)
        return release

    @staticmethod
    def _follow_slug(db: sqlite3.Connection, app_id: str, slug_id: str, stamp: str) -> None:
        """The app runs the released slug's stack, and its formation has one entry per process type.

        As on Heroku, a type seen for the first time starts at one dyno for web and none for the others.
        """
        slug = db.execute("SELECT stack, process_types FROM slugs WHERE id = ?", (slug_id,)).fetchone()
        types = json.loads(slug["process_types"])
        db.execute("UPDATE apps SET stack = ? WHERE id = ?", (slug["stack"], app_id))
        kept = {row["type"] for row in db.execute("SELECT type FROM formation WHERE app_id = ?", (app_id,))}
        db.executemany("DELETE FROM formation WHERE app_id = ? AND type = ?",
                       [(app_id, name) for name in kept - types.keys()])
        db.executemany("INSERT INTO formation (id, app_id, type, quantity, size, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(new_id(), app_id, name, int(name == "web"), DEFAULT_SIZE, stamp, stamp)
                        for name in sorted(types.keys() - kept)])

    def releases(self, app: App) -> list[Release]:
        return [_release(row) for row in
                self._all("SELECT * FROM releases WHERE app_id = ? ORDER BY version", app.id)]

    def find_release(self, app: App, id_or_version: str) -> Release | None:
        if id_or_version.isdigit():
            row = self._one("SELECT * FROM releases WHERE app_id = ? AND version = ?", app.id,
                            int(id_or_version))
        else:
            row = self._one("SELECT * FROM releases WHERE app_id = ? AND id = ?", app.id, id_or_version)
        return _release(row) if row else None

    def current_release(self, app: App) -> Release | None:
        row = self._one("SELECT * FROM releases WHERE app_id = ? ORDER BY version DESC LIMIT 1", app.id)
        return _release(row) if row else None

    # -- formation -------------------------------------------------------------------------------

    def formation(self, app: App) -> list[Formation]:
        """The app's process types with their dyno quantity and size, by type."""
        return [_formation(row) for row in
                self._all("SELECT * FROM formation WHERE app_id = ? ORDER BY type", app.id)]

    def scale(self, app: App, changes: Mapping[str, Scale]) -> list[Formation]:
        """Apply every change or none: UnknownProcessType or NegativeQuantity name the type at fault."""
        stamp = now()
        with self._tx() as db:
            rows = {row["type"]: _formation(row) for row in
                    db.execute("SELECT * FROM formation WHERE app_id = ?", (app.id,))}
            changed = [self._scaled(rows, name, change) for name, change in changes.items()]
            db.executemany("UPDATE formation SET quantity = ?, size = ?, updated_at = ? WHERE id = ?",
                           [(entry.quantity, entry.size, stamp, entry.id) for entry in changed])
        return [replace(entry, updated_at=stamp) for entry in changed]

    @staticmethod
    def _scaled(rows: Mapping[str, Formation], name: str, change: Scale) -> Formation:
        entry = rows.get(name)
        if entry is None:
            raise UnknownProcessType(name)
        quantity = entry.quantity
        if change.quantity is not None:
            quantity = entry.quantity + change.quantity if change.relative else change.quantity
        if quantity < 0:
            raise NegativeQuantity(name)
        return replace(entry, quantity=quantity, size=change.size or entry.size)
