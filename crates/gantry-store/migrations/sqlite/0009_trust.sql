-- Keyless CI (DESIGN §8): an app's trust policies, the ID tokens already exchanged (each jti
-- once, on every node: the primary key decides), and where a federated deploy token came from.
CREATE TABLE trust_policies (
    id                        TEXT PRIMARY KEY,
    org_id                    TEXT NOT NULL REFERENCES orgs(id),
    app_id                    TEXT NOT NULL REFERENCES apps(id),
    name                      TEXT NOT NULL,
    preset                    TEXT,
    issuer                    TEXT NOT NULL,
    audience                  TEXT NOT NULL,
    conditions                TEXT NOT NULL,
    token_lifetime_secs       INTEGER NOT NULL,
    waived_reason             TEXT,
    allow_pull_request_target INTEGER NOT NULL DEFAULT 0,
    created_by_type           TEXT NOT NULL,
    created_by_id             TEXT,
    created_by_name           TEXT,
    created_at                INTEGER NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE used_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    -- Kept until the ID token could no longer be presented (its exp plus the leeway).
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis(expires_at);

ALTER TABLE tokens ADD COLUMN federated_policy_id TEXT;
ALTER TABLE tokens ADD COLUMN federated_issuer TEXT;
ALTER TABLE tokens ADD COLUMN federated_subject TEXT;
ALTER TABLE tokens ADD COLUMN federated_claims TEXT;
CREATE INDEX tokens_federated_policy ON tokens(federated_policy_id) WHERE federated_policy_id IS NOT NULL;
