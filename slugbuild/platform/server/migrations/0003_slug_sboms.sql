-- slugbuild's extension (issue 15): the CycloneDX SBOM a client sent with a slug, one per slug.
CREATE TABLE slug_sboms (
    slug_id TEXT PRIMARY KEY, document TEXT NOT NULL, created_at TEXT NOT NULL);
