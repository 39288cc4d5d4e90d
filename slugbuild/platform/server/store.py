"""The server's state: apps, their config vars, slugs and releases, in SQLite or PostgreSQL.

Every write is one transaction. A new release locks its app's row, so versions stay consecutive with any
number of server processes on any number of hosts; the unique (app_id, version) backs that up.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slugbuild.platform.server import migrations
from slugbuild.platform.server.database import Database, Duplicate, Tx
from slugbuild.platform.server.ids import new_id

VERSION = re.compile(r"^[0-9]{1,9}$")  # a release version as a path segment: within INTEGER
DEFAULT_SIZE = "Standard-1X"
MAX_QUANTITY = 10_000  # dynos of one process type; far above Heroku's limits, well within INTEGER


class NameTaken(Exception):
    """An app with this name already exists."""


class Gone(Exception):
    """The app or slug was deleted while the request was under way."""


class UnknownProcessType(Exception):
    """A formation change names a process type the app's current release does not have."""


class QuantityOutOfRange(Exception):
    """A formation change would leave a process type below 0 or above MAX_QUANTITY dynos."""


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


def now(offset_s: float = 0) -> str:
    """The current UTC time (plus `offset_s`) as the API writes it: `2012-01-01T12:00:00Z`."""
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _app(row: Mapping[str, Any]) -> App:
    return App(row["id"], row["name"], row["stack"], json.loads(row["config"]), row["created_at"],
               row["updated_at"], row["region"], bool(row["maintenance"]), row["build_stack"],
               tuple(json.loads(row["buildpacks"])))


def _formation(row: Mapping[str, Any]) -> Formation:
    return Formation(row["id"], row["app_id"], row["type"], row["quantity"], row["size"], row["created_at"],
                     row["updated_at"])


def _slug(row: Mapping[str, Any]) -> Slug:
    return Slug(row["id"], row["app_id"], json.loads(row["process_types"]),
                row["buildpack_provided_description"], row["checksum"], row["commit_id"],
                row["commit_description"], row["stack"], row["size"], row["sha256"], row["created_at"],
                row["updated_at"])


def _release(row: Mapping[str, Any]) -> Release:
    return Release(row["id"], row["app_id"], row["version"], row["slug_id"], row["description"],
                   json.loads(row["config"]), row["created_at"], row["updated_at"])


