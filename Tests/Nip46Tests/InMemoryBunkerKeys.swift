import Nip46
import NostrCrypto
import Synchronization

/// A session for handler tests.
final class TestSession: BunkerSession {
    let authorizationID = "auth-1"
    let keyID = "key-1"
    let bunkerKey = SecretKey.generate()
    let userKey = SecretKey.generate()
    let relays: [String]
    private let pinned = Mutex<PublicKey?>(nil)
    private let secret: String

    init(secret: String = "s3cret", relays: [String] = []) {
        self.secret = secret
        self.relays = relays
    }

    func isPinnedClient(_ client: PublicKey) -> Bool { self.pinned.withLock { $0 == client } }

    func pin(_ client: PublicKey, secret: String) -> BunkerConnectOutcome {
        self.pinned.withLock { pinned in
            if pinned == client { return .pinned }
            guard pinned == nil, secret == self.secret else { return .refused }
            pinned = client
            return .pinned
        }
    }

    func unpin() { self.pinned.withLock { $0 = nil } }
}

/// The handler's view of custody, in memory: one session, a verdict the test sets, and the audit entries written.
/// The service tests with the real custody run in the Signer tests.
final class InMemoryBunkerKeys: BunkerKeys {
    let session: TestSession
    let verdict = Mutex<BunkerVerdict>(.allowed)
    let failure = Mutex<Bool>(false)
    let audited = Mutex<[BunkerAuditEntry]>([])
    let authorized = Mutex<[String]>([])

    init(session: TestSession = TestSession()) { self.session = session }

    func isKnownBunker(_ bunker: PublicKey) -> Bool { bunker == self.session.bunkerKey.publicKey }

    func session(for bunker: PublicKey) async throws -> (any BunkerSession)? {
        if self.failure.withLock({ $0 }) { throw TestFailure() }
        return bunker == self.session.bunkerKey.publicKey ? self.session : nil
    }

    func connect(bunker: PublicKey, client: PublicKey, secret: String) async throws -> BunkerConnectOutcome {
        self.session.pin(client, secret: secret)
    }

    func authorize(_ session: any BunkerSession, method: String, kind: UInt16?) async throws -> BunkerVerdict {
        if self.failure.withLock({ $0 }) { throw TestFailure() }
        self.authorized.withLock { $0.append(kind.map { "\(method):\($0)" } ?? method) }
        return self.verdict.withLock { $0 }
    }

    func logout(_ session: any BunkerSession, client: PublicKey) async throws { self.session.unpin() }

    func audit(_ entry: BunkerAuditEntry) { self.audited.withLock { $0.append(entry) } }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String { "database at 10.0.0.7 refused the password for user admin" }
}
