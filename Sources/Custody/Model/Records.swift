import NostrCrypto

/// A custodied user identity as stored.
public struct KeyRecord: Sendable, Hashable {
    public let id: String
    public let publicKey: PublicKey
    /// The envelope; `nil` once the key is deleted (crypto-shredded).
    public var sealedSecret: SealedSecret?
    public var label: String
    public let createdAt: Int64
    public var deletedAt: Int64?

    public init(id: String, publicKey: PublicKey, sealedSecret: SealedSecret?, label: String, createdAt: Int64, deletedAt: Int64? = nil) {
        self.id = id
        self.publicKey = publicKey
        self.sealedSecret = sealedSecret
        self.label = label
        self.createdAt = createdAt
        self.deletedAt = deletedAt
    }

    public var binding: SecretBinding { SecretBinding(purpose: .userKey, rowID: self.id, publicKey: self.publicKey) }
}

/// One app's access to one key, as stored. Secrets appear only as hashes and sealed envelopes.
public struct AuthorizationRecord: Sendable, Hashable {
    public let id: String
    public let keyID: String
    public var name: String
    public let bunkerPublicKey: PublicKey
    /// The bunker key's envelope; `nil` once the authorization is revoked.
    public var bunkerSealedSecret: SealedSecret?
    /// SHA-256 of the single-use connect secret; `nil` once a client has connected with it.
    public var secretHash: [UInt8]?
    public var clientPublicKey: PublicKey?
    /// The policy as JSON: a built-in name (a JSON string) or a custom policy object.
    public var policy: String
    public var relays: [String]
    public var expiresAt: Int64?
    public var maxUses: Int64?
    public var uses: Int64
    /// SHA-256 of the HTTP access token.
    public let accessTokenHash: [UInt8]
    public let createdAt: Int64
    public var revokedAt: Int64?
    /// Increases on every change caches must notice.
    public var revision: Int64

    public init(
        id: String, keyID: String, name: String, bunkerPublicKey: PublicKey, bunkerSealedSecret: SealedSecret?,
        secretHash: [UInt8]?, clientPublicKey: PublicKey?, policy: String, relays: [String], expiresAt: Int64?,
        maxUses: Int64?, uses: Int64, accessTokenHash: [UInt8], createdAt: Int64, revokedAt: Int64?, revision: Int64
    ) {
        self.id = id
        self.keyID = keyID
        self.name = name
        self.bunkerPublicKey = bunkerPublicKey
        self.bunkerSealedSecret = bunkerSealedSecret
        self.secretHash = secretHash
        self.clientPublicKey = clientPublicKey
        self.policy = policy
        self.relays = relays
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = uses
        self.accessTokenHash = accessTokenHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.revision = revision
    }

    public var bunkerBinding: SecretBinding {
        SecretBinding(purpose: .bunkerKey, rowID: self.id, publicKey: self.bunkerPublicKey)
    }

    /// Whether the authorization may be used at `now`: not revoked, not expired, not out of uses.
    public func isUsable(now: Int64) -> Bool {
        guard self.revokedAt == nil else { return false }
        if let expiresAt, now >= expiresAt { return false }
        if let maxUses, self.uses >= maxUses { return false }
        return true
    }
}

/// Which door a request came through, for the audit log.
public enum AuditPath: String, Sendable, Hashable, CaseIterable {
    case nip46
    case http
    case admin
}

/// One use of a key. Never holds content: only what happened, to what, for whom, and how it ended.
public struct AuditRecord: Sendable, Hashable {
    /// The store's sequence number; `nil` until stored.
    public var sequence: Int64?
    public var recordedAt: Int64
    public var keyID: String
    public var authorizationID: String?
    public var path: AuditPath
    public var method: String
    public var kind: Int?
    public var eventID: String?
    public var clientPublicKey: String?
    public var outcome: String

    public init(
        sequence: Int64? = nil, recordedAt: Int64, keyID: String, authorizationID: String?, path: AuditPath, method: String,
        kind: Int? = nil, eventID: String? = nil, clientPublicKey: String? = nil, outcome: String
    ) {
        self.sequence = sequence
        self.recordedAt = recordedAt
        self.keyID = keyID
        self.authorizationID = authorizationID
        self.path = path
        self.method = method
        self.kind = kind
        self.eventID = eventID
        self.clientPublicKey = clientPublicKey
        self.outcome = outcome
    }
}

/// The result of trying to pin a client with a connect secret.
public enum PinOutcome: Sendable, Hashable {
    /// This client is now the authorization's only client; the secret is burned.
    case pinned(revision: Int64)
    /// This same client was already pinned (a repeated connect): accepted, nothing changes.
    case alreadyPinned
    /// Wrong secret, secret already used by another client, or the authorization is not usable.
    case refused
}

/// The result of counting one use against an authorization's limit.
public enum UseOutcome: Sendable, Hashable {
    case counted(uses: Int64)
    /// The authorization is revoked, expired or has no uses left; nothing was counted.
    case refused
}

/// A row holding a sealed secret, for KEK rotation.
public struct SealedSecretRow: Sendable, Hashable {
    public enum Table: String, Sendable, Hashable {
        case keys
        case authorizations
    }

    public let table: Table
    public let rowID: String
    public let publicKey: PublicKey
    public let sealed: SealedSecret

    public var binding: SecretBinding {
        SecretBinding(purpose: self.table == .keys ? .userKey : .bunkerKey, rowID: self.rowID, publicKey: self.publicKey)
    }
}
