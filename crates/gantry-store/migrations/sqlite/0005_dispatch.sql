-- Sending events (DESIGN §7). Webhook rules sign with a secret, stored sealed with the
-- instance key (the raw `whsec_` value is shown once and never stored); after a rotation the
-- previous one keeps signing until `previous_secret_until`.
ALTER TABLE alerts ADD COLUMN secret TEXT;
ALTER TABLE alerts ADD COLUMN previous_secret TEXT;
ALTER TABLE alerts ADD COLUMN previous_secret_until BIGINT;

-- A delivery goes to a rule, or (owner notifications, sent without any rule when SMTP is set)
-- to a list of mail recipients. A node's dispatcher claims it (`claim`, until `claimed_until`)
-- before a try. SQLite cannot drop a NOT NULL, so the table is rebuilt.
CREATE TABLE deliveries_new (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    alert_id        TEXT REFERENCES alerts(id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    recipients      TEXT,
    claim           TEXT,
    claimed_until   BIGINT,
    CHECK ((alert_id IS NULL) <> (recipients IS NULL))
);
INSERT INTO deliveries_new (id, event_id, alert_id, state, attempts, next_attempt_at, last_status, last_error, created_at)
    SELECT id, event_id, alert_id, state, attempts, next_attempt_at, last_status, last_error, created_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_alert ON deliveries(alert_id, created_at);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';

-- Expiry warnings that have fired: one row per token, expiry and threshold (0: expired), so
-- each fires once, and a rotation to a new expiry arms them again.
CREATE TABLE expiry_notices (
    token_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    threshold  BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (token_id, expires_at, threshold)
);

-- The expiry scheduler reads live tokens by expiry.
CREATE INDEX tokens_live_expiry ON tokens(expires_at) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
