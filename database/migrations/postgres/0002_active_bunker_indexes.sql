-- The same partial indexes as database/migrations/sqlite/0002_active_bunker_indexes.sql; see the comments there.
-- (Index-only scans once VACUUM has marked the pages all-visible; otherwise an index scan of the active rows.)
CREATE INDEX authorizations_active_bunkers ON authorizations (bunker_public_key) WHERE revoked_at IS NULL;
CREATE INDEX authorizations_own_relays ON authorizations (bunker_public_key, relays) WHERE revoked_at IS NULL AND relays <> '[]';
