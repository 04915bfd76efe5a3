import Custody
import Nip46
import NostrCrypto

/// An unlocked authorization as the NIP-46 service sees it.
struct CustodySession: BunkerSession {
    let unlocked: UnlockedAuthorization

    var authorizationID: String { self.unlocked.authorization.id }
    var keyID: String { self.unlocked.authorization.keyID }
    var bunkerKey: SecretKey { self.unlocked.bunkerKey }
    var userKey: SecretKey { self.unlocked.userKey }
    var relays: [String] { self.unlocked.authorization.relays }
    func isPinnedClient(_ client: PublicKey) -> Bool { self.unlocked.authorization.isPinnedClient(client) }
}

/// Nip46's view of custody, implemented over ``KeyCustodian``: the one policy engine, the cache, the audit log.
struct CustodyBunkerKeys: BunkerKeys {
    let custodian: KeyCustodian
    let auditLog: AuditLog
    let clock: @Sendable () -> Int64

    /// Until the set has loaded (in the background after start-up), every bunker may be ours: the store decides, so a
    /// request that arrives in the first seconds is answered rather than dropped.
    func isKnownBunker(_ bunker: PublicKey) -> Bool { self.custodian.activeBunkers.mayBeActive(bunker) }

    func session(for bunker: PublicKey) async throws -> (any BunkerSession)? {
        try await self.custodian.unlock(bunkerPublicKey: bunker).map(CustodySession.init)
    }

    func connect(bunker: PublicKey, client: PublicKey, secret: String) async throws -> BunkerConnectOutcome {
        switch try await self.custodian.connect(bunkerPublicKey: bunker, client: client, secret: secret) {
        case .pinned, .alreadyPinned: .pinned
        case .refused: .refused
        }
    }

    func authorize(_ session: any BunkerSession, method: String, kind: UInt16?) async throws -> BunkerVerdict {
        guard let session = session as? CustodySession else { return .unusable }
        switch try await self.custodian.authorize(session.unlocked, request: PolicyRequest(methodName: method, kind: kind)) {
        case .allowed: return .allowed
        case .denied(let denial): return .forbidden(denial.description)
        case .rateLimited(let retryAfter): return .rateLimited(retryAfter: retryAfter)
        case .unusable: return .unusable
        }
    }

    func logout(_ session: any BunkerSession, client: PublicKey) async throws {
        _ = try await self.custodian.logout(authorizationID: session.authorizationID, client: client)
    }

    func audit(_ entry: BunkerAuditEntry) {
        self.auditLog.record(
            AuditRecord(
                recordedAt: self.clock(), keyID: entry.keyID, authorizationID: entry.authorizationID, path: .nip46, method: entry.method,
                kind: entry.kind.map(Int.init), eventID: entry.eventID, clientPublicKey: entry.client.hex, outcome: entry.outcome
            )
        )
    }
}
