-- Custody schema for PostgreSQL. Times are Unix seconds; ids are lowercase UUID strings.
-- The same tables as database/migrations/sqlite/0001_custody.sql; see the comments there.

CREATE TABLE keys (
    id            TEXT PRIMARY KEY,
    public_key    TEXT NOT NULL,
    sealed_secret BYTEA,
    label         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT,
    CHECK ((deleted_at IS NULL) = (sealed_secret IS NOT NULL))
);
CREATE UNIQUE INDEX keys_live_public_key ON keys (public_key) WHERE deleted_at IS NULL;

CREATE TABLE policies (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE authorizations (
    id                   TEXT PRIMARY KEY,
    key_id               TEXT NOT NULL REFERENCES keys (id),
    name                 TEXT NOT NULL,
    bunker_public_key    TEXT NOT NULL UNIQUE,
    bunker_sealed_secret BYTEA,
    secret_hash          BYTEA,
    client_public_key    TEXT,
    policy               TEXT NOT NULL,
    relays               TEXT NOT NULL,
    expires_at           BIGINT,
    max_uses             BIGINT,
    uses                 BIGINT NOT NULL DEFAULT 0,
    access_token_hash    BYTEA NOT NULL UNIQUE,
    created_at           BIGINT NOT NULL,
    revoked_at           BIGINT,
    revision             BIGINT NOT NULL DEFAULT 1,
    CHECK ((revoked_at IS NULL) = (bunker_sealed_secret IS NOT NULL))
);
CREATE INDEX authorizations_key ON authorizations (key_id);

CREATE TABLE audit_records (
    id                BIGSERIAL PRIMARY KEY,
    recorded_at       BIGINT NOT NULL,
    key_id            TEXT NOT NULL,
    authorization_id  TEXT,
    path              TEXT NOT NULL,
    method            TEXT NOT NULL,
    kind              INTEGER,
    event_id          TEXT,
    client_public_key TEXT,
    outcome           TEXT NOT NULL
);
CREATE INDEX audit_records_key ON audit_records (key_id, id);
CREATE INDEX audit_records_authorization ON audit_records (authorization_id, id);

CREATE TABLE custody_metadata (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
