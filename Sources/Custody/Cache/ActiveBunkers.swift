import NostrCrypto
import Synchronization

/// The bunker public keys of active authorizations, in memory, so NIP-46 events for anyone else are dropped without
/// a store read. ``KeyCustodian`` loads it at start-up and keeps it current as authorizations are created, revoked
/// and deleted with their keys (in a cluster, the broadcast applies other instances' changes).
public final class ActiveBunkers: Sendable {
    private let keys = Mutex<Set<PublicKey>>([])

    public init() {}

    public func contains(_ key: PublicKey) -> Bool { self.keys.withLock { $0.contains(key) } }
    public var count: Int { self.keys.withLock { $0.count } }
    public func insert(_ key: PublicKey) { _ = self.keys.withLock { $0.insert(key) } }
    public func remove(_ key: PublicKey) { _ = self.keys.withLock { $0.remove(key) } }

    /// Replaces the set with every active bunker key in `store`.
    public func load(from store: any CustodyStore) async throws {
        let keys = Set(try await store.activeBunkerPublicKeys().compactMap { try? PublicKey(hex: $0) })
        self.keys.withLock { $0 = keys }
    }
}
