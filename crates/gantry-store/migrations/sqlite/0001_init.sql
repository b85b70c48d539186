-- gantry schema, SQLite flavour. Timestamps are INTEGER milliseconds since the Unix epoch (UTC).
-- Token values are never stored: only their SHA-256 (32 bytes).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES orgs(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'owner')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id),
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
-- Slugs are unique among live apps across the whole instance; a deleted app frees its slug.
CREATE UNIQUE INDEX apps_live_slug ON apps(slug) WHERE deleted_at IS NULL;
CREATE INDEX apps_org ON apps(org_id);

CREATE TABLE releases (
    app_id          TEXT NOT NULL REFERENCES apps(id),
    version         INTEGER NOT NULL,
    label           TEXT,
    message         TEXT,
    artifact_sha256 TEXT NOT NULL,
    artifact_size   INTEGER NOT NULL,
    created_by_type TEXT NOT NULL,
    created_by_id   TEXT,
    created_by_name TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (app_id, version)
);
CREATE UNIQUE INDEX releases_label ON releases(app_id, label) WHERE label IS NOT NULL;
CREATE INDEX releases_artifact ON releases(artifact_sha256);

CREATE TABLE env_vars (
    app_id          TEXT NOT NULL REFERENCES apps(id),
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    secret          INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL,
    updated_by_type TEXT NOT NULL,
    updated_by_id   TEXT,
    updated_by_name TEXT,
    PRIMARY KEY (app_id, key)
);

CREATE TABLE configs (
    app_id          TEXT NOT NULL REFERENCES apps(id),
    version         INTEGER NOT NULL,
    document        TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by_type TEXT NOT NULL,
    updated_by_id   TEXT,
    updated_by_name TEXT,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    name            TEXT NOT NULL,
    event           TEXT NOT NULL,
    target          TEXT NOT NULL,
    created_by_type TEXT NOT NULL,
    created_by_id   TEXT,
    created_by_name TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX alerts_org ON alerts(org_id);

CREATE TABLE tokens (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('personal', 'org', 'deploy')),
    name            TEXT NOT NULL,
    description     TEXT,
    prefix          TEXT NOT NULL,
    hash            BLOB NOT NULL UNIQUE,
    prev_hash       BLOB,
    prev_expires_at INTEGER,
    user_id         TEXT REFERENCES users(id),
    org_id          TEXT REFERENCES orgs(id),
    app_id          TEXT REFERENCES apps(id),
    role            TEXT CHECK (role IS NULL OR role IN ('viewer', 'operator', 'admin', 'owner')),
    created_by_type TEXT NOT NULL,
    created_by_id   TEXT,
    created_by_name TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    lifetime_secs   INTEGER,
    last_used_at    INTEGER,
    last_used_ip    TEXT,
    rotated_at      INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX tokens_prev_hash ON tokens(prev_hash) WHERE prev_hash IS NOT NULL;
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX tokens_org ON tokens(org_id);
CREATE INDEX tokens_app ON tokens(app_id);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    org_id      TEXT,
    org_slug    TEXT,
    app_id      TEXT,
    app_slug    TEXT,
    ip          TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_org ON audit_events(org_id, id);
CREATE INDEX audit_actor ON audit_events(actor_id, id);
CREATE INDEX audit_action ON audit_events(action, id);

-- The audit log is append-only, enforced by the database itself.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
