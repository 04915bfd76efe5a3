import NostrCrypto

/// One authorization as NIP-46 requests see it, unlocked: its bunker key, the user's key, and who may use it.
public protocol BunkerSession: Sendable {
    var authorizationID: String { get }
    var keyID: String { get }
    /// The transport key: decrypts requests, encrypts and signs replies.
    var bunkerKey: SecretKey { get }
    /// The identity that signs events and encrypts for third parties.
    var userKey: SecretKey { get }
    /// The authorization's own relays; empty means the daemon's.
    var relays: [String] { get }
    /// Whether `client` is the client pinned by the first successful connect (constant time).
    func isPinnedClient(_ client: PublicKey) -> Bool
}

/// What the policy engine said about one request.
public enum BunkerVerdict: Sendable, Hashable {
    case allowed
    case forbidden(String)
    case rateLimited(retryAfter: Duration)
    /// Revoked, expired or out of uses since it was unlocked.
    case unusable
}

/// The result of a `connect` with a secret.
public enum BunkerConnectOutcome: Sendable, Hashable {
    /// This client is now pinned (or already was); the secret is burned.
    case pinned
    /// Wrong secret, secret already used by another client, or the authorization is not usable.
    case refused
}

/// One line of the audit trail: never content, never secrets.
public struct BunkerAuditEntry: Sendable, Hashable {
    public init(keyID: String, authorizationID: String, method: String, kind: UInt16?, eventID: String?, client: PublicKey, outcome: String) {
        self.keyID = keyID
        self.authorizationID = authorizationID
        self.method = method
        self.kind = kind
        self.eventID = eventID
        self.client = client
        self.outcome = outcome
    }

    public let keyID: String
    public let authorizationID: String
    public let method: String
    public let kind: UInt16?
    public let eventID: String?
    public let client: PublicKey
    /// `ok`, or the error code (`unauthorized`, `forbidden`, …).
    public let outcome: String
}

/// Custody as the NIP-46 service needs it. Nip46 declares it and `Signer` implements it over `Custody`, so this
/// target never depends on how keys are stored.
public protocol BunkerKeys: Sendable {
    /// Whether `bunker` belongs to an active authorization; called for every incoming event, so it must be an
    /// in-memory check.
    func isKnownBunker(_ bunker: PublicKey) -> Bool
    /// The unlocked authorization behind `bunker`, or `nil` when there is none usable now.
    func session(for bunker: PublicKey) async throws -> (any BunkerSession)?
    /// `connect` with a secret: pins `client` if `secret` is the authorization's unused connect secret.
    func connect(bunker: PublicKey, client: PublicKey, secret: String) async throws -> BunkerConnectOutcome
    /// The one policy decision for `method` (and `kind` for `sign_event`), rate limits and use counts included.
    func authorize(_ session: any BunkerSession, method: String, kind: UInt16?) async throws -> BunkerVerdict
    /// `logout`: forgets the pinned client.
    func logout(_ session: any BunkerSession, client: PublicKey) async throws
    /// Records one audited request, off the hot path.
    func audit(_ entry: BunkerAuditEntry)
}
