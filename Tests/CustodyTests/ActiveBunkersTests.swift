@testable import Custody
import NostrCrypto
import Testing

struct ActiveBunkersTests {
    struct StoreDown: Error {}

    static func keys(_ count: Int) -> [PublicKey] {
        (0..<count).map { _ in SecretKey.generate().publicKey }.sorted { $0.hex < $1.hex }
    }

    @Test("a load replaces the set; changes made while it reads the store are applied over what it read")
    func changesDuringALoadAreKept() async throws {
        let keys = Self.keys(5)
        let bunkers = ActiveBunkers()
        bunkers.insert(keys[4])
        #expect(!bunkers.isLoaded)
        // The store lists 0, 1 and 2, one per page. While the first page is read, 3 is created and 1 revoked, and the
        // second page still lists 1 (read before the revocation committed).
        let listed = [keys[0], keys[1], keys[2]].map(\.hex)
        try await bunkers.load(pageSize: 1) { cursor, limit in
            if cursor == nil {
                bunkers.insert(keys[3])
                bunkers.remove(keys[1])
            }
            return Array(listed.filter { $0 > (cursor ?? "") }.prefix(limit))
        }
        #expect(bunkers.isLoaded)
        // 4 was added before the load began and is not in the store: the load replaced it.
        #expect(keys.map(bunkers.contains) == [true, false, true, true, false])
        #expect(bunkers.count == 3)

        // The journal ended with the load: a second load that lists only 0 ends with only 0.
        try await bunkers.load(pageSize: 10) { _, _ in [keys[0].hex] }
        #expect(keys.map(bunkers.contains) == [true, false, false, false, false])
    }

    @Test("a load that fails leaves the set as it was, and not loaded")
    func aFailedLoadChangesNothing() async throws {
        let keys = Self.keys(2)
        let bunkers = ActiveBunkers()
        bunkers.insert(keys[0])
        await #expect(throws: StoreDown.self) {
            try await bunkers.load(pageSize: 1) { cursor, _ in
                guard cursor == nil else { throw StoreDown() }
                return [keys[1].hex]
            }
        }
        #expect(!bunkers.isLoaded)
        #expect(keys.map(bunkers.contains) == [true, false])
    }

    @Test("the fingerprint is the key's first 8 bytes, from the key or from its hex; a key sharing them is reported as held")
    func fingerprints() throws {
        let key = try PublicKey(hex: "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        #expect(ActiveBunkers.fingerprint(key) == 0x79be_667e_f9dc_bbac)
        #expect(ActiveBunkers.fingerprint(hex: key.hex) == 0x79be_667e_f9dc_bbac)
        #expect(ActiveBunkers.fingerprint(hex: "79BE667EF9DCBBAC") == 0x79be_667e_f9dc_bbac)
        #expect(ActiveBunkers.fingerprint(hex: "79be667e") == nil)
        #expect(ActiveBunkers.fingerprint(hex: "79be667ef9dcbbzz") == nil)
        // Another point whose x starts with the same 8 bytes: the set cannot tell them apart (the store then decides).
        var bytes = key.bytes
        var sibling: PublicKey?
        for last in UInt8.min...UInt8.max where last != bytes[31] {
            bytes[31] = last
            if let candidate = try? PublicKey(bytes: bytes) {
                sibling = candidate
                break
            }
        }
        let bunkers = ActiveBunkers()
        bunkers.insert(key)
        #expect(bunkers.contains(try #require(sibling)))
    }
}
