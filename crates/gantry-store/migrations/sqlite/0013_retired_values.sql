-- Reuse detection (DESIGN §9): every value a rotation replaced, so a copy presented after its
-- grace period is recognised as a token's old value (token.reused) instead of just unknown.
-- usable_until: the end of its grace period (the rotation itself when there was none);
-- reported_at: the last token.reused it fired (at most one an hour per value, across nodes).
CREATE TABLE retired_values (
    hash         BLOB PRIMARY KEY,
    token_id     TEXT NOT NULL REFERENCES tokens(id),
    rotated_at   INTEGER NOT NULL,
    usable_until INTEGER NOT NULL,
    reported_at  INTEGER
);
CREATE INDEX retired_values_token ON retired_values (token_id);
