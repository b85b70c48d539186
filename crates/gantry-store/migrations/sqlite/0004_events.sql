-- Events and their deliveries (DESIGN §7): a transactional outbox. Each lifecycle change writes
-- its event in the same transaction as the change and its audit row, and one delivery per
-- enabled alert rule of the org that asks for the event's type (and for its app, when the rule
-- names one).

-- Rules subscribe to a list of event types (JSON array of canonical names; NULL on rules made
-- before it: their one `event`, an old alias), may narrow to one app, and can be disabled.
ALTER TABLE alerts ADD COLUMN events TEXT;
ALTER TABLE alerts ADD COLUMN app_id TEXT REFERENCES apps(id);
ALTER TABLE alerts ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;

CREATE TABLE events (
    id      TEXT PRIMARY KEY,
    type    TEXT NOT NULL,
    org_id  TEXT REFERENCES orgs(id),
    app_id  TEXT REFERENCES apps(id),
    at      INTEGER NOT NULL,
    -- The event's data as JSON: views, never a token value or a secret.
    data    TEXT NOT NULL
);
CREATE INDEX events_org ON events(org_id, at);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    alert_id        TEXT NOT NULL REFERENCES alerts(id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_alert ON deliveries(alert_id, created_at);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';
