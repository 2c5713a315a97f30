-- A rollback is its own action in the change log, with the version it restored.
ALTER TABLE changes ADD COLUMN restored_version BIGINT;
