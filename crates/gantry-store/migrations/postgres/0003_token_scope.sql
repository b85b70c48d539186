-- A token's columns hold exactly what its kind needs (`TokenScope` in gantry-core): a personal
-- token its user, an org token its org and role, a deploy token its org and app. Every token
-- gantry ever wrote already does; the check keeps an import or a hand edit from adding one that
-- no code could read.
ALTER TABLE tokens ADD CONSTRAINT tokens_scope CHECK (
       (kind = 'personal' AND user_id IS NOT NULL AND org_id IS NULL AND app_id IS NULL AND role IS NULL)
    OR (kind = 'org' AND org_id IS NOT NULL AND role IS NOT NULL AND user_id IS NULL AND app_id IS NULL)
    OR (kind = 'deploy' AND org_id IS NOT NULL AND app_id IS NOT NULL AND user_id IS NULL AND role IS NULL)
);
