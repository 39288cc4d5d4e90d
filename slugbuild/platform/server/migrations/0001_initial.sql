-- The state as slugbuild 0.1 kept it. IF NOT EXISTS adopts a state file made before migrations existed.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, stack TEXT NOT NULL, config TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slugs (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, process_types TEXT NOT NULL,
    buildpack_provided_description TEXT, checksum TEXT, commit_id TEXT, commit_description TEXT,
    stack TEXT NOT NULL, size BIGINT, sha256 TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, version INTEGER NOT NULL, slug_id TEXT,
    description TEXT NOT NULL, config TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (app_id, version));