class Store:
    """All reads and writes of the API's state, each write in one transaction of `db`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        migrations.apply(db, now())
        self.owner_id = self.kept("owner_id", new_id)
        self.owner_created_at = self.kept("owner_created_at", now)
        self.blob_secret = self.kept("blob_secret", lambda: secrets.token_hex(32)).encode()

    def close(self) -> None:
        self.db.close()

    def _tx(self) -> contextlib.AbstractContextManager[Tx]:
        return self.db.transaction()

    def _one(self, sql: str, *args: object) -> Mapping[str, Any] | None:
        with self._tx() as tx:
            return tx.row(sql, *args)

    def _all(self, sql: str, *args: object) -> list[Mapping[str, Any]]:
        with self._tx() as tx:
            return tx.rows(sql, *args)

    def kept(self, key: str, make: Callable[[], str]) -> str:
        """A value made on first start and shared by every replica from then on."""
        with self._tx() as tx:
            tx.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, make())
            return tx.row("SELECT value FROM meta WHERE key = ?", key)["value"]

    # -- apps ------------------------------------------------------------------------------------

    def create_app(self, name: str, stack: str, region: str = "us") -> App:
        """A new app with no config vars and no releases; NameTaken if the name is in use."""
        stamp = now()
        app = App(new_id(), name, stack, {}, stamp, stamp, region)
        try:
            with self._tx() as tx:
                tx.run("INSERT INTO apps (id, name, stack, config, created_at, updated_at, region) "
                       "VALUES (?, ?, ?, '{}', ?, ?, ?)", app.id, name, stack, stamp, stamp, region)
        except Duplicate:
            raise NameTaken(name) from None
        return app

    def update_app(self, app: App, name: str | None = None, maintenance: bool | None = None,
                   build_stack: str | None = None) -> App:
        """The app with each given attribute changed; NameTaken if `name` is another app's."""
        changes = {key: value for key, value in (("name", name), ("maintenance", maintenance),
                                                  ("build_stack", build_stack)) if value is not None}
        sets = "".join(f"{column} = ?, " for column in changes)
        values = [int(value) if isinstance(value, bool) else value for value in changes.values()]
        try:
            with self._tx() as tx:
                if tx.lock("apps", app.id) is None:
                    raise Gone("app")
                tx.run(f"UPDATE apps SET {sets}updated_at = ? WHERE id = ?", *values, now(), app.id)
                return _app(tx.row("SELECT * FROM apps WHERE id = ?", app.id))
        except Duplicate:
            raise NameTaken(name) from None

    def set_buildpacks(self, app: App, buildpacks: list[str]) -> App:
        """The app with its buildpack list replaced by `buildpacks`, in order."""
        with self._tx() as tx:
            if tx.lock("apps", app.id) is None:
                raise Gone("app")
            tx.run("UPDATE apps SET buildpacks = ?, updated_at = ? WHERE id = ?", json.dumps(buildpacks),
                   now(), app.id)
            return _app(tx.row("SELECT * FROM apps WHERE id = ?", app.id))

    def has_app_name(self, name: str) -> bool:
        return self._one("SELECT 1 AS found FROM apps WHERE name = ?", name) is not None

    def apps(self) -> list[App]:
        return [_app(row) for row in self._all("SELECT * FROM apps")]

    def find_app(self, id_or_name: str) -> App | None:
        row = self._one("SELECT * FROM apps WHERE id = ? OR name = ?", id_or_name, id_or_name)
        return _app(row) if row else None

    def delete_app(self, app: App) -> list[str]:
        """Delete the app and its releases; returns the ids of its slugs no other app still uses.

        The slugs' rows are locked and gone before their blobs are removed, so an upload finishing at
        the same time either lands before (and its blob is removed) or finds no slug (and drops it).
        """
        with self._tx() as tx:
            tx.lock("apps", app.id)
            orphans = [row["id"] for row in tx.rows(
                "SELECT id FROM slugs WHERE app_id = ? AND id NOT IN "
                "(SELECT slug_id FROM releases WHERE app_id != ? AND slug_id IS NOT NULL)", app.id, app.id)]
            for slug_id in orphans:
                tx.lock("slugs", slug_id)
                tx.run("DELETE FROM slug_sboms WHERE slug_id = ?", slug_id)
                tx.run("DELETE FROM slugs WHERE id = ?", slug_id)
                tx.run("INSERT INTO slug_removals (id, removed_at) VALUES (?, ?)", slug_id, now())
            tx.run("DELETE FROM releases WHERE app_id = ?", app.id)
            tx.run("DELETE FROM formation WHERE app_id = ?", app.id)
            tx.run("DELETE FROM apps WHERE id = ?", app.id)
        return orphans

    # -- slugs -----------------------------------------------------------------------------------

    def create_slug(self, app: App, fields: Mapping[str, object], stack: str) -> Slug:
        stamp = now()
        slug_id = new_id()
        with self._tx() as tx:
            tx.run("INSERT INTO slugs (id, app_id, process_types, buildpack_provided_description, checksum, "
                   "commit_id, commit_description, stack, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   slug_id, app.id, json.dumps(fields["process_types"], sort_keys=True),
                   fields.get("buildpack_provided_description"), fields.get("checksum"), fields.get("commit"),
                   fields.get("commit_description"), stack, stamp, stamp)
            return _slug(tx.row("SELECT * FROM slugs WHERE id = ?", slug_id))

    def find_slug(self, slug_id: str) -> Slug | None:
        row = self._one("SELECT * FROM slugs WHERE id = ?", slug_id)
        return _slug(row) if row else None

    def finish_upload(self, slug_id: str, size: int, sha256: str, place: Callable[[], None]) -> str:
        """Put an upload in place (`place`) and record it, unless its slug is gone or released.

        Returns "stored", "gone" or "released". The slug's row stays locked meanwhile, so a release or an
        app delete running at the same time comes wholly before or wholly after.
        """
        with self._tx() as tx:
            if tx.lock("slugs", slug_id) is None:
                return "gone"
            if tx.row("SELECT 1 AS found FROM releases WHERE slug_id = ? LIMIT 1", slug_id):
                return "released"
            place()
            tx.run("UPDATE slugs SET size = ?, sha256 = ?, updated_at = ? WHERE id = ?",
                   size, sha256, now(), slug_id)
        return "stored"

    def keep_sbom(self, slug_id: str, document: str) -> str:
        """Store the slug's SBOM: "stored", "gone" (no such slug), or "released" when the slug was released
        with another SBOM already (what a release shipped never changes)."""
        with self._tx() as tx:
            if tx.lock("slugs", slug_id) is None:
                return "gone"
            kept = tx.row("SELECT document FROM slug_sboms WHERE slug_id = ?", slug_id)
            released = tx.row("SELECT 1 AS found FROM releases WHERE slug_id = ? LIMIT 1", slug_id)
            if kept and released and kept["document"] != document:
                return "released"
            tx.run("DELETE FROM slug_sboms WHERE slug_id = ?", slug_id)
            tx.run("INSERT INTO slug_sboms (slug_id, document, created_at) VALUES (?, ?, ?)",
                   slug_id, document, now())
            return "stored"

    def sbom(self, slug_id: str) -> str | None:
        """The SBOM kept with the slug, as it was sent, or None."""
        row = self._one("SELECT document FROM slug_sboms WHERE slug_id = ?", slug_id)
        return row["document"] if row else None

    def removals_due(self, removed_before: str) -> list[str]:
        """Ids of slugs deleted before `removed_before` whose blobs are to be removed once more."""
        return [row["id"] for row in self._all("SELECT id FROM slug_removals WHERE removed_at < ?",
                                                removed_before)]

    def forget_removal(self, slug_id: str) -> None:
        with self._tx() as tx:
            tx.run("DELETE FROM slug_removals WHERE id = ?", slug_id)

    def is_released(self, slug_id: str) -> bool:
        return self._one("SELECT 1 AS found FROM releases WHERE slug_id = ? LIMIT 1", slug_id) is not None

    # -- config vars and releases ----------------------------------------------------------------

    def create_release(self, app: App, slug_id: str | None, description: str,
                       config: Mapping[str, str] | None = None,
                       seal: Callable[[Slug, bool], Slug] | None = None) -> Release:
        """The app's next version; `config` (a rollback's) also becomes the app's config vars.

        `seal(slug, released_before)` checks the slug's blob and makes it immutable, inside the same
        transaction, with the slug's row locked: it raises to refuse the release, and returns the slug
        with the blob's size and digest to record.
        """
        with self._tx() as tx:
            if tx.lock("apps", app.id) is None:
                raise Gone("app")
            if slug_id is not None and seal is not None:
                self._seal(tx, slug_id, seal)
            return self._insert_release(tx, app.id, slug_id, description, config)

    @staticmethod
    def _seal(tx: Tx, slug_id: str, seal: Callable[[Slug, bool], Slug]) -> None:
        row = tx.lock("slugs", slug_id)
        if row is None:
            raise Gone("slug")
        released = tx.row("SELECT 1 AS found FROM releases WHERE slug_id = ? LIMIT 1", slug_id) is not None
        before = _slug(row)
        after = seal(before, released)
        if (after.size, after.sha256) != (before.size, before.sha256):
            tx.run("UPDATE slugs SET size = ?, sha256 = ?, updated_at = ? WHERE id = ?",
                   after.size, after.sha256, now(), slug_id)

    def patch_config(self, app: App, changes: Mapping[str, str | None],
                     describe: str) -> tuple[dict[str, str], Release | None]:
        """Apply changes (None deletes); a change makes a release of the current slug."""
        with self._tx() as tx:
            row = tx.lock("apps", app.id)
            if row is None:
                raise Gone("app")
            before: dict[str, str] = json.loads(row["config"])
            after = {k: v for k, v in {**before, **changes}.items() if v is not None}
            if after == before:
                return before, None
            current = tx.row("SELECT slug_id FROM releases WHERE app_id = ? ORDER BY version DESC LIMIT 1",
                             app.id)
            release = self._insert_release(tx, app.id, current["slug_id"] if current else None, describe,
                                           after)
            return after, release

    @staticmethod
    def _insert_release(tx: Tx, app_id: str, slug_id: str | None, description: str,
                        config: Mapping[str, str] | None) -> Release:
        stamp = now()
        version = tx.row("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM releases WHERE app_id = ?",
                         app_id)["next"]
        if config is None:
            config = json.loads(tx.row("SELECT config FROM apps WHERE id = ?", app_id)["config"])
        config_json = json.dumps(dict(config), sort_keys=True)
        release = Release(new_id(), app_id, version, slug_id, description, dict(config), stamp, stamp)
        tx.run("INSERT INTO releases (id, app_id, version, slug_id, description, config, created_at, "
               "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               release.id, app_id, version, slug_id, description, config_json, stamp, stamp)
        tx.run("UPDATE apps SET config = ?, updated_at = ? WHERE id = ?", config_json, stamp, app_id)
        if slug_id is not None:
            Store._follow_slug(tx, app_id, slug_id, stamp)
        return release

    @staticmethod
    def _follow_slug(tx: Tx, app_id: str, slug_id: str, stamp: str) -> None:
        """The app runs the released slug's stack, and its formation has one entry per process type.

        As on Heroku, a type seen for the first time starts at one dyno for web and none for the others.
        """
        slug = tx.row("SELECT stack, process_types FROM slugs WHERE id = ?", slug_id)
        types = json.loads(slug["process_types"])
        tx.run("UPDATE apps SET stack = ? WHERE id = ?", slug["stack"], app_id)
        kept = {row["type"] for row in tx.rows("SELECT type FROM formation WHERE app_id = ?", app_id)}
        for name in kept - types.keys():
            tx.run("DELETE FROM formation WHERE app_id = ? AND type = ?", app_id, name)
        for name in sorted(types.keys() - kept):
            tx.run("INSERT INTO formation (id, app_id, type, quantity, size, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", new_id(), app_id, name, int(name == "web"), DEFAULT_SIZE,
                   stamp, stamp)

    def releases(self, app: App) -> list[Release]:
        return [_release(row) for row in
                self._all("SELECT * FROM releases WHERE app_id = ? ORDER BY version", app.id)]

    def find_release(self, app: App, id_or_version: str) -> Release | None:
        """By id, or by version: ASCII digits only, so no other digit or huge number reaches the SQL."""
        if VERSION.match(id_or_version):
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
        """Apply every change or none: UnknownProcessType or QuantityOutOfRange name the type at fault."""
        stamp = now()
        with self._tx() as tx:
            if tx.lock("apps", app.id) is None:
                raise Gone("app")
            rows = {row["type"]: _formation(row) for row in
                    tx.rows("SELECT * FROM formation WHERE app_id = ?", app.id)}
            changed = [replace(self._scaled(rows, name, change), updated_at=stamp)
                       for name, change in changes.items()]
            for entry in changed:
                tx.run("UPDATE formation SET quantity = ?, size = ?, updated_at = ? WHERE id = ?",
                       entry.quantity, entry.size, stamp, entry.id)
        return changed

    @staticmethod
    def _scaled(rows: Mapping[str, Formation], name: str, change: Scale) -> Formation:
        entry = rows.get(name)
        if entry is None:
            raise UnknownProcessType(name)
        quantity = entry.quantity
        if change.quantity is not None:
            quantity = entry.quantity + change.quantity if change.relative else change.quantity
        if not 0 <= quantity <= MAX_QUANTITY:
            raise QuantityOutOfRange(name)
        return replace(entry, quantity=quantity, size=change.size or entry.size)
