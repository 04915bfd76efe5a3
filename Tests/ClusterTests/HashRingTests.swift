import Cluster
import Crypto
import NostrCrypto
import Testing
import TestSupport

struct HashRingTests {
    /// 100,000 distinct 32-byte keys, the same in every run.
    static let keys: [[UInt8]] = (0..<100_000).map { index in
        withUnsafeBytes(of: UInt64(index).bigEndian) { Array(SHA256.hash(data: Array($0))) }
    }

    static func members(_ count: Int) -> [MemberID] { (1...count).map { MemberID("signer-\($0)") } }

    static func owners(_ ring: HashRing) -> [MemberID] { Self.keys.map { ring.owner(of: $0)! } }

    @Test func positionsAreTheFirstEightBytesOfSHA256BigEndian() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de …
        #expect(HashRing.position(of: Array("abc".utf8)) == 0xba78_16bf_8f01_cfea)
        #expect(HashRing.position(of: [UInt8]()) == 0xe3b0_c442_98fc_1c14)
    }

    @Test func theRingIsAFunctionOfTheMemberSetAlone() {
        let forward = HashRing(members: Self.members(5))
        let shuffled = HashRing(members: Self.members(5).reversed() + [MemberID("signer-3")])
        #expect(forward == shuffled)
        #expect(forward.members == Self.members(5))
        for key in Self.keys.prefix(2_000) { #expect(forward.owner(of: key) == shuffled.owner(of: key)) }
        // A fixed key has a fixed owner in every build; this pins the documented function end to end.
        let bunker = try! PublicKey(hex: "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        // Owners computed independently (Python's hashlib, the documented rule with 160 points each).
        #expect(forward.owner(of: bunker) == MemberID("signer-4"))
        #expect(Self.keys.prefix(5).map { forward.owner(of: $0)! } == ["signer-2", "signer-3", "signer-1", "signer-4", "signer-1"].map(MemberID.init))
        // Worked by hand (Python's hashlib): the key sits at 0x132f39a98c31baad; with one point each, "b#0" sits at
        // 0x0ab14df98e9ade65 (before it) and "a#0" at 0xa090a256cb93456a, the first point after it: "a" owns it.
        #expect(HashRing.position(of: bunker.bytes) == 0x132f_39a9_8c31_baad)
        #expect(HashRing.position(of: Array("a#0".utf8)) == 0xa090_a256_cb93_456a)
        #expect(HashRing.position(of: Array("b#0".utf8)) == 0x0ab1_4df9_8e9a_de65)
        #expect(HashRing(members: [MemberID("a"), MemberID("b")], virtualNodes: 1).owner(of: bunker) == MemberID("a"))
        // Past the last point the ring wraps to the first: a key beyond "a#0" belongs to "b", whose point is lowest.
        let beyond = Self.keys.first { HashRing.position(of: $0) > 0xa090_a256_cb93_456a }!
        #expect(HashRing(members: [MemberID("a"), MemberID("b")], virtualNodes: 1).owner(of: beyond) == MemberID("b"))
    }

    @Test func anEmptyRingOwnsNothingAndOneMemberOwnsEverything() {
        #expect(HashRing(members: []).owner(of: Self.keys[0]) == nil)
        let alone = HashRing(members: [MemberID("only")])
        #expect(Self.keys.prefix(1_000).allSatisfy { alone.owner(of: $0) == MemberID("only") })
    }

    @Test(arguments: [3, 5, 10])
    func addingOrRemovingOneOfNMembersMovesOnlyItsKeysAboutOneNth(count: Int) async {
        // 300,000 lookups in a debug build take seconds: off the cooperative pool, so timing tests beside it keep time.
        let (before, grown, shrunk) = await offCooperativePool {
            (
                Self.owners(HashRing(members: Self.members(count))), Self.owners(HashRing(members: Self.members(count + 1))),
                Self.owners(HashRing(members: Self.members(count).dropLast()))
            )
        }
        let newcomer = MemberID("signer-\(count + 1)")
        var moved = 0
        for (old, new) in zip(before, grown) where old != new {
            // Consistent hashing: a key moves only to the member that joined.
            #expect(new == newcomer)
            moved += 1
        }
        let joinedShare = Double(moved) / Double(Self.keys.count)

        let leaver = MemberID("signer-\(count)")
        var movedOnLeave = 0
        for (old, new) in zip(before, shrunk) where old != new {
            // And only the leaver's keys move when it leaves.
            #expect(old == leaver)
            movedOnLeave += 1
        }
        #expect(movedOnLeave == before.filter { $0 == leaver }.count)
        let leftShare = Double(movedOnLeave) / Double(Self.keys.count)

        // About 1/N: within a third of the ideal share either way (the figures are in docs/cluster.md).
        let joinIdeal = 1 / Double(count + 1)
        let leaveIdeal = 1 / Double(count)
        print("ring: \(count) → \(count + 1) members moved \(moved) of \(Self.keys.count) keys (ideal \(Int(joinIdeal * 100_000))); \(count) → \(count - 1) moved \(movedOnLeave) (ideal \(Int(leaveIdeal * 100_000)))")
        #expect(abs(joinedShare - joinIdeal) < joinIdeal / 3)
        #expect(abs(leftShare - leaveIdeal) < leaveIdeal / 3)
    }
}
