import Crypto
import NostrCrypto

/// A cluster member's identity as the ring sees it: its id in the membership set.
public struct MemberID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { self.rawValue }

    public static func < (lhs: MemberID, rhs: MemberID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Consistent hashing of bunker public keys onto cluster members.
///
/// The ring is a pure function of the member set and the number of virtual nodes: every instance, every build and
/// every process that sees the same members computes the same owner for every key. Positions come from
/// ``position(of:)`` (the first 8 bytes of SHA-256, big-endian), never from Swift's `Hasher`, which is seeded per
/// process. Each member holds `virtualNodes` points, at the positions of `"<member id>#<i>"` for i in 0..<n; a key
/// belongs to the member of the first point at or after the key's position, wrapping around. Adding or removing one
/// of N members therefore moves only the keys that member gains or loses, about 1/N of them.
public struct HashRing: Sendable, Equatable {
    /// Points per member: enough that each of a few members holds close to its share.
    public static let defaultVirtualNodes = 160

    private struct Point: Sendable, Equatable {
        let position: UInt64
        let member: Int
    }

    /// The members, sorted by id.
    public let members: [MemberID]
    public let virtualNodes: Int
    private let points: [Point]

    public init(members: some Sequence<MemberID>, virtualNodes: Int = Self.defaultVirtualNodes) {
        precondition(virtualNodes > 0, "a ring needs at least one point per member")
        let sorted = Array(Set(members)).sorted()
        var points: [Point] = []
        points.reserveCapacity(sorted.count * virtualNodes)
        for (index, member) in sorted.enumerated() {
            for node in 0..<virtualNodes {
                points.append(Point(position: Self.position(of: Array("\(member.rawValue)#\(node)".utf8)), member: index))
            }
        }
        // Ties (two points at one position) go to the member whose id sorts first, the same everywhere.
        points.sort { ($0.position, $0.member) < ($1.position, $1.member) }
        self.members = sorted
        self.virtualNodes = virtualNodes
        self.points = points
    }

    /// The ring's position of `bytes`: the first 8 bytes of their SHA-256, read big-endian.
    public static func position(of bytes: some Collection<UInt8>) -> UInt64 {
        var position: UInt64 = 0
        for byte in SHA256.hash(data: Array(bytes)).prefix(8) {
            position = position << 8 | UInt64(byte)
        }
        return position
    }

    /// The member that owns the key with these bytes (a bunker's 32-byte x-only public key); nil for an empty ring.
    public func owner(of key: some Collection<UInt8>) -> MemberID? {
        guard !self.points.isEmpty else { return nil }
        let position = Self.position(of: key)
        // The first point at or after the key's position; past the last point, the ring wraps to the first.
        var low = 0
        var high = self.points.count
        while low < high {
            let middle = (low + high) / 2
            if self.points[middle].position < position { low = middle + 1 } else { high = middle }
        }
        return self.members[self.points[low == self.points.count ? 0 : low].member]
    }

    /// The member that owns `bunker`.
    public func owner(of bunker: PublicKey) -> MemberID? {
        self.owner(of: bunker.bytes)
    }

    /// The fraction of the key space `member` owns (0 when it is not in the ring): the arcs that end at its points.
    public func share(of member: MemberID) -> Double {
        guard let index = self.members.firstIndex(of: member) else { return 0 }
        guard self.members.count > 1 else { return 1 }
        var owned: UInt64 = 0
        for (offset, point) in self.points.enumerated() where point.member == index {
            // The arc from the previous point (exclusive) to this one (inclusive), wrapping below zero.
            let previous = self.points[offset == 0 ? self.points.count - 1 : offset - 1].position
            owned &+= point.position &- previous
        }
        return Double(owned) / 18_446_744_073_709_551_616.0
    }
}
