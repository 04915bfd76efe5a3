import Logging
import NIOCore
import NIOPosix
import NostrCrypto
import PostgresNIO

/// The production store: PostgreSQL through postgres-nio's pooled `PostgresClient`.
///
/// Every value is bound through `PostgresQuery` interpolation, never concatenated; only migration statements run as
/// unsafe SQL. The client's connection pool runs in a task this store owns (``close()`` ends it). Every operation
/// has a deadline, so a database that is down gives a clear error within `operationTimeout` instead of a hang, and
/// the same store works again as soon as the database is back: the pool reconnects on its own.
public final class PostgresCustodyStore: CustodyStore {
    private let client: PostgresClient
    private let location: PostgresURL
    private let runner: Task<Void, Never>
    private let operationTimeout: Duration
    private let logger: Logger

    /// Serialises migrations across replicas: every instance takes this advisory lock before migrating.
    static let migrationLockKey: Int64 = 0x6E73_6967_6E65_7201  // "nsigner" + 1

    private init(client: PostgresClient, location: PostgresURL, operationTimeout: Duration, logger: Logger) {
        self.client = client
        self.location = location
        self.operationTimeout = operationTimeout
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    /// Connects to `postgres://user:password@host:port/database[?sslmode=disable|require]` (also `postgresql://`).
    public static func connect(
        url: String,
        operationTimeout: Duration = .seconds(5),
        maximumConnections: Int = 20,
        logger: Logger = Logger(label: "signer.custody.postgres")
    ) throws -> PostgresCustodyStore {
        let location = try PostgresURL(url)
        var configuration = location.clientConfiguration
        configuration.options.connectTimeout = operationTimeout
        configuration.options.maximumConnections = maximumConnections
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return PostgresCustodyStore(client: client, location: location, operationTimeout: operationTimeout, logger: logger)
    }

    public func close() async throws {
        self.runner.cancel()
        await self.runner.value
    }

    // MARK: Queries

    /// Runs `body` with the operation deadline, turning every failure into a ``CustodyError`` without bound values.
    private func perform<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let timeout = self.operationTimeout
        do {
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw CustodyError(.storeUnavailable, "PostgreSQL did not answer within \(timeout)\(await self.diagnosis())")
                }
                return result
            }
        } catch let error as CustodyError {
            throw error
        } catch let error as PSQLError {
            throw Self.translate(error)
        } catch let error as PostgresTransactionError {
            // What failed inside the transaction (a constraint, the connection), not the wrapper's name.
            switch error.closureError ?? error.beginError ?? error.commitError {
            case let cause as PSQLError: throw Self.translate(cause)
            case let cause as CustodyError: throw cause
            default: throw CustodyError(.storeUnavailable, "PostgreSQL transaction failed")
            }
        } catch is CancellationError {
            throw CustodyError(.storeUnavailable, "PostgreSQL operation cancelled")
        } catch {
            throw CustodyError(.storeUnavailable, "PostgreSQL operation failed: \(type(of: error))")
        }
    }

    /// Why the pool has no connection, found by one direct connection attempt: the pool retries quietly and a time-out
    /// alone would hide a wrong database name or password. Returns "" when the server answers now.
    private func diagnosis() async -> String {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try self.location.connectionConfiguration, id: 0, logger: self.logger
            )
            try? await connection.close()
            return ""
        } catch let error as PSQLError {
            if let state = error.serverInfo?[.sqlState], let message = error.serverInfo?[.message] {
                return ": \(message) (SQLSTATE \(state))"
            }
            return ": cannot connect to \(self.location.host):\(self.location.port) (\(Self.reason(error)))"
        } catch {
            return ": cannot connect to \(self.location.host):\(self.location.port)"
        }
    }

    /// The socket-level reason behind a connection failure ("Connection refused"), else the error code's name.
    private static func reason(_ error: PSQLError) -> String {
        if let connection = error.underlying as? NIOConnectionError,
            let io = connection.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first
        {
            return String(cString: strerror(io.errnoCode))
        }
        if let io = error.underlying as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error.code)"
    }

    static func translate(_ error: PSQLError) -> CustodyError {
        let state = error.serverInfo?[.sqlState]
        if state == PostgresError.Code.uniqueViolation.raw || state == PostgresError.Code.foreignKeyViolation.raw
            || state == PostgresError.Code.checkViolation.raw
        {
            return CustodyError(.conflict, "constraint violated (SQLSTATE \(state!))")
        }
        if let state, let message = error.serverInfo?[.message] {
            // Server messages name the object or the statement; they never contain bound parameter values.
            return CustodyError(.storeUnavailable, "PostgreSQL error \(state): \(message)")
        }
        return CustodyError(.storeUnavailable, "cannot reach PostgreSQL (\(error.code))")
    }

    private func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await self.perform { [client] in
            var rows: [PostgresRow] = []
            for try await row in try await client.query(query) { rows.append(row) }
            return rows
        }
    }

    // MARK: Migrations

    @discardableResult
    public func migrate() async throws -> [Int] {
        try await self.perform { [client, logger] in
            try await client.withConnection { connection in
                _ = try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLockKey))", logger: logger)
                do {
                    let applied = try await Self.migrate(on: connection, logger: logger)
                    _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLockKey))", logger: logger)
                    return applied
                } catch {
                    _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLockKey))", logger: logger)
                    throw error
                }
            }
        }
    }

    private static func migrate(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        _ = try await connection.query(PostgresQuery(unsafeSQL: Self.createMigrationsTable), logger: logger)
        var applied: Set<Int> = []
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            applied.insert(version)
        }
        var newlyApplied: [Int] = []
        for migration in Migration.postgres where !applied.contains(migration.version) {
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in SQLStatements.split(migration.sql) {
                        _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    _ = try await connection.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), extract(epoch from now())::bigint)",
                        logger: logger
                    )
                }
            } catch let error as PSQLError {
                throw CustodyError(.migrationFailed, "migration \(migration.version)_\(migration.name) failed: \(Self.translate(error).description)")
            }
            newlyApplied.append(migration.version)
        }
        return newlyApplied
    }

    static let createMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)
        """

    public func appliedMigrations() async throws -> [Int] {
        _ = try await self.rows(PostgresQuery(unsafeSQL: Self.createMigrationsTable))
        return try await self.rows("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self) }
    }

    // MARK: Keys

    public func insertKey(_ key: KeyRecord) async throws {
        do {
            _ = try await self.rows(
                """
                INSERT INTO keys (id, public_key, sealed_secret, label, created_at, deleted_at)
                VALUES (\(key.id), \(key.publicKey.hex), \(key.sealedSecret.map { ByteBuffer(bytes: $0.bytes) }), \(key.label), \(key.createdAt), \(key.deletedAt))
                """
            )
        } catch let error as CustodyError where error.code == .conflict {
            throw CustodyError(.conflict, "a live key with this id or public key already exists")
        }
    }

    public func key(id: String) async throws -> KeyRecord? {
        try await self.rows("SELECT id, public_key, sealed_secret, label, created_at, deleted_at FROM keys WHERE id = \(id)").first.map(Self.keyRecord)
    }

    public func keys(includeDeleted: Bool) async throws -> [KeyRecord] {
        try await self.rows(
            "SELECT id, public_key, sealed_secret, label, created_at, deleted_at FROM keys WHERE \(includeDeleted) OR deleted_at IS NULL ORDER BY created_at, id"
        ).map(Self.keyRecord)
    }

    public func deleteKey(id: String, at time: Int64) async throws -> Bool {
        try await self.perform { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let deleted = try await connection.query(
                    "UPDATE keys SET deleted_at = \(time), sealed_secret = NULL WHERE id = \(id) AND deleted_at IS NULL RETURNING id", logger: logger
                ).collect()
                guard !deleted.isEmpty else { return false }
                _ = try await connection.query(
                    """
                    UPDATE authorizations SET revoked_at = \(time), bunker_sealed_secret = NULL, revision = revision + 1
                    WHERE key_id = \(id) AND revoked_at IS NULL
                    """,
                    logger: logger
                )
                return true
            }
        }
    }

    // MARK: Authorizations

    private static let authorizationColumns = """
        id, key_id, name, bunker_public_key, bunker_sealed_secret, secret_hash, client_public_key, policy, relays, \
        expires_at, max_uses, uses, access_token_hash, created_at, revoked_at, revision
        """

    public func insertAuthorization(_ authorization: AuthorizationRecord) async throws {
        let sealed = authorization.bunkerSealedSecret.map { ByteBuffer(bytes: $0.bytes) }
        let secretHash = authorization.secretHash.map { ByteBuffer(bytes: $0) }
        do {
            _ = try await self.rows(
                """
                INSERT INTO authorizations (id, key_id, name, bunker_public_key, bunker_sealed_secret, secret_hash, client_public_key,
                    policy, relays, expires_at, max_uses, uses, access_token_hash, created_at, revoked_at, revision)
                VALUES (\(authorization.id), \(authorization.keyID), \(authorization.name), \(authorization.bunkerPublicKey.hex), \(sealed),
                    \(secretHash), \(authorization.clientPublicKey?.hex), \(authorization.policy), \(RelayList.encode(authorization.relays)),
                    \(authorization.expiresAt), \(authorization.maxUses), \(authorization.uses), \(ByteBuffer(bytes: authorization.accessTokenHash)),
                    \(authorization.createdAt), \(authorization.revokedAt), \(authorization.revision))
                """
            )
        } catch let error as CustodyError where error.code == .conflict {
            throw CustodyError(.conflict, "cannot insert authorization: its key does not exist, or its id, bunker key or token is taken")
        }
    }

    /// Rows per INSERT when seeding: each statement binds one array per column.
    static let rowsPerBatchStatement = 5_000

    public func insertBatch(keys: [KeyRecord], authorizations: [AuthorizationRecord]) async throws {
        // unnest over parallel arrays, as appendAudit does: arrays of optionals cannot be bound, so absent values
        // travel as '' (text), an empty bytea and -1 (never valid here) and NULLIF restores them.
        let noBytes = ByteBuffer()
        do {
            try await self.perform { [client, logger] in
                try await client.withTransaction(logger: logger) { connection in
                    for chunk in keys.chunks(of: Self.rowsPerBatchStatement) {
                        _ = try await connection.query(
                            """
                            INSERT INTO keys (id, public_key, sealed_secret, label, created_at, deleted_at)
                            SELECT id, public_key, NULLIF(sealed_secret, ''::bytea), label, created_at, NULLIF(deleted_at, -1)
                            FROM unnest(\(chunk.map(\.id))::text[], \(chunk.map(\.publicKey.hex))::text[],
                                \(chunk.map { $0.sealedSecret.map { ByteBuffer(bytes: $0.bytes) } ?? noBytes })::bytea[], \(chunk.map(\.label))::text[],
                                \(chunk.map(\.createdAt))::bigint[], \(chunk.map { $0.deletedAt ?? -1 })::bigint[])
                                AS batch(id, public_key, sealed_secret, label, created_at, deleted_at)
                            """,
                            logger: logger
                        )
                    }
                    for chunk in authorizations.chunks(of: Self.rowsPerBatchStatement) {
                        _ = try await connection.query(
                            """
                            INSERT INTO authorizations (\(unescaped: Self.authorizationColumns))
                            SELECT id, key_id, name, bunker_public_key, NULLIF(bunker_sealed_secret, ''::bytea), NULLIF(secret_hash, ''::bytea),
                                NULLIF(client_public_key, ''), policy, relays, NULLIF(expires_at, -1), NULLIF(max_uses, -1), uses,
                                access_token_hash, created_at, NULLIF(revoked_at, -1), revision
                            FROM unnest(\(chunk.map(\.id))::text[], \(chunk.map(\.keyID))::text[], \(chunk.map(\.name))::text[],
                                \(chunk.map(\.bunkerPublicKey.hex))::text[],
                                \(chunk.map { $0.bunkerSealedSecret.map { ByteBuffer(bytes: $0.bytes) } ?? noBytes })::bytea[],
                                \(chunk.map { $0.secretHash.map { ByteBuffer(bytes: $0) } ?? noBytes })::bytea[],
                                \(chunk.map { $0.clientPublicKey?.hex ?? "" })::text[], \(chunk.map(\.policy))::text[],
                                \(chunk.map { RelayList.encode($0.relays) })::text[], \(chunk.map { $0.expiresAt ?? -1 })::bigint[],
                                \(chunk.map { $0.maxUses ?? -1 })::bigint[], \(chunk.map(\.uses))::bigint[],
                                \(chunk.map { ByteBuffer(bytes: $0.accessTokenHash) })::bytea[], \(chunk.map(\.createdAt))::bigint[],
                                \(chunk.map { $0.revokedAt ?? -1 })::bigint[], \(chunk.map(\.revision))::bigint[])
                                AS batch(id, key_id, name, bunker_public_key, bunker_sealed_secret, secret_hash, client_public_key, policy, relays,
                                    expires_at, max_uses, uses, access_token_hash, created_at, revoked_at, revision)
                            """,
                            logger: logger
                        )
                    }
                }
            }
        } catch let error as CustodyError where error.code == .conflict {
            throw CustodyError(.conflict, "cannot insert the batch: a key or authorization conflicts with one stored, or names a missing key")
        }
    }

    public func authorization(id: String) async throws -> AuthorizationRecord? {
        try await self.rows("SELECT \(unescaped: Self.authorizationColumns) FROM authorizations WHERE id = \(id)").first.map(Self.authorizationRecord)
    }

    public func authorization(bunkerPublicKey: String) async throws -> AuthorizationRecord? {
        try await self.rows("SELECT \(unescaped: Self.authorizationColumns) FROM authorizations WHERE bunker_public_key = \(bunkerPublicKey)")
            .first.map(Self.authorizationRecord)
    }

    public func authorization(accessTokenHash: [UInt8]) async throws -> AuthorizationRecord? {
        try await self.rows(
            "SELECT \(unescaped: Self.authorizationColumns) FROM authorizations WHERE access_token_hash = \(ByteBuffer(bytes: accessTokenHash))"
        ).first.map(Self.authorizationRecord)
    }

    public func authorizations(keyID: String?) async throws -> [AuthorizationRecord] {
        try await self.rows(
            "SELECT \(unescaped: Self.authorizationColumns) FROM authorizations WHERE \(keyID)::text IS NULL OR key_id = \(keyID) ORDER BY created_at, id"
        ).map(Self.authorizationRecord)
    }

    public func pinClient(authorizationID: String, clientPublicKey: String, secretHash: [UInt8], now: Int64) async throws -> PinOutcome {
        // One statement decides, as in the SQLite store: only the first connect with the right secret wins.
        let pinned = try await self.rows(
            """
            UPDATE authorizations SET client_public_key = \(clientPublicKey), secret_hash = NULL, revision = revision + 1
            WHERE id = \(authorizationID) AND client_public_key IS NULL AND secret_hash = \(ByteBuffer(bytes: secretHash))
              AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(now)) AND (max_uses IS NULL OR uses < max_uses)
            RETURNING revision
            """
        )
        if let row = pinned.first {
            return .pinned(revision: try row.decode(Int64.self))
        }
        let current = try await self.rows(
            """
            SELECT client_public_key FROM authorizations WHERE id = \(authorizationID) AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > \(now)) AND (max_uses IS NULL OR uses < max_uses)
            """
        )
        if let row = current.first, try row.decode(String?.self) == clientPublicKey {
            return .alreadyPinned
        }
        return .refused
    }

    public func unpinClient(authorizationID: String, clientPublicKey: String) async throws -> Bool {
        !(try await self.rows(
            """
            UPDATE authorizations SET client_public_key = NULL, revision = revision + 1
            WHERE id = \(authorizationID) AND client_public_key = \(clientPublicKey) RETURNING id
            """
        )).isEmpty
    }

    public func revokeAuthorization(id: String, at time: Int64) async throws -> Bool {
        !(try await self.rows(
            """
            UPDATE authorizations SET revoked_at = \(time), bunker_sealed_secret = NULL, revision = revision + 1
            WHERE id = \(id) AND revoked_at IS NULL RETURNING id
            """
        )).isEmpty
    }

    public func recordUse(authorizationID: String, now: Int64) async throws -> UseOutcome {
        let rows = try await self.rows(
            """
            UPDATE authorizations SET uses = uses + 1
            WHERE id = \(authorizationID) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(now))
              AND (max_uses IS NULL OR uses < max_uses)
            RETURNING uses
            """
        )
        guard let row = rows.first else { return .refused }
        return .counted(uses: try row.decode(Int64.self))
    }

    public func activeBunkerPublicKeys(after cursor: String?, limit: Int) async throws -> [String] {
        // Lowercase hex of one length sorts the same in every collation, so the partial index of active bunker keys
        // (migration 0002) serves the cursor and the order.
        try await self.rows(
            """
            SELECT bunker_public_key FROM authorizations
            WHERE revoked_at IS NULL AND bunker_public_key > \(cursor ?? "") ORDER BY bunker_public_key LIMIT \(limit)
            """
        ).map { try $0.decode(String.self) }
    }

    public func activeBunkersWithOwnRelays() async throws -> [(bunkerPublicKey: String, relays: [String])] {
        try await self.rows(
            // The literal '[]' (an empty relay list) matches the partial index's WHERE clause in every plan.
            "SELECT bunker_public_key, relays FROM authorizations WHERE revoked_at IS NULL AND relays <> '[]' ORDER BY bunker_public_key"
        ).map { row in
            let (bunker, relays) = try row.decode((String, String).self)
            return (bunker, try RelayList.decode(relays))
        }
    }

    // MARK: Policies

    public func insertPolicy(name: String, definition: String, at time: Int64) async throws -> Bool {
        !(try await self.rows(
            "INSERT INTO policies (name, definition, created_at) VALUES (\(name), \(definition), \(time)) ON CONFLICT (name) DO NOTHING RETURNING name"
        )).isEmpty
    }

    public func policyDefinition(name: String) async throws -> String? {
        try await self.rows("SELECT definition FROM policies WHERE name = \(name)").first.map { try $0.decode(String.self) }
    }

    public func policyNames() async throws -> [String] {
        try await self.rows("SELECT name FROM policies ORDER BY name").map { try $0.decode(String.self) }
    }

    // MARK: Sealed secrets (rotation)

    public func sealedSecrets(after cursor: SealedSecretCursor?, limit: Int) async throws -> [SealedSecretRow] {
        var rows: [SealedSecretRow] = []
        if cursor == nil || cursor?.table == .keys {
            let after = cursor?.rowID ?? ""
            rows += try await self.rows(
                "SELECT id, public_key, sealed_secret FROM keys WHERE sealed_secret IS NOT NULL AND id > \(after) ORDER BY id LIMIT \(limit)"
            ).map { try Self.sealedRow($0, table: .keys) }
        }
        if rows.count < limit {
            let after = cursor?.table == .authorizations ? cursor!.rowID : ""
            rows += try await self.rows(
                """
                SELECT id, bunker_public_key, bunker_sealed_secret FROM authorizations
                WHERE bunker_sealed_secret IS NOT NULL AND id > \(after) ORDER BY id LIMIT \(limit - rows.count)
                """
            ).map { try Self.sealedRow($0, table: .authorizations) }
        }
        return rows
    }

    public func replaceSealedSecret(_ row: SealedSecretRow, with replacement: SealedSecret) async throws -> Bool {
        let new = ByteBuffer(bytes: replacement.bytes)
        let old = ByteBuffer(bytes: row.sealed.bytes)
        let query: PostgresQuery = row.table == .keys
            ? "UPDATE keys SET sealed_secret = \(new) WHERE id = \(row.rowID) AND sealed_secret = \(old) RETURNING id"
            : "UPDATE authorizations SET bunker_sealed_secret = \(new) WHERE id = \(row.rowID) AND bunker_sealed_secret = \(old) RETURNING id"
        return !(try await self.rows(query)).isEmpty
    }

    public func hasSealedSecrets() async throws -> Bool {
        let rows = try await self.rows(
            """
            SELECT EXISTS (SELECT 1 FROM keys WHERE sealed_secret IS NOT NULL)
                OR EXISTS (SELECT 1 FROM authorizations WHERE bunker_sealed_secret IS NOT NULL)
            """
        )
        return try rows.first?.decode(Bool.self) ?? false
    }

    // MARK: Audit

    public func appendAudit(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        // One statement per batch: unnest parallel arrays, so a batch of 500 is one round trip. Arrays of optionals
        // cannot be bound, so absent values travel as '' and -1 (never valid values here) and NULLIF restores them.
        let query: PostgresQuery = """
            INSERT INTO audit_records (recorded_at, key_id, authorization_id, path, method, kind, event_id, client_public_key, outcome)
            SELECT recorded_at, key_id, NULLIF(authorization_id, ''), path, method, NULLIF(kind, -1), NULLIF(event_id, ''),
                NULLIF(client_public_key, ''), outcome
            FROM unnest(\(records.map(\.recordedAt))::bigint[], \(records.map(\.keyID))::text[], \(records.map { $0.authorizationID ?? "" })::text[],
                \(records.map(\.path.rawValue))::text[], \(records.map(\.method))::text[], \(records.map { Int32($0.kind ?? -1) })::integer[],
                \(records.map { $0.eventID ?? "" })::text[], \(records.map { $0.clientPublicKey ?? "" })::text[], \(records.map(\.outcome))::text[])
                AS batch(recorded_at, key_id, authorization_id, path, method, kind, event_id, client_public_key, outcome)
            """
        _ = try await self.rows(query)
    }

    public func audit(keyID: String?, authorizationID: String?, limit: Int) async throws -> [AuditRecord] {
        try await self.rows(
            """
            SELECT id, recorded_at, key_id, authorization_id, path, method, kind, event_id, client_public_key, outcome FROM audit_records
            WHERE (\(keyID)::text IS NULL OR key_id = \(keyID)) AND (\(authorizationID)::text IS NULL OR authorization_id = \(authorizationID))
            ORDER BY id DESC LIMIT \(limit)
            """
        ).map(Self.auditRecord)
    }

    // MARK: Metadata

    public func metadata(name: String) async throws -> [UInt8]? {
        try await self.rows("SELECT value FROM custody_metadata WHERE name = \(name)").first.map { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    public func insertMetadata(name: String, value: [UInt8]) async throws -> Bool {
        !(try await self.rows(
            "INSERT INTO custody_metadata (name, value) VALUES (\(name), \(ByteBuffer(bytes: value))) ON CONFLICT (name) DO NOTHING RETURNING name"
        )).isEmpty
    }

    public func replaceMetadata(name: String, expected: [UInt8], with value: [UInt8]) async throws -> Bool {
        !(try await self.rows(
            "UPDATE custody_metadata SET value = \(ByteBuffer(bytes: value)) WHERE name = \(name) AND value = \(ByteBuffer(bytes: expected)) RETURNING name"
        )).isEmpty
    }

    // MARK: Row decoding

    private static func keyRecord(_ row: PostgresRow) throws -> KeyRecord {
        let (id, publicKey, sealed, label, createdAt, deletedAt) = try row.decode((String, String, ByteBuffer?, String, Int64, Int64?).self)
        return KeyRecord(
            id: id,
            publicKey: try Self.publicKey(publicKey),
            sealedSecret: try sealed.map { try SealedSecret(bytes: Array($0.readableBytesView)) },
            label: label,
            createdAt: createdAt,
            deletedAt: deletedAt
        )
    }

    private static func authorizationRecord(_ row: PostgresRow) throws -> AuthorizationRecord {
        let columns = row.makeRandomAccess()
        func bytes(_ name: String) throws -> [UInt8]? {
            try columns[name].decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
        }
        return AuthorizationRecord(
            id: try columns["id"].decode(String.self),
            keyID: try columns["key_id"].decode(String.self),
            name: try columns["name"].decode(String.self),
            bunkerPublicKey: try Self.publicKey(try columns["bunker_public_key"].decode(String.self)),
            bunkerSealedSecret: try bytes("bunker_sealed_secret").map(SealedSecret.init(bytes:)),
            secretHash: try bytes("secret_hash"),
            clientPublicKey: try columns["client_public_key"].decode(String?.self).map(Self.publicKey),
            policy: try columns["policy"].decode(String.self),
            relays: try RelayList.decode(try columns["relays"].decode(String.self)),
            expiresAt: try columns["expires_at"].decode(Int64?.self),
            maxUses: try columns["max_uses"].decode(Int64?.self),
            uses: try columns["uses"].decode(Int64.self),
            accessTokenHash: try bytes("access_token_hash") ?? [],
            createdAt: try columns["created_at"].decode(Int64.self),
            revokedAt: try columns["revoked_at"].decode(Int64?.self),
            revision: try columns["revision"].decode(Int64.self)
        )
    }

    private static func auditRecord(_ row: PostgresRow) throws -> AuditRecord {
        let (sequence, recordedAt, keyID, authorizationID, path, method, kind, eventID, client, outcome) =
            try row.decode((Int64, Int64, String, String?, String, String, Int32?, String?, String?, String).self)
        guard let auditPath = AuditPath(rawValue: path) else { throw CustodyError(.storeUnavailable, "audit record has an unknown path") }
        return AuditRecord(
            sequence: sequence, recordedAt: recordedAt, keyID: keyID, authorizationID: authorizationID, path: auditPath, method: method,
            kind: kind.map(Int.init), eventID: eventID, clientPublicKey: client, outcome: outcome
        )
    }

    private static func sealedRow(_ row: PostgresRow, table: SealedSecretRow.Table) throws -> SealedSecretRow {
        let (id, publicKey, sealed) = try row.decode((String, String, ByteBuffer).self)
        return SealedSecretRow(table: table, rowID: id, publicKey: try Self.publicKey(publicKey), sealed: try SealedSecret(bytes: Array(sealed.readableBytesView)))
    }

    private static func publicKey(_ hex: String) throws -> PublicKey {
        guard let key = try? PublicKey(hex: hex) else { throw CustodyError(.storeUnavailable, "stored row holds an invalid public key") }
        return key
    }
}
