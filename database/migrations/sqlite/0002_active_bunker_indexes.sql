-- The daemon reads every active bunker key after start-up, a page at a time in key order, and the bunkers whose
-- authorizations name relays of their own. Partial indexes make both index-only scans of the active rows, instead
-- of a table lookup per key (a million authorizations took 8 s to list) and a scan of the whole table for the relays.
-- The queries repeat these WHERE clauses exactly, which is what lets SQLite use the indexes.
CREATE INDEX authorizations_active_bunkers ON authorizations (bunker_public_key) WHERE revoked_at IS NULL;
CREATE INDEX authorizations_own_relays ON authorizations (bunker_public_key, relays) WHERE revoked_at IS NULL AND relays <> '[]';
