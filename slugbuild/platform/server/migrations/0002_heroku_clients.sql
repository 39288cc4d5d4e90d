-- What the Heroku CLI and heroku3 need (issue 11): an app's region, maintenance flag, the stack its next
-- build uses and its buildpack list; the formation, one row per process type of the current release.
ALTER TABLE apps ADD COLUMN region TEXT NOT NULL DEFAULT 'us';
ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN build_stack TEXT;
ALTER TABLE apps ADD COLUMN buildpacks TEXT NOT NULL DEFAULT '[]';
CREATE TABLE formation (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, type TEXT NOT NULL, quantity INTEGER NOT NULL,
    size TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (app_id, type));
