-- Sending events (DESIGN §7). Webhook rules sign with a secret, stored sealed with the
-- instance key (the raw `whsec_` value is shown once and never stored); after a rotation the
-- previous one keeps signing until `previous_secret_until`.
ALTER TABLE alerts ADD COLUMN secret TEXT;
ALTER TABLE alerts ADD COLUMN previous_secret TEXT;
ALTER TABLE alerts ADD COLUMN previous_secret_until BIGINT;

-- A delivery goes to a rule, or (owner notifications, sent without any rule when SMTP is set)
-- to a list of mail recipients. A node's dispatcher claims it (`claim`, until `claimed_until`)
-- before a try; a claim left by a crashed node runs out and the delivery is taken again.
ALTER TABLE deliveries ALTER COLUMN alert_id DROP NOT NULL;
ALTER TABLE deliveries ADD COLUMN recipients TEXT;
ALTER TABLE deliveries ADD COLUMN claim TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until BIGINT;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_destination
    CHECK ((alert_id IS NULL) <> (recipients IS NULL));

-- Expiry warnings that have fired: one row per token, expiry and threshold (0: expired), so
-- each fires once across every node, and a rotation to a new expiry arms them again.
CREATE TABLE expiry_notices (
    token_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    threshold  BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (token_id, expires_at, threshold)
);

-- The expiry scheduler reads live tokens by expiry.
CREATE INDEX tokens_live_expiry ON tokens(expires_at) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
