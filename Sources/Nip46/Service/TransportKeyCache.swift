import NostrCrypto
import Synchronization

/// The transport keys of recent (bunker, client) pairs, so a session pays its ECDH (about 50 µs, a quarter of a
/// request's crypto) once instead of on every request.
///
/// Bounded two ways: an entry lives at most `timeToLive` seconds, and at most `capacity` entries are held. Two
/// generations give recency without a linked list: lookups promote from the older one, and when the newer one is
/// full the older one is dropped. Dropped keys wipe themselves (their bytes live in `SecureBytes`).
///
/// A revoked authorization's entries may outlive it until they expire, unusable: the worker asks custody for the
/// bunker's session first, and a revoked bunker has none.
final class TransportKeyCache: Sendable {
    struct Key: Hashable, Sendable {
        let bunker: PublicKey
        let client: PublicKey
        let nip04: Bool
    }

    private struct Entry {
        let scheme: Nip46Service.Scheme
        let expiresAt: Int64
    }

    private struct State {
        var newer: [Key: Entry] = [:]
        var older: [Key: Entry] = [:]
    }

    private let generationCapacity: Int
    private let timeToLive: Int64
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: the most entries held (both generations together); 0 turns the cache off.
    ///   - timeToLive: seconds an entry may be used after it was derived.
    init(capacity: Int, timeToLive: Int64) {
        precondition(capacity >= 0 && timeToLive > 0, "the transport-key cache needs a size and a lifetime")
        self.generationCapacity = capacity / 2
        self.timeToLive = timeToLive
    }

    /// The cached scheme for `key`, or the one `derive` makes (outside the lock), which is then cached.
    func scheme(for key: Key, now: Int64, derive: () throws -> Nip46Service.Scheme) rethrows -> Nip46Service.Scheme {
        guard self.generationCapacity > 0 else { return try derive() }
        let cached: Nip46Service.Scheme? = self.state.withLock { state in
            if let entry = state.newer[key] {
                return entry.expiresAt > now ? entry.scheme : nil
            }
            guard let entry = state.older.removeValue(forKey: key), entry.expiresAt > now else { return nil }
            Self.insert(entry, for: key, into: &state, generationCapacity: self.generationCapacity)
            return entry.scheme
        }
        if let cached { return cached }
        let scheme = try derive()
        let entry = Entry(scheme: scheme, expiresAt: now.addingReportingOverflow(self.timeToLive).partialValue)
        self.state.withLock { state in
            Self.insert(entry, for: key, into: &state, generationCapacity: self.generationCapacity)
        }
        return scheme
    }

    var count: Int { self.state.withLock { $0.newer.count + $0.older.count } }

    private static func insert(_ entry: Entry, for key: Key, into state: inout State, generationCapacity: Int) {
        if state.newer[key] == nil, state.newer.count >= generationCapacity {
            state.older = state.newer
            state.newer = [:]
        }
        state.newer[key] = entry
    }
}
