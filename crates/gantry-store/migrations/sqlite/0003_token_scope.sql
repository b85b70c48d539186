-- A token's columns hold exactly what its kind needs (`TokenScope` in gantry-core): a personal
-- token its user, an org token its org and role, a deploy token its org and app. Every token
-- gantry ever wrote already does; the triggers keep an import or a hand edit from adding one that
-- no code could read (SQLite cannot add a CHECK to an existing table). Each kind's row of the
-- VALUES says which of user_id, org_id, app_id and role it sets (0: not NULL) and leaves NULL (1).
CREATE TRIGGER tokens_scope_insert BEFORE INSERT ON tokens
WHEN NOT (
    (NEW.kind, NEW.user_id IS NULL, NEW.org_id IS NULL, NEW.app_id IS NULL, NEW.role IS NULL)
    IN (VALUES ('personal', 0, 1, 1, 1), ('org', 1, 0, 1, 0), ('deploy', 1, 0, 0, 1))
) BEGIN SELECT RAISE(ABORT, 'tokens_scope: a token must hold exactly what its kind needs'); END;

CREATE TRIGGER tokens_scope_update BEFORE UPDATE OF kind, user_id, org_id, app_id, role ON tokens
WHEN NOT (
    (NEW.kind, NEW.user_id IS NULL, NEW.org_id IS NULL, NEW.app_id IS NULL, NEW.role IS NULL)
    IN (VALUES ('personal', 0, 1, 1, 1), ('org', 1, 0, 1, 0), ('deploy', 1, 0, 0, 1))
) BEGIN SELECT RAISE(ABORT, 'tokens_scope: a token must hold exactly what its kind needs'); END;
