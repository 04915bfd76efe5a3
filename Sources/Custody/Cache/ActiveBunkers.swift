import NostrCrypto
import Synchronization

/// The bunker public keys of active authorizations, in memory, so NIP-46 events for anyone else are dropped without
/// a store read. ``KeyCustodian`` loads it after start-up and keeps it current as authorizations are created, revoked
/// and deleted with their keys (in a cluster, the broadcast applies other instances' changes).
///
/// It holds a 64-bit fingerprint of each key (its first 8 bytes), not the key: 1,000,000 authorizations cost about
/// 17 MB instead of the ~200 MB a set of parsed public keys would take, and loading parses nothing. A stranger's key
/// that shares a fingerprint with one of ours only costs the store read this set exists to spare; our own bunker
/// keys are random, so two of them share one with a probability of about n² / 2⁶⁵ (3 × 10⁻⁸ for a million), and
/// revoking one of such a pair would leave the other unknown until the next load.
///
/// Until the first load completes, ``isLoaded`` is false and callers must not treat absence as unknown.
public final class ActiveBunkers: Sendable {
    private struct State {
        var fingerprints: Set<UInt64> = []
        var isLoaded = false
        var loadsInProgress = 0
        /// Changes made while a load is reading the store, replayed over what it read (which may predate them).
        var changesDuringLoad: [(fingerprint: UInt64, isActive: Bool)] = []

        /// The journal is kept while any load runs: a later load replays it too, and replaying is idempotent.
        mutating func finishLoad() {
            self.loadsInProgress -= 1
            if self.loadsInProgress == 0 { self.changesDuringLoad = [] }
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether a load has completed; before that, ``contains(_:)`` answers only for keys added since start-up.
    public var isLoaded: Bool { self.state.withLock { $0.isLoaded } }
    public func contains(_ key: PublicKey) -> Bool { self.state.withLock { $0.fingerprints.contains(Self.fingerprint(key)) } }
    /// Whether `key` may be an active bunker: held, or not known yet because no load has completed (the store
    /// decides then). One lock, for the check every incoming NIP-46 event makes.
    public func mayBeActive(_ key: PublicKey) -> Bool {
        self.state.withLock { !$0.isLoaded || $0.fingerprints.contains(Self.fingerprint(key)) }
    }
    /// Distinct fingerprints held: the number of active bunkers, but for fingerprint collisions.
    public var count: Int { self.state.withLock { $0.fingerprints.count } }
    public func insert(_ key: PublicKey) { self.change(Self.fingerprint(key), isActive: true) }
    public func remove(_ key: PublicKey) { self.change(Self.fingerprint(key), isActive: false) }

    private func change(_ fingerprint: UInt64, isActive: Bool) {
        self.state.withLock { state in
            if isActive { state.fingerprints.insert(fingerprint) } else { state.fingerprints.remove(fingerprint) }
            if state.loadsInProgress > 0 { state.changesDuringLoad.append((fingerprint, isActive)) }
        }
    }

    /// Replaces the set with every active bunker key in `store`, read `pageSize` at a time. Changes made meanwhile
    /// are applied over the result, so none is lost to a page read before it.
    public func load(from store: any CustodyStore, pageSize: Int = 10_000) async throws {
        try await self.load(pageSize: pageSize) { try await store.activeBunkerPublicKeys(after: $0, limit: $1) }
    }

    /// ``load(from:pageSize:)`` over any source of pages (`page(cursor, limit)`), so tests can change the set mid-load.
    func load(pageSize: Int, page readPage: (String?, Int) async throws -> [String]) async throws {
        self.state.withLock { $0.loadsInProgress += 1 }
        var loaded: Set<UInt64> = []
        do {
            var cursor: String?
            while true {
                let page = try await readPage(cursor, pageSize)
                for hex in page {
                    if let fingerprint = Self.fingerprint(hex: hex) { loaded.insert(fingerprint) }
                }
                guard page.count == pageSize else { break }
                cursor = page.last
            }
        } catch {
            self.state.withLock { $0.finishLoad() }
            throw error
        }
        self.state.withLock { state in
            for change in state.changesDuringLoad {
                if change.isActive { loaded.insert(change.fingerprint) } else { loaded.remove(change.fingerprint) }
            }
            state.fingerprints = loaded
            state.isLoaded = true
            state.finishLoad()
        }
    }

    static func fingerprint(_ key: PublicKey) -> UInt64 { key.leadingWord }

    /// The first 16 hex digits as a number; nil for a value that is not hex (the store holds only valid keys).
    static func fingerprint(hex: String) -> UInt64? {
        let digits = hex.utf8.prefix(16)
        guard digits.count == 16 else { return nil }
        return UInt64(Substring(hex).prefix(16), radix: 16)
    }
}
