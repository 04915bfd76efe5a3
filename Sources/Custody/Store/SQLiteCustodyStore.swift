import Logging
import NIOCore
import NostrCrypto
import SQLiteNIO

/// The embedded default store: one SQLite file in the data directory.
///
/// One connection, used by one operation at a time through an ``AsyncSerialLock``; SQLite runs on NIO's thread pool,
/// never on the cooperative pool. The file is opened with WAL journaling, foreign keys on, and `secure_delete`, so
/// the pages a deleted envelope occupied are overwritten with zeros rather than left for a forensic reader.
public final class SQLiteCustodyStore: CustodyStore {
    private let connection: SQLiteConnection
    private let lock = AsyncSerialLock()

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Opens (creating if needed) the database at `path`. `pageCacheMebibytes` replaces SQLite's 2 MB page cache:
    /// bulk seeding inserts into five B-trees at random places, and a cache that holds them halves its system time.
    public static func open(
        path: String, pageCacheMebibytes: Int? = nil, logger: Logger = Logger(label: "signer.custody.sqlite")
    ) async throws -> SQLiteCustodyStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw CustodyError(.storeUnavailable, "cannot open SQLite database \(path): \(error)")
        }
        let store = SQLiteCustodyStore(connection: connection)
        for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA secure_delete = ON", "PRAGMA busy_timeout = 5000"] {
            _ = try await store.run(pragma)
        }
        if let pageCacheMebibytes { _ = try await store.run("PRAGMA cache_size = -\(pageCacheMebibytes * 1024)") }
        return store
    }

    public func close() async throws {
        try await self.connection.close()
    }

    // MARK: Queries

    @discardableResult
    private func run(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        do {
            return try await self.connection.query(sql, binds)
        } catch let error as CustodyError {
            throw error
        } catch {
            throw CustodyError(.storeUnavailable, "SQLite query failed: \(Self.describe(error))")
        }
    }

    /// SQLite errors name the failing constraint or statement; they carry no bound values.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? SQLiteError { return error.message }
        return "\(type(of: error))"
    }

    private func serial<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await self.lock.withLock(body)
    }

    private func transaction<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await self.serial {
            try await self.run("BEGIN IMMEDIATE")
            do {
                let result = try await body()
                try await self.run("COMMIT")
                return result
            } catch {
                _ = try? await self.run("ROLLBACK")
                throw error
            }
        }
    }

    // MARK: Migrations

    @discardableResult
    public func migrate() async throws -> [Int] {
        try await self.transaction {
            try await self.run(Self.createMigrationsTable)
            let applied = Set(try await self.appliedVersions())
            var newlyApplied: [Int] = []
            for migration in Migration.sqlite where !applied.contains(migration.version) {
                for statement in SQLStatements.split(migration.sql) {
                    do {
                        try await self.run(statement)
                    } catch let error as CustodyError {
                        throw CustodyError(.migrationFailed, "migration \(migration.version)_\(migration.name) failed: \(error.description)")
                    }
                }
                try await self.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())",
                    [.integer(migration.version), .text(migration.name)]
                )
                newlyApplied.append(migration.version)
            }
            return newlyApplied
        }
    }

    static let createMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)
        """

    private func appliedVersions() async throws -> [Int] {
        try await self.run(Self.createMigrationsTable)
        return try await self.run("SELECT version FROM schema_migrations ORDER BY version").map { try $0.int("version") }
    }

    public func appliedMigrations() async throws -> [Int] {
        try await self.serial { try await self.appliedVersions() }
    }

    // MARK: Keys

    public func insertKey(_ key: KeyRecord) async throws {
        try await self.serial {
            do {
                _ = try await self.connection.query("INSERT INTO keys (\(Self.keyColumns)) VALUES \(Self.placeholders(rows: 1, columns: 6))", Self.binds(key))
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw CustodyError(.conflict, "a live key with this id or public key already exists")
            } catch {
                throw CustodyError(.storeUnavailable, "SQLite query failed: \(Self.describe(error))")
            }
        }
    }

    private static let keyColumns = "id, public_key, sealed_secret, label, created_at, deleted_at"

    public func key(id: String) async throws -> KeyRecord? {
        try await self.serial {
            try await self.run("SELECT \(Self.keyColumns) FROM keys WHERE id = ?", [.text(id)]).first.map(Self.keyRecord)
        }
    }

    public func keys(includeDeleted: Bool) async throws -> [KeyRecord] {
        try await self.serial {
            let filter = includeDeleted ? "" : " WHERE deleted_at IS NULL"
            return try await self.run("SELECT \(Self.keyColumns) FROM keys\(filter) ORDER BY created_at, id").map(Self.keyRecord)
        }
    }

    public func deleteKey(id: String, at time: Int64) async throws -> Bool {
        try await self.transaction {
            let deleted = try await self.run(
                "UPDATE keys SET deleted_at = ?, sealed_secret = NULL WHERE id = ? AND deleted_at IS NULL RETURNING id",
                [.integer(Int(time)), .text(id)]
            )
            guard !deleted.isEmpty else { return false }
            try await self.run(
                "UPDATE authorizations SET revoked_at = ?, bunker_sealed_secret = NULL, revision = revision + 1 WHERE key_id = ? AND revoked_at IS NULL",
                [.integer(Int(time)), .text(id)]
            )
            return true
        }
    }

    // MARK: Authorizations

    private static let authorizationColumns = """
        id, key_id, name, bunker_public_key, bunker_sealed_secret, secret_hash, client_public_key, policy, relays, \
        expires_at, max_uses, uses, access_token_hash, created_at, revoked_at, revision
        """

    public func insertAuthorization(_ authorization: AuthorizationRecord) async throws {
        try await self.serial {
            do {
                _ = try await self.connection.query(
                    "INSERT INTO authorizations (\(Self.authorizationColumns)) VALUES \(Self.placeholders(rows: 1, columns: 16))", Self.binds(authorization)
                )
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw CustodyError(.conflict, "cannot insert authorization: its key does not exist, or its id, bunker key or token is taken")
            } catch {
                throw CustodyError(.storeUnavailable, "SQLite query failed: \(Self.describe(error))")
            }
        }
    }

    /// Rows per multi-row INSERT (audit batches, seeding): within SQLite's oldest limit of 999 bound parameters.
    static func rowsPerStatement(columns: Int) -> Int { 999 / columns }

    public func insertBatch(keys: [KeyRecord], authorizations: [AuthorizationRecord]) async throws {
        do {
            try await self.transaction {
                for chunk in keys.chunks(of: Self.rowsPerStatement(columns: 6)) {
                    try await self.insertRows("keys", columns: Self.keyColumns, columnCount: 6, rows: chunk.count, chunk.flatMap(Self.binds))
                }
                for chunk in authorizations.chunks(of: Self.rowsPerStatement(columns: 16)) {
                    try await self.insertRows(
                        "authorizations", columns: Self.authorizationColumns, columnCount: 16, rows: chunk.count, chunk.flatMap(Self.binds)
                    )
                }
            }
        } catch let error as SQLiteError where error.isConstraintViolation {
            throw CustodyError(.conflict, "cannot insert the batch: a key or authorization conflicts with one stored, or names a missing key")
        }
    }

    /// One multi-row INSERT; constraint violations stay `SQLiteError`s for the caller to describe.
    private func insertRows(_ table: String, columns: String, columnCount: Int, rows: Int, _ binds: [SQLiteData]) async throws {
        do {
            _ = try await self.connection.query("INSERT INTO \(table) (\(columns)) VALUES \(Self.placeholders(rows: rows, columns: columnCount))", binds)
        } catch let error as SQLiteError where error.isConstraintViolation {
            throw error
        } catch {
            throw CustodyError(.storeUnavailable, "SQLite query failed: \(Self.describe(error))")
        }
    }

    static func placeholders(rows: Int, columns: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        return Array(repeating: row, count: rows).joined(separator: ", ")
    }

    private static func binds(_ key: KeyRecord) -> [SQLiteData] {
        [.text(key.id), .text(key.publicKey.hex), .blob(key.sealedSecret?.bytes), .text(key.label), .integer(Int(key.createdAt)), .integer(key.deletedAt.map(Int.init))]
    }

    private static func binds(_ authorization: AuthorizationRecord) -> [SQLiteData] {
        [.text(authorization.id), .text(authorization.keyID), .text(authorization.name),
         .text(authorization.bunkerPublicKey.hex), .blob(authorization.bunkerSealedSecret?.bytes),
         .blob(authorization.secretHash), .text(authorization.clientPublicKey?.hex), .text(authorization.policy),
         .text(RelayList.encode(authorization.relays)), .integer(authorization.expiresAt.map(Int.init)),
         .integer(authorization.maxUses.map(Int.init)), .integer(Int(authorization.uses)),
         .blob(authorization.accessTokenHash), .integer(Int(authorization.createdAt)),
         .integer(authorization.revokedAt.map(Int.init)), .integer(Int(authorization.revision))]
    }

    public func authorization(id: String) async throws -> AuthorizationRecord? {
        try await self.authorization(where: "id = ?", .text(id))
    }

    public func authorization(bunkerPublicKey: String) async throws -> AuthorizationRecord? {
        try await self.authorization(where: "bunker_public_key = ?", .text(bunkerPublicKey))
    }

    public func authorization(accessTokenHash: [UInt8]) async throws -> AuthorizationRecord? {
        try await self.authorization(where: "access_token_hash = ?", .blob(accessTokenHash))
    }

    private func authorization(where condition: String, _ value: SQLiteData) async throws -> AuthorizationRecord? {
        try await self.serial {
            try await self.run("SELECT \(Self.authorizationColumns) FROM authorizations WHERE \(condition)", [value])
                .first.map(Self.authorizationRecord)
        }
    }

    public func authorizations(keyID: String?) async throws -> [AuthorizationRecord] {
        try await self.serial {
            let rows: [SQLiteRow]
            if let keyID {
                rows = try await self.run(
                    "SELECT \(Self.authorizationColumns) FROM authorizations WHERE key_id = ? ORDER BY created_at, id", [.text(keyID)])
            } else {
                rows = try await self.run("SELECT \(Self.authorizationColumns) FROM authorizations ORDER BY created_at, id")
            }
            return try rows.map(Self.authorizationRecord)
        }
    }

    public func pinClient(authorizationID: String, clientPublicKey: String, secretHash: [UInt8], now: Int64) async throws -> PinOutcome {
        try await self.serial {
            // One statement decides: only the first connect with the right secret, on a usable authorization, wins.
            // The comparison is on a SHA-256 of a 256-bit random secret, so its timing reveals nothing useful.
            let pinned = try await self.run(
                """
                UPDATE authorizations SET client_public_key = ?, secret_hash = NULL, revision = revision + 1
                WHERE id = ? AND client_public_key IS NULL AND secret_hash = ? AND revoked_at IS NULL
                  AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)
                RETURNING revision
                """,
                [.text(clientPublicKey), .text(authorizationID), .blob(secretHash), .integer(Int(now))]
            )
            if let row = pinned.first {
                return .pinned(revision: try row.int64("revision"))
            }
            let current = try await self.run(
                """
                SELECT client_public_key FROM authorizations WHERE id = ? AND revoked_at IS NULL
                  AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)
                """,
                [.text(authorizationID), .integer(Int(now))]
            )
            if current.first?.column("client_public_key")?.string == clientPublicKey {
                return .alreadyPinned
            }
            return .refused
        }
    }

    public func unpinClient(authorizationID: String, clientPublicKey: String) async throws -> Bool {
        try await self.serial {
            !(try await self.run(
                "UPDATE authorizations SET client_public_key = NULL, revision = revision + 1 WHERE id = ? AND client_public_key = ? RETURNING id",
                [.text(authorizationID), .text(clientPublicKey)]
            )).isEmpty
        }
    }

    public func revokeAuthorization(id: String, at time: Int64) async throws -> Bool {
        try await self.serial {
            !(try await self.run(
                "UPDATE authorizations SET revoked_at = ?, bunker_sealed_secret = NULL, revision = revision + 1 WHERE id = ? AND revoked_at IS NULL RETURNING id",
                [.integer(Int(time)), .text(id)]
            )).isEmpty
        }
    }

    public func recordUse(authorizationID: String, now: Int64) async throws -> UseOutcome {
        try await self.serial {
            let rows = try await self.run(
                """
                UPDATE authorizations SET uses = uses + 1
                WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)
                RETURNING uses
                """,
                [.text(authorizationID), .integer(Int(now))]
            )
            guard let row = rows.first else { return .refused }
            return .counted(uses: try row.int64("uses"))
        }
    }

    public func activeBunkerPublicKeys(after cursor: String?, limit: Int) async throws -> [String] {
        try await self.serial {
            try await self.run(
                "SELECT bunker_public_key FROM authorizations WHERE revoked_at IS NULL AND bunker_public_key > ? ORDER BY bunker_public_key LIMIT ?",
                [.text(cursor ?? ""), .integer(limit)]
            ).map { try $0.string("bunker_public_key") }
        }
    }

    public func activeBunkersWithOwnRelays() async throws -> [(bunkerPublicKey: String, relays: [String])] {
        try await self.serial {
            // The literal '[]' (an empty relay list) matches the partial index's WHERE clause, which a bound value would
            // not; without statistics the planner would still rather walk the larger active-bunkers index, so it is named.
            try await self.run(
                """
                SELECT bunker_public_key, relays FROM authorizations INDEXED BY authorizations_own_relays
                WHERE revoked_at IS NULL AND relays <> '[]' ORDER BY bunker_public_key
                """
            ).map { (try $0.string("bunker_public_key"), try RelayList.decode(try $0.string("relays"))) }
        }
    }

    // MARK: Policies

    public func insertPolicy(name: String, definition: String, at time: Int64) async throws -> Bool {
        try await self.serial {
            !(try await self.run(
                "INSERT INTO policies (name, definition, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                [.text(name), .text(definition), .integer(Int(time))]
            )).isEmpty
        }
    }

    public func policyDefinition(name: String) async throws -> String? {
        try await self.serial {
            try await self.run("SELECT definition FROM policies WHERE name = ?", [.text(name)]).first.map { try $0.string("definition") }
        }
    }

    public func policyNames() async throws -> [String] {
        try await self.serial {
            try await self.run("SELECT name FROM policies ORDER BY name").map { try $0.string("name") }
        }
    }

    // MARK: Sealed secrets (rotation)

    public func sealedSecrets(after cursor: SealedSecretCursor?, limit: Int) async throws -> [SealedSecretRow] {
        try await self.serial {
            var rows: [SealedSecretRow] = []
            if cursor == nil || cursor?.table == .keys {
                rows += try await self.run(
                    "SELECT id, public_key, sealed_secret FROM keys WHERE sealed_secret IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                    [.text(cursor?.rowID ?? ""), .integer(limit)]
                ).map { try Self.sealedRow($0, table: .keys, publicKeyColumn: "public_key", secretColumn: "sealed_secret") }
            }
            if rows.count < limit {
                let after = cursor?.table == .authorizations ? cursor!.rowID : ""
                rows += try await self.run(
                    "SELECT id, bunker_public_key, bunker_sealed_secret FROM authorizations WHERE bunker_sealed_secret IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                    [.text(after), .integer(limit - rows.count)]
                ).map { try Self.sealedRow($0, table: .authorizations, publicKeyColumn: "bunker_public_key", secretColumn: "bunker_sealed_secret") }
            }
            return rows
        }
    }

    public func replaceSealedSecret(_ row: SealedSecretRow, with replacement: SealedSecret) async throws -> Bool {
        try await self.serial {
            let sql = row.table == .keys
                ? "UPDATE keys SET sealed_secret = ? WHERE id = ? AND sealed_secret = ? RETURNING id"
                : "UPDATE authorizations SET bunker_sealed_secret = ? WHERE id = ? AND bunker_sealed_secret = ? RETURNING id"
            return !(try await self.run(sql, [.blob(replacement.bytes), .text(row.rowID), .blob(row.sealed.bytes)])).isEmpty
        }
    }

    public func hasSealedSecrets() async throws -> Bool {
        try await self.serial {
            let rows = try await self.run(
                "SELECT EXISTS (SELECT 1 FROM keys WHERE sealed_secret IS NOT NULL) OR EXISTS (SELECT 1 FROM authorizations WHERE bunker_sealed_secret IS NOT NULL) AS present"
            )
            return try rows.first?.int("present") == 1
        }
    }

    // MARK: Audit

    public func appendAudit(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        // A few multi-row statements per batch: each statement is a trip through SQLiteNIO's thread, and one per
        // record cost more than the signatures they describe under load.
        try await self.transaction {
            for chunk in records.chunks(of: Self.rowsPerStatement(columns: 9)) {
                let placeholders = Self.placeholders(rows: chunk.count, columns: 9)
                var binds: [SQLiteData] = []
                binds.reserveCapacity(chunk.count * 9)
                for record in chunk {
                    binds += [
                        .integer(Int(record.recordedAt)), .text(record.keyID), .text(record.authorizationID), .text(record.path.rawValue),
                        .text(record.method), .integer(record.kind), .text(record.eventID), .text(record.clientPublicKey), .text(record.outcome),
                    ]
                }
                try await self.run(
                    "INSERT INTO audit_records (recorded_at, key_id, authorization_id, path, method, kind, event_id, client_public_key, outcome) VALUES "
                        + placeholders,
                    binds
                )
            }
        }
    }

    public func audit(keyID: String?, authorizationID: String?, limit: Int) async throws -> [AuditRecord] {
        try await self.serial {
            var conditions: [String] = []
            var binds: [SQLiteData] = []
            if let keyID {
                conditions.append("key_id = ?")
                binds.append(.text(keyID))
            }
            if let authorizationID {
                conditions.append("authorization_id = ?")
                binds.append(.text(authorizationID))
            }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            binds.append(.integer(limit))
            return try await self.run(
                """
                SELECT id, recorded_at, key_id, authorization_id, path, method, kind, event_id, client_public_key, outcome
                FROM audit_records\(filter) ORDER BY id DESC LIMIT ?
                """,
                binds
            ).map(Self.auditRecord)
        }
    }

    // MARK: Metadata

    public func metadata(name: String) async throws -> [UInt8]? {
        try await self.serial {
            try await self.run("SELECT value FROM custody_metadata WHERE name = ?", [.text(name)]).first.map { try $0.bytes("value") }
        }
    }

    public func insertMetadata(name: String, value: [UInt8]) async throws -> Bool {
        try await self.serial {
            !(try await self.run(
                "INSERT INTO custody_metadata (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                [.text(name), .blob(value)]
            )).isEmpty
        }
    }

    public func replaceMetadata(name: String, expected: [UInt8], with value: [UInt8]) async throws -> Bool {
        try await self.serial {
            !(try await self.run(
                "UPDATE custody_metadata SET value = ? WHERE name = ? AND value = ? RETURNING name",
                [.blob(value), .text(name), .blob(expected)]
            )).isEmpty
        }
    }

    // MARK: Row decoding

    private static func keyRecord(_ row: SQLiteRow) throws -> KeyRecord {
        KeyRecord(
            id: try row.string("id"),
            publicKey: try row.publicKey("public_key"),
            sealedSecret: try row.optionalBytes("sealed_secret").map(SealedSecret.init(bytes:)),
            label: try row.string("label"),
            createdAt: try row.int64("created_at"),
            deletedAt: row.optionalInt64("deleted_at")
        )
    }

    private static func authorizationRecord(_ row: SQLiteRow) throws -> AuthorizationRecord {
        AuthorizationRecord(
            id: try row.string("id"),
            keyID: try row.string("key_id"),
            name: try row.string("name"),
            bunkerPublicKey: try row.publicKey("bunker_public_key"),
            bunkerSealedSecret: try row.optionalBytes("bunker_sealed_secret").map(SealedSecret.init(bytes:)),
            secretHash: try row.optionalBytes("secret_hash"),
            clientPublicKey: try row.column("client_public_key")?.string.map { try PublicKey(hex: $0) },
            policy: try row.string("policy"),
            relays: try RelayList.decode(try row.string("relays")),
            expiresAt: row.optionalInt64("expires_at"),
            maxUses: row.optionalInt64("max_uses"),
            uses: try row.int64("uses"),
            accessTokenHash: try row.bytes("access_token_hash"),
            createdAt: try row.int64("created_at"),
            revokedAt: row.optionalInt64("revoked_at"),
            revision: try row.int64("revision")
        )
    }

    private static func auditRecord(_ row: SQLiteRow) throws -> AuditRecord {
        guard let path = AuditPath(rawValue: try row.string("path")) else {
            throw CustodyError(.storeUnavailable, "audit record has an unknown path")
        }
        return AuditRecord(
            sequence: try row.int64("id"),
            recordedAt: try row.int64("recorded_at"),
            keyID: try row.string("key_id"),
            authorizationID: row.column("authorization_id")?.string,
            path: path,
            method: try row.string("method"),
            kind: row.column("kind")?.integer,
            eventID: row.column("event_id")?.string,
            clientPublicKey: row.column("client_public_key")?.string,
            outcome: try row.string("outcome")
        )
    }

    private static func sealedRow(_ row: SQLiteRow, table: SealedSecretRow.Table, publicKeyColumn: String, secretColumn: String) throws -> SealedSecretRow {
        SealedSecretRow(
            table: table,
            rowID: try row.string("id"),
            publicKey: try row.publicKey(publicKeyColumn),
            sealed: try SealedSecret(bytes: try row.bytes(secretColumn))
        )
    }
}

/// Relay lists are stored as a JSON array of strings.
enum RelayList {
    static func encode(_ relays: [String]) -> String {
        JSONValue.array(relays.map(JSONValue.string)).serialized()
    }

    static func decode(_ text: String) throws -> [String] {
        guard let array = try? JSONValue.parse(text).arrayValue else {
            throw CustodyError(.storeUnavailable, "stored relay list is not a JSON array")
        }
        return try array.map { value in
            guard let relay = value.stringValue else { throw CustodyError(.storeUnavailable, "stored relay list holds a non-string") }
            return relay
        }
    }
}

extension SQLiteError {
    var isConstraintViolation: Bool {
        switch self.reason {
        case .constraint, .constraintCheckFailed, .constraintForeignKeyFailed, .constraintNotNullFailed,
            .constraintPrimaryKeyFailed, .constraintUniqueFailed, .constraintUniqueRowIDFailed:
            true
        default:
            false
        }
    }
}

extension SQLiteData {
    static func text(_ value: String?) -> SQLiteData { value.map(SQLiteData.text) ?? .null }
    static func integer(_ value: Int?) -> SQLiteData { value.map(SQLiteData.integer) ?? .null }
    static func blob(_ value: [UInt8]?) -> SQLiteData { value.map { .blob(ByteBuffer(bytes: $0)) } ?? .null }
}

extension SQLiteRow {
    private func missing(_ name: String) -> CustodyError {
        CustodyError(.storeUnavailable, "stored row lacks a valid \(name)")
    }

    func string(_ name: String) throws -> String {
        guard let value = self.column(name)?.string else { throw self.missing(name) }
        return value
    }

    func int(_ name: String) throws -> Int {
        guard let value = self.column(name)?.integer else { throw self.missing(name) }
        return value
    }

    func int64(_ name: String) throws -> Int64 { Int64(try self.int(name)) }

    func optionalInt64(_ name: String) -> Int64? { self.column(name)?.integer.map(Int64.init) }

    func bytes(_ name: String) throws -> [UInt8] {
        guard let value = try self.optionalBytes(name) else { throw self.missing(name) }
        return value
    }

    func optionalBytes(_ name: String) throws -> [UInt8]? {
        guard let data = self.column(name), !data.isNull else { return nil }
        guard let buffer = data.blob else { throw self.missing(name) }
        return Array(buffer.readableBytesView)
    }

    func publicKey(_ name: String) throws -> PublicKey {
        guard let key = try? PublicKey(hex: try self.string(name)) else { throw self.missing(name) }
        return key
    }
}
