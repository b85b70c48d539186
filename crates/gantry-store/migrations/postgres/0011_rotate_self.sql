-- DESIGN §10 rotate_self: a deploy token created with it may rotate itself
-- (POST /v1/tokens/self/rotate), and nothing else of token management.
ALTER TABLE tokens ADD COLUMN rotate_self BOOLEAN NOT NULL DEFAULT FALSE;
