import NostrCrypto
import Testing

@testable import Nip46

struct TransportKeyCacheTests {
    let bunker = SecretKey.generate()

    /// Derives the real conversation key and counts how often it was asked to.
    final class Deriver {
        var calls = 0
        func derive(_ bunker: SecretKey, _ client: PublicKey) throws -> Nip46Service.Scheme {
            self.calls += 1
            return .nip44(try NIP44ConversationKey(secretKey: bunker, publicKey: client))
        }
    }

    func key(_ client: PublicKey, nip04: Bool = false) -> TransportKeyCache.Key {
        TransportKeyCache.Key(bunker: self.bunker.publicKey, client: client, nip04: nip04)
    }

    func bytes(_ scheme: Nip46Service.Scheme) -> [UInt8] {
        guard case .nip44(let key) = scheme else { return [] }
        return key.withUnsafeBytes { Array($0) }
    }

    @Test func aSessionDerivesItsKeyOnceUntilItExpires() throws {
        let cache = TransportKeyCache(capacity: 8, timeToLive: 600)
        let client = SecretKey.generate()
        let deriver = Deriver()
        let first = try cache.scheme(for: self.key(client.publicKey), now: 1_000) { try deriver.derive(self.bunker, client.publicKey) }
        let second = try cache.scheme(for: self.key(client.publicKey), now: 1_599) { try deriver.derive(self.bunker, client.publicKey) }
        #expect(deriver.calls == 1)
        #expect(self.bytes(first) == self.bytes(second))
        // The client derives the same key from its side: the cached one is the right one.
        #expect(self.bytes(second) == (try NIP44ConversationKey(secretKey: client, publicKey: self.bunker.publicKey)).withUnsafeBytes { Array($0) })

        _ = try cache.scheme(for: self.key(client.publicKey), now: 1_600) { try deriver.derive(self.bunker, client.publicKey) }
        #expect(deriver.calls == 2)
    }

    @Test func schemesAndClientsAreKeptApart() throws {
        let cache = TransportKeyCache(capacity: 8, timeToLive: 600)
        let deriver = Deriver()
        let one = SecretKey.generate().publicKey
        let two = SecretKey.generate().publicKey
        _ = try cache.scheme(for: self.key(one), now: 0) { try deriver.derive(self.bunker, one) }
        _ = try cache.scheme(for: self.key(one, nip04: true), now: 0) { .nip04(try NIP04SharedKey(secretKey: self.bunker, publicKey: one)) }
        _ = try cache.scheme(for: self.key(two), now: 0) { try deriver.derive(self.bunker, two) }
        #expect(deriver.calls == 2)
        #expect(cache.count == 3)
        guard case .nip04 = try cache.scheme(for: self.key(one, nip04: true), now: 1, derive: { Issue.record("derived again"); return try deriver.derive(self.bunker, one) }) else {
            Issue.record("a NIP-04 request got a NIP-44 key")
            return
        }
    }

    @Test func theCacheHoldsAtMostItsCapacityAndKeepsWhatIsInUse() throws {
        let cache = TransportKeyCache(capacity: 4, timeToLive: 600)
        let deriver = Deriver()
        let busy = SecretKey.generate().publicKey
        _ = try cache.scheme(for: self.key(busy), now: 0) { try deriver.derive(self.bunker, busy) }
        for _ in 0..<10 {
            let other = SecretKey.generate().publicKey
            _ = try cache.scheme(for: self.key(other), now: 0) { try deriver.derive(self.bunker, other) }
            _ = try cache.scheme(for: self.key(busy), now: 0) { try deriver.derive(self.bunker, busy) }
            #expect(cache.count <= 4)
        }
        // Eleven distinct clients, eleven derivations: the busy one, used between every other, was never dropped.
        #expect(deriver.calls == 11)
    }

    @Test func aFailedDerivationIsNotCached() throws {
        struct Refused: Error {}
        let cache = TransportKeyCache(capacity: 4, timeToLive: 600)
        let client = SecretKey.generate().publicKey
        #expect(throws: Refused.self) { try cache.scheme(for: self.key(client), now: 0) { throw Refused() } }
        #expect(cache.count == 0)
    }

    @Test func capacityZeroDerivesEveryTime() throws {
        let cache = TransportKeyCache(capacity: 0, timeToLive: 600)
        let deriver = Deriver()
        let client = SecretKey.generate().publicKey
        for _ in 0..<3 { _ = try cache.scheme(for: self.key(client), now: 0) { try deriver.derive(self.bunker, client) } }
        #expect(deriver.calls == 3)
        #expect(cache.count == 0)
    }
}
