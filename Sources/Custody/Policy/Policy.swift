import NostrCrypto

/// The operations on a user's key that a policy governs. Protocol methods (`connect`, `ping`, `logout`,
/// `switch_relays`) are not here on purpose: they never use the key, and a caller cannot pass them through the engine
/// and get an accidental "allowed".
public enum PolicyMethod: String, CaseIterable, Sendable, Hashable, Comparable {
    case getPublicKey = "get_public_key"
    case signEvent = "sign_event"
    case nip04Encrypt = "nip04_encrypt"
    case nip04Decrypt = "nip04_decrypt"
    case nip44Encrypt = "nip44_encrypt"
    case nip44Decrypt = "nip44_decrypt"

    public static func < (lhs: PolicyMethod, rhs: PolicyMethod) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Which event kinds `sign_event` may sign.
public struct KindSet: Sendable, Hashable {
    /// `nil` means every kind.
    public let ranges: [ClosedRange<UInt16>]?

    public static let all = KindSet(ranges: nil)

    public init(kinds: [UInt16], ranges: [ClosedRange<UInt16>] = []) {
        self.ranges = (kinds.map { $0...$0 } + ranges).sorted { $0.lowerBound < $1.lowerBound }
    }

    private init(ranges: [ClosedRange<UInt16>]?) { self.ranges = ranges }

    public func contains(_ kind: UInt16) -> Bool {
        guard let ranges else { return true }
        return ranges.contains { $0.contains(kind) }
    }

    public var isEmpty: Bool { self.ranges?.isEmpty ?? false }

    /// `"all"`, or an array of integers and `"a-b"` range strings.
    public var json: JSONValue {
        guard let ranges else { return .string("all") }
        return .array(ranges.map { range in
            range.lowerBound == range.upperBound ? .number(String(range.lowerBound)) : .string("\(range.lowerBound)-\(range.upperBound)")
        })
    }
}

/// What an authorization may do with its key: methods, kinds, rate limits, expiry and a use limit.
public struct Policy: Sendable, Hashable {
    public let name: String
    public let summary: String
    public let methods: Set<PolicyMethod>
    public let kinds: KindSet
    public let perMinute: Int?
    public let perDay: Int?
    /// Unix seconds after which nothing is allowed.
    public let expiresAt: Int64?
    public let maxUses: Int64?

    public init(
        name: String, summary: String = "", methods: Set<PolicyMethod>, kinds: KindSet, perMinute: Int? = nil, perDay: Int? = nil,
        expiresAt: Int64? = nil, maxUses: Int64? = nil
    ) {
        self.name = name
        self.summary = summary
        self.methods = methods
        self.kinds = kinds
        self.perMinute = perMinute
        self.perDay = perDay
        self.expiresAt = expiresAt
        self.maxUses = maxUses
    }

    // MARK: Built-ins

    private static let encryption: Set<PolicyMethod> = [.nip04Encrypt, .nip04Decrypt, .nip44Encrypt, .nip44Decrypt]

    /// Everyday social use. Includes what NIP-17 direct messages need (kind 13 seals signed by the user, NIP-44, and
    /// the kind 10050 DM relay list), which Keycast's "social" policy leaves out.
    public static let social = Policy(
        name: "social",
        summary: "Profiles, notes, follows, deletions, reposts, reactions, NIP-17 direct messages, comments, zap requests, relay lists, relay auth, long-form articles; encryption and decryption",
        methods: Set([.getPublicKey, .signEvent]).union(Self.encryption),
        kinds: KindSet(kinds: [0, 1, 3, 5, 6, 7, 13, 14, 16, 1111, 9734, 10002, 10050, 22242, 30023])
    )

    /// Direct messages only: legacy NIP-04 DMs and NIP-17 (seals, chat messages, file messages, DM relay list).
    public static let messaging = Policy(
        name: "messaging",
        summary: "Direct messages only: NIP-04 (kind 4) and NIP-17 (kinds 13, 14, 15, 10050), relay auth; encryption and decryption",
        methods: Set([.getPublicKey, .signEvent]).union(Self.encryption),
        kinds: KindSet(kinds: [4, 13, 14, 15, 10050, 22242])
    )

    /// Read a user's identity and messages, never act as them.
    public static let readonly = Policy(
        name: "readonly",
        summary: "Public key and decryption only; no signing, no encryption",
        methods: [.getPublicKey, .nip04Decrypt, .nip44Decrypt],
        kinds: KindSet(kinds: [])
    )

    /// Everything.
    public static let full = Policy(
        name: "full",
        summary: "Every method and every event kind",
        methods: Set(PolicyMethod.allCases),
        kinds: .all
    )

    public static let builtIns: [Policy] = [.social, .messaging, .readonly, .full]

    /// What an authorization gets when its stored policy cannot be read: nothing (fail closed).
    public static let denyAll = Policy(name: "unreadable-policy", summary: "Stored policy could not be read; everything is refused", methods: [], kinds: KindSet(kinds: []))

    public static func builtIn(named name: String) -> Policy? {
        Self.builtIns.first { $0.name == name }
    }

    // MARK: JSON

