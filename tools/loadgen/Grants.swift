import Foundation
import NIOHTTP1
import NostrCrypto

/// One authorization the load generator uses: its user key, its access token (HTTP RPC) and, when it was made for
/// NIP-46, the bunker key and the app's own client key it is pinned to.
struct Grant: Sendable {
    let authorizationID: String
    let user: PublicKey
    let accessToken: String
    let bunker: PublicKey?
    let client: SecretKey?
}

struct LoadGenError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Creates keys and authorizations through the admin API, as an operator would, and keeps them in a fixture file
/// so a run can use authorizations the server has never unlocked since it started (a cold cache).
enum Grants {
    /// `count` authorizations over `keys` keys (authorization *i* on key *i* mod `keys`), `parallel` admin calls at a
    /// time. With `relay`, each is made by the client-initiated flow (`nostrconnect://`) and pinned at once to one of
    /// `apps` client keys (authorization *i* to key *i* mod `apps`), so NIP-46 app *l* can use authorizations *l*,
    /// *l* + `apps`, … without a connect round; without `relay`, by the bunker flow (HTTP RPC only).
    static func create(
        count: Int, keys: Int, apps: Int, server: ServerAddress, adminToken: String, relay: String?, parallel: Int = 8
    ) async throws -> [Grant] {
        let clients = (0..<apps).map { _ in SecretKey.generate() }
        let users = try await Self.inParallel(count: keys, parallel: parallel, server: server) { index, connection in
            let reply = try await Self.admin(connection, adminToken, .POST, "/api/admin/keys", ["label": .string("loadgen \(index)")])
            guard let id = reply["id"]?.stringValue, let pubkey = reply["pubkey"]?.stringValue else { throw LoadGenError("key creation answered without id or pubkey") }
            return (id, try PublicKey(hex: pubkey))
        }
        return try await Self.inParallel(count: count, parallel: parallel, server: server) { index, connection in
            let (keyID, user) = users[index % keys]
            guard let relay else {
                let reply = try await Self.admin(
                    connection, adminToken, .POST, "/api/admin/keys/\(keyID)/authorizations", ["name": .string("loadgen \(index)"), "policy": .string("full")]
                )
                return try Self.grant(reply, user: user, client: nil)
            }
            let client = clients[index % apps]
            let secret = Hex.encode(SystemRandom.bytes(count: 16))
            let encodedRelay = relay.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? relay
            let uri = "nostrconnect://\(client.publicKey.hex)?relay=\(encodedRelay)&secret=\(secret)&name=loadgen"
            let reply = try await Self.admin(connection, adminToken, .POST, "/api/admin/keys/\(keyID)/nostrconnect", ["uri": .string(uri), "policy": .string("full")])
            return try Self.grant(reply, user: user, client: client)
        }
    }

    private static func grant(_ reply: [String: JSONValue], user: PublicKey, client: SecretKey?) throws -> Grant {
        guard let id = reply["id"]?.stringValue, let token = reply["access_token"]?.stringValue, let bunker = reply["bunker_pubkey"]?.stringValue else {
            throw LoadGenError("authorization creation answered without id, access_token or bunker_pubkey")
        }
        return Grant(authorizationID: id, user: user, accessToken: token, bunker: client == nil ? nil : try PublicKey(hex: bunker), client: client)
    }

    /// Runs `body` for indexes 0..<count on `parallel` connections; results in index order.
    private static func inParallel<T: Sendable>(
        count: Int, parallel: Int, server: ServerAddress, _ body: @escaping @Sendable (Int, HTTPConnection) async throws -> T
    ) async throws -> [T] {
        try await withThrowingTaskGroup(of: [(Int, T)].self) { group in
            for worker in 0..<min(parallel, max(count, 1)) {
                group.addTask {
                    try await HTTPConnection.withConnection(to: server) { connection in
                        var done: [(Int, T)] = []
                        for index in stride(from: worker, to: count, by: parallel) {
                            done.append((index, try await body(index, connection)))
                        }
                        return done
                    }
                }
            }
            var results = [T?](repeating: nil, count: count)
            for try await done in group {
                for (index, value) in done { results[index] = value }
            }
            return results.map { $0! }
        }
    }

    private static func admin(
        _ connection: HTTPConnection, _ token: String, _ method: HTTPMethod, _ path: String, _ body: [String: JSONValue]
    ) async throws -> [String: JSONValue] {
        var bytes: [UInt8] = []
        JSONWriter.append(.object(body), to: &bytes)
        let reply = try await connection.request(
            method: method, path: path, headers: [("Authorization", "Bearer " + token), ("Content-Type", "application/json")], body: bytes
        )
        guard reply.status == 201 || reply.status == 200, let object = (try? JSONValue.parse(reply.body))?.objectValue else {
            // The admin API's error body names the problem and never echoes a secret.
            throw LoadGenError("\(method) \(path) answered \(reply.status): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
        return object
    }

    // MARK: - Fixture file

    /// Writes the grants, secrets included (access tokens, client keys), readable by the owner only.
    static func write(_ grants: [Grant], to path: String) throws {
        let rows: [JSONValue] = grants.map { grant in
            var row: [String: JSONValue] = [
                "authorization_id": .string(grant.authorizationID), "user": .string(grant.user.hex), "access_token": .string(grant.accessToken),
            ]
            if let bunker = grant.bunker { row["bunker"] = .string(bunker.hex) }
            if let client = grant.client { row["client_secret"] = .string(client.withUnsafeSecretBytes { Hex.encode($0) }) }
            return .object(row)
        }
        var bytes: [UInt8] = []
        JSONWriter.append(.object(["grants": .array(rows)]), to: &bytes)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw LoadGenError("cannot write the fixture file \(path)")
        }
    }

    static func read(from path: String) throws -> [Grant] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadGenError("cannot read the fixture file \(path)") }
        guard let rows = (try? JSONValue.parse(Array(data)))?.objectValue?["grants"]?.arrayValue else {
            throw LoadGenError("\(path) is not a loadgen fixture file (no \"grants\" array)")
        }
        return try rows.map { row in
            guard let object = row.objectValue, let id = object["authorization_id"]?.stringValue, let user = object["user"]?.stringValue,
                let token = object["access_token"]?.stringValue
            else { throw LoadGenError("\(path): a grant lacks authorization_id, user or access_token") }
            return Grant(
                authorizationID: id, user: try PublicKey(hex: user), accessToken: token,
                bunker: try object["bunker"]?.stringValue.map { try PublicKey(hex: $0) },
                client: try object["client_secret"]?.stringValue.map { try SecretKey(hex: $0) }
            )
        }
    }
}
