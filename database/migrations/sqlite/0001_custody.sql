-- Custody schema for the embedded default (SQLite). Times are Unix seconds; ids are lowercase UUID strings.

-- Custodied user identities. sealed_secret is the envelope (docs/custody.md); deletion sets deleted_at and erases
-- sealed_secret, which destroys the only wrapped copy of the data key: the secret is unrecoverable (crypto-shredding).
CREATE TABLE keys (
    id            TEXT PRIMARY KEY,
    public_key    TEXT NOT NULL,
    sealed_secret BLOB,
    label         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    CHECK ((deleted_at IS NULL) = (sealed_secret IS NOT NULL))
);
CREATE UNIQUE INDEX keys_live_public_key ON keys (public_key) WHERE deleted_at IS NULL;

-- Named custom policies an operator defines once and grants to many authorizations.
CREATE TABLE policies (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- One app's access to one key. The connect secret and the access token are stored only as SHA-256 hashes.
-- client_public_key is pinned by the first successful connect (UPDATE ... WHERE client_public_key IS NULL).
-- revision increases on every change that caches must notice (revocation, pinning, logout).
CREATE TABLE authorizations (
    id                  TEXT PRIMARY KEY,
    key_id              TEXT NOT NULL REFERENCES keys (id),
    name                TEXT NOT NULL,
    bunker_public_key   TEXT NOT NULL UNIQUE,
    bunker_sealed_secret BLOB,
    secret_hash         BLOB,
    client_public_key   TEXT,
    policy              TEXT NOT NULL,
    relays              TEXT NOT NULL,
    expires_at          INTEGER,
    max_uses            INTEGER,
    uses                INTEGER NOT NULL DEFAULT 0,
    access_token_hash   BLOB NOT NULL UNIQUE,
    created_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    revision            INTEGER NOT NULL DEFAULT 1,
    CHECK ((revoked_at IS NULL) = (bunker_sealed_secret IS NOT NULL))
);
CREATE INDEX authorizations_key ON authorizations (key_id);

-- Every use of a key, never its content. Written in batches off the signing path.
CREATE TABLE audit_records (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at       INTEGER NOT NULL,
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

-- Small named values, such as the KEK canary sealed at initialisation.
CREATE TABLE custody_metadata (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
