-- Announces every committed change on the channel `mcp_config_changes` (payload: its revision).
-- NOTIFY in a transaction is delivered at commit, so the replica whose relay leads publishes
-- another replica's commit at once instead of at its next poll (service/src/store/leadership.rs).
CREATE FUNCTION announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mcp_config_changes', NEW.revision::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER changes_announce AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION announce_change();
