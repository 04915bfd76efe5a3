import Cluster
import ArgumentParser
import Configuration
import Custody
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metrics
import NIOCore
import Nip46
import NostrCrypto
import Prometheus
import Synchronization
import Testing
import TestSupport

@testable import Signer

/// The HTTP API through the router the daemon uses (`buildRouter`), with custody on a temporary SQLite store.
struct HTTPAPITests {
    static let adminToken = "test-admin-token-0123456789"

    /// Runs `body` against a fresh signer; the store is closed afterwards.
    /// - Parameter signingPool: a pool the test controls (and does not run); by default one is made and run.
    func withSigner(
        signingPool: SigningPool? = nil,
        addressLimits: AddressLimits = AddressLimits(),
        _ body: @escaping @Sendable (any TestClientProtocol, SignerComponents) async throws -> Void
    ) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
        _ = try await store.migrate()
        let kek = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
        let custodian = KeyCustodian(store: store, keks: KEKRing(current: kek), cache: DecryptedKeyCache())
        let registry = PrometheusCollectorRegistry()
        let readiness = Readiness()
        readiness.started.store(true, ordering: .relaxed)
        readiness.bunkersLoaded.store(true, ordering: .relaxed)
        let components = SignerComponents(
            custodian: custodian, auditLog: AuditLog(store: store), adminToken: AdminToken(token: Self.adminToken),
            identity: try await SignerIdentity.resolve(custodian: custodian), readiness: readiness,
            signingPool: signingPool ?? SigningPool(workers: 2, queueCapacity: 64), addressLimits: addressLimits, nip46: nil, cluster: nil, relays: ["wss://relay.example"], corsOrigins: ["https://app.example"], prometheus: registry,
            metricsFactory: PrometheusMetricsFactory(registry: registry), clock: unixClock
        )
        let app = Application(router: buildRouter(components))
        let poolRunner = signingPool == nil ? Task { await components.signingPool.run() } : nil
        defer { poolRunner?.cancel() }
        do {
            try await app.test(.router) { client in try await body(client, components) }
        } catch {
            try await store.close()
            throw error
        }
        try await store.close()
    }

    static func json(_ response: TestResponse) throws -> [String: JSONValue] {
        try #require(try JSONValue.parse(Array(response.body.readableBytesView)).objectValue)
    }

    static func post(_ client: any TestClientProtocol, _ uri: String, token: String?, _ body: String) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func get(_ client: any TestClientProtocol, _ uri: String, token: String? = adminToken) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers)
    }

    /// A key and an authorization under `policy`; returns the key's public key and the access token.
    static func authorization(_ client: any TestClientProtocol, policy: String) async throws -> (keyID: String, pubkey: String, token: String, id: String) {
        let key = try Self.json(try await Self.post(client, "/api/admin/keys", token: Self.adminToken, #"{"label":"test"}"#))
        let keyID = try #require(key["id"]?.stringValue)
        let created = try await Self.post(client, "/api/admin/keys/\(keyID)/authorizations", token: Self.adminToken, #"{"name":"app","policy":\#(policy)}"#)
        #expect(created.status == .created)
        let authorization = try Self.json(created)
        return (keyID, try #require(key["pubkey"]?.stringValue), try #require(authorization["access_token"]?.stringValue), try #require(authorization["id"]?.stringValue))
    }

    @Test func theAdminAPINeedsTheAdminTokenAndEveryResponseCarriesATraceID() async throws {
        try await self.withSigner { client, _ in
            let missing = try await Self.get(client, "/api/admin/keys", token: nil)
            #expect(missing.status == .unauthorized)
            #expect(try Self.json(missing) == ["error": .string("the admin API needs the admin bearer token"), "code": .string("unauthorized")])
            #expect(missing.headers[TraceIDMiddleware.header]?.utf8.count == 32)
            #expect(try await Self.get(client, "/api/admin/keys", token: Self.adminToken + "x").status == .unauthorized)
            // An access token is not an admin token.
            let (_, _, token, _) = try await Self.authorization(client, policy: #""full""#)
            #expect(try await Self.get(client, "/api/admin/keys", token: token).status == .unauthorized)

            let traced = try await client.execute(uri: "/health", method: .get, headers: [TraceIDMiddleware.header: "abc-123_DEF"])
            #expect(traced.headers[TraceIDMiddleware.header] == "abc-123_DEF")
            let unsafe = try await client.execute(uri: "/health", method: .get, headers: [TraceIDMiddleware.header: "a b\"<script>"])
            #expect(unsafe.headers[TraceIDMiddleware.header] != "a b\"<script>")
            #expect(unsafe.headers[TraceIDMiddleware.header]?.utf8.count == 32)
        }
    }

    @Test func keysAreCreatedImportedListedAndDeleted() async throws {
        try await self.withSigner { client, components in
            let secret = SecretKey.generate()
            let imported = try await Self.post(client, "/api/admin/keys", token: Self.adminToken, #"{"label":"imported","nsec":"\#(secret.exportNsec())"}"#)
            #expect(imported.status == .created)
            let key = try Self.json(imported)
            #expect(key["pubkey"] == .string(secret.publicKey.hex))
            #expect(key["npub"] == .string(secret.publicKey.npub))
            #expect(key["label"] == .string("imported"))
            #expect(key["nsec"] == nil)
            let again = try await Self.post(client, "/api/admin/keys", token: Self.adminToken, #"{"nsec":"\#(secret.exportNsec())"}"#)
            #expect(again.status == .conflict)
            #expect(try Self.json(again)["code"] == .string("conflict"))
            let hex = SecretKey.generate()
            #expect(try Self.json(try await Self.post(client, "/api/admin/keys", token: Self.adminToken, #"{"nsec":"\#(hex.exportHex())"}"#))["pubkey"] == .string(hex.publicKey.hex))

            let bad = try await Self.post(client, "/api/admin/keys", token: Self.adminToken, #"{"nsec":"nsec1notakey"}"#)
            #expect(bad.status == .badRequest)
            #expect(try Self.json(bad) == ["error": .string("nsec is not a valid nsec1 secret key"), "code": .string("invalid_params")])

            // The signer's own identity key is listed too.
            func labels() async throws -> [String] {
                try Self.json(try await Self.get(client, "/api/admin/keys"))["keys"]?.arrayValue?.compactMap { $0.objectValue?["label"]?.stringValue }.sorted() ?? []
            }
            #expect(try await labels() == ["", "imported", SignerIdentity.label])
            let id = try #require(key["id"]?.stringValue)
            #expect(try await Self.get(client, "/api/admin/keys/\(id)").status == .ok)
            #expect(try await client.execute(uri: "/api/admin/keys/\(id)", method: .delete, headers: [.authorization: "Bearer \(Self.adminToken)"]).status == .noContent)
            let gone = try await Self.get(client, "/api/admin/keys/\(id)")
            #expect(gone.status == .notFound)
            #expect(try Self.json(gone)["code"] == .string("not_found"))
            #expect(try await labels() == ["", SignerIdentity.label])
            let identity = try await client.execute(
                uri: "/api/admin/keys/\(components.identity.keyID)", method: .delete, headers: [.authorization: "Bearer \(Self.adminToken)"]
            )
            #expect(identity.status == .conflict)
            #expect(
                try Self.json(identity)
                    == ["error": .string("this key is the signer's own identity (NIP-05 names._) and cannot be deleted"), "code": .string("signer_identity")]
            )
        }
    }

    @Test func nip05NamesTheSignerAndItsRelaysForAnyOrigin() async throws {
        try await self.withSigner { client, components in
            let document = try await Self.get(client, "/.well-known/nostr.json?name=_", token: nil)
            #expect(document.status == .ok)
            #expect(document.headers[.accessControlAllowOrigin] == "*")
            let expected: JSONValue = .object([
                "names": .object(["_": .string(components.identity.publicKey.hex)]), "nip46": .object(["relays": .array([.string("wss://relay.example")])]),
            ])
            #expect(try JSONValue.parse(Array(document.body.readableBytesView)) == expected)
            let other = try Self.json(try await Self.get(client, "/.well-known/nostr.json?name=alice", token: nil))
            #expect(other["names"] == .object([:]))
            // The identity is stored: asking again gives the same key.
            #expect(try await SignerIdentity.resolve(custodian: components.custodian) == components.identity)
        }
    }

    @Test func theRPCSignsWithTheTokensKeyUnderItsPolicy() async throws {
        try await self.withSigner { client, _ in
            let (_, pubkey, token, _) = try await Self.authorization(client, policy: #""social""#)
            let now = Int64(Date().timeIntervalSince1970)
            // The event as an object, and as a JSON string: both are signed by the token's key.
            for params in [#"[{"kind":1,"content":"hello","tags":[["t","x"]],"created_at":\#(now)}]"#, #"["{\"kind\":1,\"content\":\"hello\",\"tags\":[[\"t\",\"x\"]],\"created_at\":\#(now)}"]"#] {
                let response = try await Self.post(client, "/api/nostr", token: token, #"{"method":"sign_event","params":\#(params)}"#)
                #expect(response.status == .ok)
                let result = try #require(try Self.json(response)["result"])
                let event = try Event(json: Array(result.serialized().utf8))
                try event.verify()
                #expect(event.pubkey.hex == pubkey && event.content == "hello" && event.tags == [["t", "x"]] && event.createdAt == now)
            }
            let publicKey = try Self.json(try await Self.post(client, "/api/nostr", token: token, #"{"method":"get_public_key"}"#))
            #expect(publicKey == ["result": .string(pubkey)])
            #expect(try Self.json(try await Self.post(client, "/api/nostr", token: token, #"{"method":"ping","params":[]}"#)) == ["result": .string("pong")])

            let denied = try await Self.post(client, "/api/nostr", token: token, #"{"method":"sign_event","params":[{"kind":4,"content":"x","tags":[],"created_at":\#(now)}]}"#)
            #expect(denied.status == .forbidden)
            #expect(try Self.json(denied) == ["error": .string("kind 4 is not allowed by policy \"social\""), "code": .string("forbidden")])

            let unknown = try await Self.post(client, "/api/nostr", token: token, #"{"method":"sign_everything","params":[]}"#)
            #expect(unknown.status == .badRequest)
            #expect(try Self.json(unknown) == ["error": .string("unsupported method \"sign_everything\""), "code": .string("unsupported_method")])

            let malformed = try await Self.post(client, "/api/nostr", token: token, #"{"method":"sign_event","params":[{"kind":"one"}]}"#)
            #expect(malformed.status == .badRequest)
            #expect(try Self.json(malformed)["code"] == .string("invalid_params"))
            #expect(try await Self.post(client, "/api/nostr", token: token, "not json").status == .badRequest)
            let oversize = try await Self.post(client, "/api/nostr", token: token, #"{"method":"ping","params":[""# + String(repeating: "x", count: 300_000) + #""]}"#)
            #expect(oversize.status == .contentTooLarge)
            #expect(try Self.json(oversize) == ["error": .string("the request body is over 262144 bytes"), "code": .string("too_large")])

            let noToken = try await Self.post(client, "/api/nostr", token: nil, #"{"method":"get_public_key"}"#)
            #expect(noToken.status == .unauthorized)
            #expect(try Self.json(noToken)["code"] == .string("unauthorized"))
        }
    }

    @Test func nip44ThroughTheRPCRoundTripsWithThePeer() async throws {
        try await self.withSigner { client, _ in
            let (_, pubkey, token, _) = try await Self.authorization(client, policy: #""full""#)
            let peer = SecretKey.generate()
            let encrypted = try Self.json(try await Self.post(client, "/api/nostr", token: token, #"{"method":"nip44_encrypt","params":["\#(peer.publicKey.hex)","secret text"]}"#))
            let payload = try #require(encrypted["result"]?.stringValue)
            let conversation = try NIP44ConversationKey(secretKey: peer, publicKey: try PublicKey(hex: pubkey))
            #expect(try NIP44.decrypt(payload, conversationKey: conversation) == "secret text")
            let reply = try NIP44.encrypt("answer", conversationKey: conversation)
            let decrypted = try Self.json(try await Self.post(client, "/api/nostr", token: token, #"{"method":"nip44_decrypt","params":["\#(peer.publicKey.hex)","\#(reply)"]}"#))
            #expect(decrypted == ["result": .string("answer")])
        }
    }

    @Test func aTokenActsOnlyForItsOwnAuthorizationAndRevocationIsImmediate() async throws {
        try await self.withSigner { client, _ in
            let first = try await Self.authorization(client, policy: #""full""#)
            let second = try await Self.authorization(client, policy: #""full""#)
            #expect(first.pubkey != second.pubkey)
            #expect(try Self.json(try await Self.post(client, "/api/nostr", token: first.token, #"{"method":"get_public_key"}"#)) == ["result": .string(first.pubkey)])
            #expect(try Self.json(try await Self.post(client, "/api/nostr", token: second.token, #"{"method":"get_public_key"}"#)) == ["result": .string(second.pubkey)])

            let revoked = try await client.execute(uri: "/api/admin/authorizations/\(first.id)", method: .delete, headers: [.authorization: "Bearer \(Self.adminToken)"])
            #expect(revoked.status == .noContent)
            #expect(try await Self.post(client, "/api/nostr", token: first.token, #"{"method":"get_public_key"}"#).status == .unauthorized)
            #expect(try await Self.post(client, "/api/nostr", token: second.token, #"{"method":"get_public_key"}"#).status == .ok)
            let record = try Self.json(try await Self.get(client, "/api/admin/authorizations/\(first.id)"))
            #expect(record["revoked_at"]?.integerValue != nil)
            #expect(record["access_token"] == nil && record["secret"] == nil)
        }
    }

    @Test func aPolicyRateLimitAnswers429WithRetryAfter() async throws {
        try await self.withSigner { client, _ in
            let policy = #"{"name":"tight","methods":["get_public_key"],"kinds":[],"rate_limit":{"per_minute":2}}"#
            let (_, _, token, _) = try await Self.authorization(client, policy: policy)
            for _ in 0..<2 { #expect(try await Self.post(client, "/api/nostr", token: token, #"{"method":"get_public_key"}"#).status == .ok) }
            let limited = try await Self.post(client, "/api/nostr", token: token, #"{"method":"get_public_key"}"#)
            #expect(limited.status == .tooManyRequests)
            #expect(try Self.json(limited)["code"] == .string("rate_limited"))
            // The sliding-window estimate: two requests fill this minute; a third fits once half of this window has
            // slid out of the next one's view, 90 s after the window started (a few ms ago), rounded up.
            #expect(limited.headers[.retryAfter] == "90")
        }
    }

    @Test func aFullSigningQueueAnswers503BusyAndSignsNothing() async throws {
        // A pool nobody runs, its one queue slot taken: the next piece of crypto finds it full.
        let pool = SigningPool(workers: 1, queueCapacity: 1)
        #expect(pool.submit { _ in })
        try await self.withSigner(signingPool: pool) { client, _ in
            let (_, _, token, _) = try await Self.authorization(client, policy: #""full""#)
            let event = #"{"method":"sign_event","params":[{"kind":1,"content":"hi","tags":[],"created_at":1700000000}]}"#
            let busy = try await Self.post(client, "/api/nostr", token: token, event)
            #expect(busy.status == .serviceUnavailable)
            #expect(busy.headers[.retryAfter] == "1")
            #expect(try Self.json(busy) == ["error": .string("the signer is overloaded; retry in a moment"), "code": .string("busy")])
            // What needs no crypto still answers.
            let publicKey = try await Self.post(client, "/api/nostr", token: token, #"{"method":"get_public_key"}"#)
            #expect(publicKey.status == .ok)
            #expect(pool.depth == 1)
        }
    }

    @Test func anAddressThatKeepsFailingToAuthenticateIsLimitedBeforeItsTokensAreLookedAt() async throws {
        let limits = AddressLimits(failedAuthentication: .init(burst: 3, perSecond: 1.0 / 60), admin: .init(burst: 1000, perSecond: 1000))
        try await self.withSigner(addressLimits: limits) { client, _ in
            let (_, _, token, _) = try await Self.authorization(client, policy: #""full""#)
            let call = #"{"method":"get_public_key"}"#
            // Successes cost nothing.
            for _ in 0..<5 { #expect(try await Self.post(client, "/api/nostr", token: token, call).status == .ok) }
            for guess in 0..<3 {
                let wrong = try await Self.post(client, "/api/nostr", token: "nsa_guess\(guess)", call)
                #expect(wrong.status == .unauthorized)
            }
            // Now even the right token (and the admin token) waits, for one token's refill: 60 s, less the time since
            // the bucket emptied (the refill is continuous; a loaded CI machine has taken over a second to get here).
            for (uri, presented) in [("/api/nostr", token), ("/api/admin/keys", Self.adminToken)] {
                let limited = try await Self.post(client, uri, token: presented, call)
                #expect(limited.status == .tooManyRequests)
                let seconds = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
                #expect((50...60).contains(seconds))
                #expect(
                    try Self.json(limited)
                        == ["error": .string("too many failed authentications from this address; retry after \(seconds) s"), "code": .string("rate_limited")]
                )
            }
        }
    }

    @Test func theAdminAPIIsLimitedPerAddress() async throws {
        let limits = AddressLimits(admin: .init(burst: 2, perSecond: 0.5))
        try await self.withSigner(addressLimits: limits) { client, _ in
            for _ in 0..<2 { #expect(try await Self.get(client, "/api/admin/keys").status == .ok) }
            let limited = try await Self.get(client, "/api/admin/keys")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "2")
            #expect(try Self.json(limited)["code"] == .string("rate_limited"))
            // The RPC is not the admin API.
            #expect(try await Self.post(client, "/api/nostr", token: "unknown", #"{"method":"ping"}"#).status == .unauthorized)
        }
    }

    @Test func probesPoliciesMetricsAndCORS() async throws {
        try await self.withSigner { client, components in
            let ready = try await Self.get(client, "/healthz/ready", token: nil)
            #expect(ready.status == .ok)
            #expect(try Self.json(ready)["checks"]?.objectValue?["store"] == .string("ok"))
            components.readiness.stopping.store(true, ordering: .relaxed)
            let stopping = try await Self.get(client, "/healthz/ready", token: nil)
            #expect(stopping.status == .serviceUnavailable)
            #expect(try Self.json(stopping)["checks"]?.objectValue?["shutdown"] == .string("stopping"))

            let policies = try Self.json(try await Self.get(client, "/api/policies", token: nil))
            #expect(policies["policies"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } == ["social", "messaging", "readonly", "full"])

            let metrics = String(buffer: try await Self.get(client, "/api/metrics", token: nil).body)
            #expect(metrics.contains(#"signer_http_requests_total{route="/healthz/ready",method="GET",status="503"} 1"#))
            #expect(metrics.contains(#"signer_http_requests_total{route="/api/policies",method="GET",status="200"} 1"#))
            // One latency histogram per route, whatever the status: both readiness answers are in it.
            #expect(metrics.contains(#"signer_http_request_duration_seconds_count{route="/healthz/ready"} 2"#))

            let preflight = try await client.execute(
                uri: "/api/nostr", method: .options, headers: [.origin: "https://app.example", .accessControlRequestMethod: "POST"]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example")
            let foreign = try await client.execute(uri: "/api/nostr", method: .options, headers: [.origin: "https://evil.example"])
            #expect(foreign.status == .forbidden)
            #expect(foreign.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func configurationTakesFlagsOverEnvironmentAndNamesTheKeyItRefuses() throws {
        var command = try ServeCommand.parse(["--http-port", "9001"])
        let environment = ["SIGNER_HTTP_PORT": "9000", "SIGNER_RELAYS": "wss://a.example, ws://127.0.0.1:7000", "SIGNER_WORKERS": "3"]
        let configuration = try ServeConfiguration(reader: command.configurationReader(environment: environment))
        #expect(configuration.httpPort == 9001)
        #expect(configuration.relays == ["wss://a.example", "ws://127.0.0.1:7000"])
        #expect(configuration.workers == 3)
        #expect(configuration.httpHost == "127.0.0.1" && configuration.queueSize == 4096 && configuration.kms == .file)
        #expect(configuration.failedAuthenticationsPerMinute == 10 && configuration.adminRequestsPerSecond == 20)
        let unlimited = try ServeConfiguration(
            reader: ServeCommand.parse(["--admin-requests-per-second", "0"]).configurationReader(environment: ["SIGNER_FAILED_AUTH_PER_MINUTE": "0"])
        )
        #expect(unlimited.addressLimits.failedAuthentication == nil && unlimited.addressLimits.admin == nil)
        #expect(configuration.addressLimits.failedAuthentication?.rate == .init(burst: 20, perSecond: 10.0 / 60))
        #expect(configuration.addressLimits.admin?.rate == .init(burst: 100, perSecond: 20))

        let clustered = try ServeConfiguration(
            reader: ServeCommand.parse([]).configurationReader(environment: [
                "SIGNER_REDIS_URL": "redis://:pw@10.0.0.5:6380/2", "SIGNER_CLUSTER_MEMBER_ID": "signer-a", "SIGNER_CLUSTER_HEARTBEAT_MS": "500",
                "SIGNER_CLUSTER_EXPIRY_MS": "1500",
            ])
        )
        #expect(
            clustered.cluster
                == ClusterConfiguration(
                    endpoint: RedisEndpoint(host: "10.0.0.5", port: 6380, password: "pw", database: 2), memberID: MemberID("signer-a"),
                    heartbeatInterval: .milliseconds(500), memberExpiry: .milliseconds(1500)
                )
        )
        #expect(configuration.cluster == nil)
        #expect(configuration.clusterHeartbeat == .seconds(2) && configuration.clusterExpiry == .seconds(6))
        #expect(MemberID.isValid(configuration.clusterMemberID.rawValue))

        command = try ServeCommand.parse([])
        let cases: [([String: String], String)] = [
            (["SIGNER_HTTP_PORT": "eighty"], #"SIGNER_HTTP_PORT: expected a whole number from 0 to 65535, got "eighty""#),
            (["SIGNER_RELAYS": "https://relay.example"], #"SIGNER_RELAYS: "https://relay.example" is not a ws:// or wss:// URL"#),
            (["SIGNER_KMS": "vault"], #"SIGNER_KMS: expected file or aws-kms, got "vault""#),
            (["SIGNER_KMS": "aws-kms"], "SIGNER_KMS_KEY_ID: the aws-kms backend needs a key id, ARN or alias"),
            (["SIGNER_ADMIN_TOKEN": "short"], "SIGNER_ADMIN_TOKEN: must be at least 16 characters"),
            (["SIGNER_LOG_FORMAT": "xml"], #"SIGNER_LOG_FORMAT: expected text or json, got "xml""#),
            (["SIGNER_WORKERS": "0"], #"SIGNER_WORKERS: expected a whole number from 1 to 256, got "0""#),
            (["SIGNER_CORS_ORIGINS": "https://app.example/path"], #"SIGNER_CORS_ORIGINS: "https://app.example/path" is not an origin such as https://app.example"#),
            (["SIGNER_FAILED_AUTH_PER_MINUTE": "-1"], #"SIGNER_FAILED_AUTH_PER_MINUTE: expected a whole number from 0 to 1000000, got "-1""#),
            (["SIGNER_REDIS_URL": "redis://:hunter2hunter2@127.0.0.1:port/0"], "SIGNER_REDIS_URL: the Redis URL's port is not a number"),
            (["SIGNER_REDIS_URL": "rediss://cache.example"], "SIGNER_REDIS_URL: rediss:// (TLS) is not supported; use redis:// on a private network or a TLS tunnel"),
            (["SIGNER_CLUSTER_MEMBER_ID": "has space"], #"SIGNER_CLUSTER_MEMBER_ID: expected 1 to 100 of A-Z a-z 0-9 . _ : @ -, got "has space""#),
            (["SIGNER_CLUSTER_HEARTBEAT_MS": "1000", "SIGNER_CLUSTER_EXPIRY_MS": "1500"], "SIGNER_CLUSTER_EXPIRY_MS: must be at least twice SIGNER_CLUSTER_HEARTBEAT_MS, so one late heartbeat does not drop a member"),
        ]
        for (environment, message) in cases {
            #expect(throws: ConfigurationError.self) { try ServeConfiguration(reader: command.configurationReader(environment: environment)) }
            do {
                _ = try ServeConfiguration(reader: command.configurationReader(environment: environment))
            } catch {
                #expect(error.description == message)
            }
        }
    }
}