    /// The policy as JSON; a custom policy parsed from it is equal to this one.
    public func json() -> JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(self.name),
            "methods": .array(self.methods.sorted().map { .string($0.rawValue) }),
            "kinds": self.kinds.json,
        ]
        if self.perMinute != nil || self.perDay != nil {
            var limits: [String: JSONValue] = [:]
            if let perMinute { limits["per_minute"] = .number(String(perMinute)) }
            if let perDay { limits["per_day"] = .number(String(perDay)) }
            object["rate_limit"] = .object(limits)
        }
        if let expiresAt { object["expires_at"] = .number(String(expiresAt)) }
        if let maxUses { object["max_uses"] = .number(String(maxUses)) }
        return .object(object)
    }

    /// Parses a custom policy:
    /// `{"name", "methods": [...], "kinds": [1, "30000-39999"] | "all", "rate_limit": {"per_minute", "per_day"},
    /// "expires_at", "max_uses"}`. Unknown keys and unknown methods are rejected, so a typo never grants or drops
    /// a permission silently.
    public init(json: JSONValue) throws {
        guard let object = json.objectValue else { throw PolicyError("policy must be a JSON object") }
        let allowed: Set<String> = ["name", "methods", "kinds", "rate_limit", "expires_at", "max_uses"]
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw PolicyError("unknown key \"\(unknown)\" in policy")
        }
        guard let nameValue = object["name"] else { throw PolicyError("policy needs a name") }
        guard let name = nameValue.stringValue, !name.isEmpty, name.utf8.count <= 64 else {
            throw PolicyError("name must be a string of 1 to 64 bytes")
        }
        guard let methodValues = object["methods"]?.arrayValue else { throw PolicyError("methods must be an array of method names") }
        var methods: Set<PolicyMethod> = []
        for value in methodValues {
            guard let text = value.stringValue else { throw PolicyError("methods must be an array of method names") }
            guard let method = PolicyMethod(rawValue: text) else { throw PolicyError("unknown method \"\(text)\" in methods") }
            methods.insert(method)
        }
        guard !methods.isEmpty else { throw PolicyError("methods must not be empty") }
        let kinds = try Self.parseKinds(object["kinds"])
        if methods.contains(.signEvent) && kinds.isEmpty {
            throw PolicyError("kinds must list at least one kind when sign_event is allowed")
        }
        var perMinute: Int? = nil
        var perDay: Int? = nil
        if let limits = object["rate_limit"] {
            guard let limitsObject = limits.objectValue else { throw PolicyError("rate_limit must be an object") }
            if let unknown = limitsObject.keys.sorted().first(where: { $0 != "per_minute" && $0 != "per_day" }) {
                throw PolicyError("unknown key \"\(unknown)\" in rate_limit")
            }
            perMinute = try limitsObject["per_minute"].map { Int(try Self.positive($0, "rate_limit.per_minute")) }
            perDay = try limitsObject["per_day"].map { Int(try Self.positive($0, "rate_limit.per_day")) }
        }
        self.init(
            name: name,
            methods: methods,
            kinds: kinds,
            perMinute: perMinute,
            perDay: perDay,
            expiresAt: try object["expires_at"].map { try Self.positive($0, "expires_at") },
            maxUses: try object["max_uses"].map { try Self.positive($0, "max_uses") }
        )
    }

    /// Parses the JSON text stored with an authorization: a built-in name as a JSON string, or a custom object.
    public init(stored text: String) throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw PolicyError("policy is not valid JSON: \(error)")
        }
        if let name = value.stringValue {
            guard let policy = Self.builtIn(named: name) else { throw PolicyError("unknown policy \"\(name)\"") }
            self = policy
        } else {
            try self.init(json: value)
        }
    }

    /// The JSON text to store with an authorization: built-ins by name (so later fixes to a built-in reach existing
    /// authorizations), custom policies in full.
    public var storedForm: String {
        Self.builtIn(named: self.name) == self ? JSONValue.string(self.name).serialized() : self.json().serialized()
    }

    private static func positive(_ value: JSONValue, _ field: String) throws -> Int64 {
        guard let number = value.integerValue, number > 0 else { throw PolicyError("\(field) must be a positive integer") }
        return number
    }

    private static func parseKinds(_ value: JSONValue?) throws -> KindSet {
        guard let value else { return KindSet(kinds: []) }
        if value.stringValue == "all" { return .all }
        guard let entries = value.arrayValue else { throw PolicyError("kinds must be \"all\" or an array of kinds and \"a-b\" ranges") }
        var kinds: [UInt16] = []
        var ranges: [ClosedRange<UInt16>] = []
        for entry in entries {
            if let number = entry.integerValue {
                guard let kind = UInt16(exactly: number) else { throw PolicyError("kind \(number) is outside 0...65535") }
                kinds.append(kind)
            } else if let text = entry.stringValue {
                let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count == 2, let low = UInt16(bounds[0]), let high = UInt16(bounds[1]), low <= high else {
                    throw PolicyError("kind range \"\(text)\" must be \"a-b\" with 0 <= a <= b <= 65535")
                }
                ranges.append(low...high)
            } else {
                throw PolicyError("kinds must be \"all\" or an array of kinds and \"a-b\" ranges")
            }
        }
        return KindSet(kinds: kinds, ranges: ranges)
    }
}

/// Why a policy definition was rejected; the text names the field.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
