-- Why a token was revoked, and the latest leak report on it (DESIGN §9), for the token view
-- and the dashboard's badge. NULL: not revoked / never reported (or revoked before this).
-- revoked_reason: requested | oauth_revoke | leak_report | reused | app_deleted | trust_policy_deleted.
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;
-- leak_via: credentials_revoke | github_secret_scanning; leak_url: where it was found.
ALTER TABLE tokens ADD COLUMN leaked_at BIGINT;
ALTER TABLE tokens ADD COLUMN leak_via TEXT;
ALTER TABLE tokens ADD COLUMN leak_url TEXT;
