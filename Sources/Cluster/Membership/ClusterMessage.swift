import NostrCrypto

/// A change to one authorization that every instance must apply to its caches and its set of known bunkers.
public struct AuthorizationUpdate: Sendable, Hashable {
    public let authorizationID: String
    /// The authorization's revision after the change: cached copies below it are stale. `nil`: drop every copy.
    public let revision: Int64?
    public let bunker: PublicKey
    /// Whether the bunker still answers (created: true; revoked or its key deleted: false).
    public let isActive: Bool

    public init(authorizationID: String, revision: Int64?, bunker: PublicKey, isActive: Bool) {
        self.authorizationID = authorizationID
        self.revision = revision
        self.bunker = bunker
        self.isActive = isActive
    }
}

/// The messages on the cluster's one pub/sub channel, as text: space-separated fields, the type first.
///
///     join <member>
///     leave <member>
///     authorization <from member> <authorization id> <revision | -> <bunker public key hex> <active | inactive>
///
/// Member ids and authorization ids never hold spaces (``ClusterConfiguration`` checks member ids; authorization
/// ids are UUIDs). Nothing secret is ever sent: ids, revisions and public keys only.
public enum ClusterMessage: Sendable, Hashable {
    case join(MemberID)
    case leave(MemberID)
    case authorization(from: MemberID, AuthorizationUpdate)

    public var text: String {
        switch self {
        case .join(let member): "join \(member)"
        case .leave(let member): "leave \(member)"
        case .authorization(let from, let update):
            "authorization \(from) \(update.authorizationID) \(update.revision.map(String.init) ?? "-") \(update.bunker.hex) \(update.isActive ? "active" : "inactive")"
        }
    }

    /// Parses `text`; `nil` for anything malformed or unknown (a newer instance's message type, say).
    public init?(text: some StringProtocol) {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false)
        switch (fields.first, fields.count) {
        case ("join", 2) where MemberID.isValid(fields[1]): self = .join(MemberID(String(fields[1])))
        case ("leave", 2) where MemberID.isValid(fields[1]): self = .leave(MemberID(String(fields[1])))
        case ("authorization", 6):
            guard MemberID.isValid(fields[1]), !fields[2].isEmpty, let bunker = try? PublicKey(hex: String(fields[4])) else { return nil }
            let revision: Int64?
            if fields[3] == "-" {
                revision = nil
            } else if let number = Int64(fields[3]) {
                revision = number
            } else {
                return nil
            }
            let isActive: Bool
            switch fields[5] {
            case "active": isActive = true
            case "inactive": isActive = false
            default: return nil
            }
            self = .authorization(
                from: MemberID(String(fields[1])),
                AuthorizationUpdate(authorizationID: String(fields[2]), revision: revision, bunker: bunker, isActive: isActive)
            )
        default:
            return nil
        }
    }
}

extension MemberID {
    /// 1 to 100 characters of `A–Z a–z 0–9 . _ : @ -`: safe in Redis keys, log lines and the broadcast's text.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        (1...100).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
                case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "-"): true
                default: false
                }
            }
    }
}
