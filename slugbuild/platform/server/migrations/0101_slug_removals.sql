-- Slugs deleted with their app. A store's PUT URL made before the delete may still be used until it
-- expires, so each is removed from the store again once its URLs can no longer be used.
CREATE TABLE IF NOT EXISTS slug_removals (id TEXT PRIMARY KEY, removed_at TEXT NOT NULL);
