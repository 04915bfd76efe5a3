/// Where custody state lives. Two implementations share one contract test suite: ``SQLiteCustodyStore`` (the
/// embedded default) and a PostgreSQL store.
///
/// Every operation that decides who may use a key is a single atomic statement (pinning a client, counting a use,
/// revoking), so concurrent instances sharing one database cannot race past each other.
public protocol CustodyStore: Sendable {
    /// Applies pending migrations; returns the versions applied by this call.
    @discardableResult
    func migrate() async throws -> [Int]
    /// The migration versions recorded as applied.
    func appliedMigrations() async throws -> [Int]

    func insertKey(_ key: KeyRecord) async throws
    func key(id: String) async throws -> KeyRecord?
    func keys(includeDeleted: Bool) async throws -> [KeyRecord]
    /// Crypto-shreds a key (erases its envelope) and revokes its authorizations (erasing their bunker envelopes), in one
    /// transaction. Returns `false` if the key does not exist or is already deleted.
    func deleteKey(id: String, at time: Int64) async throws -> Bool

    func insertAuthorization(_ authorization: AuthorizationRecord) async throws
    /// Inserts keys, then authorizations, in one transaction: all of them or none (bulk seeding, `signer seed`).
    func insertBatch(keys: [KeyRecord], authorizations: [AuthorizationRecord]) async throws
    func authorization(id: String) async throws -> AuthorizationRecord?
    func authorization(bunkerPublicKey: String) async throws -> AuthorizationRecord?
    func authorization(accessTokenHash: [UInt8]) async throws -> AuthorizationRecord?
    func authorizations(keyID: String?) async throws -> [AuthorizationRecord]
    /// Pins `clientPublicKey` if `secretHash` matches and no client is pinned, burning the secret; atomically.
    func pinClient(authorizationID: String, clientPublicKey: String, secretHash: [UInt8], now: Int64) async throws -> PinOutcome
    /// Forgets the pinned client (NIP-46 `logout`). The secret stays burned, so reconnecting needs a new authorization.
    func unpinClient(authorizationID: String, clientPublicKey: String) async throws -> Bool
    /// Revokes and erases the bunker envelope. Returns `false` if absent or already revoked.
    func revokeAuthorization(id: String, at time: Int64) async throws -> Bool
    /// Counts one use if the authorization is usable at `now`; atomically against its limit.
    func recordUse(authorizationID: String, now: Int64) async throws -> UseOutcome
    /// Bunker public keys of authorizations that are not revoked, in ascending order, the first `limit` after
    /// `cursor` (keyset pagination on the partial index of active bunker keys, so a million are read a page at a time).
    func activeBunkerPublicKeys(after cursor: String?, limit: Int) async throws -> [String]
    /// Bunker public keys and relays of the authorizations that are not revoked and name relays of their own (the
    /// NIP-46 service listens there too), ordered by bunker key. Reads two columns of just those rows.
    func activeBunkersWithOwnRelays() async throws -> [(bunkerPublicKey: String, relays: [String])]

    /// Stores a named custom policy definition (JSON). Returns `false` if the name exists.
    func insertPolicy(name: String, definition: String, at time: Int64) async throws -> Bool
    func policyDefinition(name: String) async throws -> String?
    func policyNames() async throws -> [String]

    /// Sealed secrets in a stable order, after `cursor` (KEK rotation pages through them).
    func sealedSecrets(after cursor: SealedSecretCursor?, limit: Int) async throws -> [SealedSecretRow]
    /// Replaces a sealed secret only if it still holds `expected` (compare-and-swap, so rotation is safe online).
    func replaceSealedSecret(_ row: SealedSecretRow, with replacement: SealedSecret) async throws -> Bool
    /// Whether any sealed secret exists (start-up refuses a missing KEK file then).
    func hasSealedSecrets() async throws -> Bool

    func appendAudit(_ records: [AuditRecord]) async throws
    /// Newest first.
    func audit(keyID: String?, authorizationID: String?, limit: Int) async throws -> [AuditRecord]

    func metadata(name: String) async throws -> [UInt8]?
    /// Sets a value unless one exists; returns whether it was set.
    func insertMetadata(name: String, value: [UInt8]) async throws -> Bool
    /// Replaces a value only if it still equals `expected` (compare-and-swap); returns whether it was replaced.
    func replaceMetadata(name: String, expected: [UInt8], with value: [UInt8]) async throws -> Bool

    func close() async throws
}

/// A position in ``CustodyStore/sealedSecrets(after:limit:)``: keys first, then authorizations, each by id.
public struct SealedSecretCursor: Sendable, Hashable {
    public let table: SealedSecretRow.Table
    public let rowID: String

    public init(table: SealedSecretRow.Table, rowID: String) {
        self.table = table
        self.rowID = rowID
    }
}

/// One forward-only schema change.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String
}
