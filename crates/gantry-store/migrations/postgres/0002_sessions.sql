-- Dashboard sessions. Like tokens, only the SHA-256 of the cookie's secret is stored. Not part of
-- `gantry export`: sessions are short-lived and a moved instance signs everyone in again.

CREATE TABLE sessions (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip         TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);
