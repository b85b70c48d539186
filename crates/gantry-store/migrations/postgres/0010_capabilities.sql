-- Narrower tokens (DESIGN §10): what an org or deploy token, or the tokens a trust policy
-- issues, may do on an app, as comma-separated names (read, deploy, env, config). NULL is
-- all of them: every token made before this keeps exactly its rights.
ALTER TABLE tokens ADD COLUMN capabilities TEXT;
ALTER TABLE trust_policies ADD COLUMN capabilities TEXT;
