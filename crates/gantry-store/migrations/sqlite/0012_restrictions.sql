-- Narrower tokens (DESIGN §10), second part.
-- allowed_ips: the networks a token may be used from, comma-separated CIDRs; NULL is any
-- address, so every token made before this keeps exactly its rights.
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT;
-- A rotation with until_first_use: the previous value ends at the new value's first use.
ALTER TABLE tokens ADD COLUMN prev_until_first_use BOOLEAN NOT NULL DEFAULT FALSE;
-- The org policy (GET/PUT /v1/orgs/{org}/policy): tightens the instance policy for the org's
-- tokens. NULL / FALSE: nothing beyond the instance's.
ALTER TABLE orgs ADD COLUMN policy_max_lifetime_secs INTEGER;
ALTER TABLE orgs ADD COLUMN policy_require_expiry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE orgs ADD COLUMN policy_allowed_ips TEXT;
