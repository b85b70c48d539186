-- A token's columns hold exactly what its kind needs (`TokenScope` in gantry-core): a personal
-- token its user, an org token its org and role, a deploy token its org and app. Every token
-- gantry ever wrote already does; the triggers keep an import or a hand edit from adding one that
-- no code could read (SQLite cannot add a CHECK to an existing table).
CREATE TRIGGER tokens_scope_insert BEFORE INSERT ON tokens
WHEN NOT (
       (NEW.kind = 'personal' AND NEW.user_id IS NOT NULL AND NEW.org_id IS NULL AND NEW.app_id IS NULL AND NEW.role IS NULL)
    OR (NEW.kind = 'org' AND NEW.org_id IS NOT NULL AND NEW.role IS NOT NULL AND NEW.user_id IS NULL AND NEW.app_id IS NULL)
    OR (NEW.kind = 'deploy' AND NEW.org_id IS NOT NULL AND NEW.app_id IS NOT NULL AND NEW.user_id IS NULL AND NEW.role IS NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'tokens_scope: a token must hold exactly what its kind needs');
END;

CREATE TRIGGER tokens_scope_update BEFORE UPDATE OF kind, user_id, org_id, app_id, role ON tokens
WHEN NOT (
       (NEW.kind = 'personal' AND NEW.user_id IS NOT NULL AND NEW.org_id IS NULL AND NEW.app_id IS NULL AND NEW.role IS NULL)
    OR (NEW.kind = 'org' AND NEW.org_id IS NOT NULL AND NEW.role IS NOT NULL AND NEW.user_id IS NULL AND NEW.app_id IS NULL)
    OR (NEW.kind = 'deploy' AND NEW.org_id IS NOT NULL AND NEW.app_id IS NOT NULL AND NEW.user_id IS NULL AND NEW.role IS NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'tokens_scope: a token must hold exactly what its kind needs');
END;
