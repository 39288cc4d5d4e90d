"""Schema migrations on SQLite: applied once, in order, wholly; a schema from a newer slugbuild refused."""

from __future__ import annotations

import sqlite3

import pytest

from slugbuild.platform.server import migrations
from slugbuild.platform.server.database import SqliteDatabase


def test_the_shipped_migrations_have_distinct_versions_and_statements():
    shipped = migrations.known()
    assert len({m.version for m in shipped}) == len(shipped), "two migration files share a version"
    assert shipped[0].version == 1 and all(m.statements() for m in shipped)


def test_a_new_database_gets_every_migration_once(tmp_path):
    db = SqliteDatabase(tmp_path / "state.sqlite3")
    assert migrations.apply(db, "t") == [m.version for m in migrations.known()]
    assert migrations.apply(db, "t") == []
    db.close()


def test_a_migration_added_beside_one_already_applied_is_still_applied(tmp_path, monkeypatch):
    # Two branches each add a migration: whichever lands first, the other is applied on the next start.
    db = SqliteDatabase(tmp_path / "state.sqlite3")
    migrations.apply(db, "t")
    later = migrations.Migration(3000, "later", "CREATE TABLE later (id TEXT PRIMARY KEY)")
    earlier = migrations.Migration(2000, "earlier", "CREATE TABLE earlier (id TEXT PRIMARY KEY)")
    shipped = migrations.known()
    monkeypatch.setattr(migrations, "known", lambda: [*shipped, later])
    assert migrations.apply(db, "t") == [3000]
    monkeypatch.setattr(migrations, "known", lambda: [*shipped, earlier, later])
    assert migrations.apply(db, "t") == [2000]
    db.close()


def test_a_failing_migration_leaves_nothing_half_done(tmp_path, monkeypatch):
    db = SqliteDatabase(tmp_path / "state.sqlite3")
    broken = migrations.Migration(4000, "broken", "CREATE TABLE half (id TEXT); CREATE TABLE nonsense (")
    shipped = migrations.known()
    monkeypatch.setattr(migrations, "known", lambda: [*shipped, broken])
    with pytest.raises(sqlite3.OperationalError):
        migrations.apply(db, "t")
    db.close()
    with sqlite3.connect(tmp_path / "state.sqlite3") as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "apps" not in tables  # the first run's migrations rolled back too


def test_a_version_this_slugbuild_does_not_ship_is_a_newer_schema(tmp_path):
    db = SqliteDatabase(tmp_path / "state.sqlite3")
    migrations.apply(db, "t")
    with db.transaction() as tx:
        tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 't')")
    with pytest.raises(migrations.SchemaTooNew) as too_new:
        migrations.apply(db, "t")
    assert too_new.value.found == 999
    db.close()
