import Crypto

/// A NIP-01 event id: the SHA-256 of the event's canonical serialization.
public struct EventID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses 64 lowercase hex digits.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex, lowercaseOnly: true) else { return nil }
        self.init(bytes: bytes)
    }

    public var hex: String { Hex.encode(self.bytes) }
    public var description: String { self.hex }
}

/// Bounds applied when parsing events from untrusted JSON.
public struct EventLimits: Sendable, Hashable {
    /// The largest event JSON accepted, in bytes.
    public var maximumJSONBytes: Int
    /// The most tags an event may have.
    public var maximumTags: Int
    /// The most strings one tag may have.
    public var maximumValuesPerTag: Int

    public init(maximumJSONBytes: Int = 256 * 1024, maximumTags: Int = 4096, maximumValuesPerTag: Int = 256) {
        self.maximumJSONBytes = maximumJSONBytes
        self.maximumTags = maximumTags
        self.maximumValuesPerTag = maximumValuesPerTag
    }

    public static let `default` = EventLimits()
}

/// Why an event was rejected. The text names the field and the rule; it never quotes content or tag values.
public struct EventError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable category, for callers that map errors to protocol codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidJSON = "invalid_json"
            case tooLarge = "too_large"
            case missingField = "missing_field"
            case invalidField = "invalid_field"
            case idMismatch = "id_mismatch"
            case invalidSignature = "invalid_signature"
            case pubkeyMismatch = "pubkey_mismatch"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let invalidJSON = Self(.invalidJSON)
        public static let tooLarge = Self(.tooLarge)
        public static let missingField = Self(.missingField)
        public static let invalidField = Self(.invalidField)
        public static let idMismatch = Self(.idMismatch)
        public static let invalidSignature = Self(.invalidSignature)
        public static let pubkeyMismatch = Self(.pubkeyMismatch)

        public var description: String { self.base.rawValue }
    }

    public let code: Code
    public let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    static func missing(_ field: String) -> EventError { EventError(.missingField, "missing field: \(field)") }
    static func invalid(_ field: String, _ rule: String) -> EventError { EventError(.invalidField, "\(field) \(rule)") }
}

/// The fields every event has, parsed and checked once for both the signed and the unsigned form.
struct EventBody: Sendable, Hashable {
    var createdAt: Int64
    var kind: UInt16
    var tags: [[String]]
    var content: String

    /// JavaScript peers cannot represent larger integers exactly.
    static let maximumCreatedAt: Int64 = 9_007_199_254_740_991

    init(createdAt: Int64, kind: UInt16, tags: [[String]], content: String) {
        self.createdAt = createdAt
        self.kind = kind
        self.tags = tags
        self.content = content
    }

    static func parseObject(_ json: some Collection<UInt8>, limits: EventLimits) throws -> [String: JSONValue] {
        guard json.count <= limits.maximumJSONBytes else {
            throw EventError(.tooLarge, "event JSON exceeds \(limits.maximumJSONBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(json)
        } catch let error as JSONError {
            throw EventError(.invalidJSON, "invalid JSON: \(error)")
        }
        guard let object = value.objectValue else { throw EventError(.invalidJSON, "event must be a JSON object") }
        return object
    }

    init(object: [String: JSONValue], limits: EventLimits) throws {
        guard let kindValue = object["kind"] else { throw EventError.missing("kind") }
        guard let kind = kindValue.integerValue, let kind16 = UInt16(exactly: kind) else {
            throw EventError.invalid("kind", "must be an integer in 0...65535")
        }
        guard let createdAtValue = object["created_at"] else { throw EventError.missing("created_at") }
        guard let createdAt = createdAtValue.integerValue, (0...Self.maximumCreatedAt).contains(createdAt) else {
            throw EventError.invalid("created_at", "must be an integer in 0...\(Self.maximumCreatedAt)")
        }
        guard let tagsValue = object["tags"] else { throw EventError.missing("tags") }
        guard let tagArray = tagsValue.arrayValue else { throw EventError.invalid("tags", "must be an array of arrays of strings") }
        guard tagArray.count <= limits.maximumTags else {
            throw EventError(.tooLarge, "tags has more than \(limits.maximumTags) entries")
        }
        var tags: [[String]] = []
        tags.reserveCapacity(tagArray.count)
        for (index, tagValue) in tagArray.enumerated() {
            guard let values = tagValue.arrayValue else { throw EventError.invalid("tags[\(index)]", "must be an array of strings") }
            guard !values.isEmpty else { throw EventError.invalid("tags[\(index)]", "must not be empty") }
            guard values.count <= limits.maximumValuesPerTag else {
                throw EventError(.tooLarge, "tags[\(index)] has more than \(limits.maximumValuesPerTag) values")
            }
            var tag: [String] = []
            tag.reserveCapacity(values.count)
            for (valueIndex, value) in values.enumerated() {
                guard let string = value.stringValue else {
                    throw EventError.invalid("tags[\(index)][\(valueIndex)]", "must be a string")
                }
                tag.append(string)
            }
            tags.append(tag)
        }
        guard let contentValue = object["content"] else { throw EventError.missing("content") }
        guard let content = contentValue.stringValue else { throw EventError.invalid("content", "must be a string") }
        self.createdAt = createdAt
        self.kind = kind16
        self.tags = tags
        self.content = content
    }

    /// `[0,<pubkey>,<created_at>,<kind>,<tags>,<content>]` with NIP-01 escaping and no whitespace.
    func canonicalSerialization(pubkey: PublicKey) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(self.content.utf8.count + 128 + self.tags.count * 80)
        output.append(contentsOf: "[0,\"".utf8)
        output.append(contentsOf: pubkey.hex.utf8)
        output.append(contentsOf: "\",".utf8)
        JSONWriter.appendInteger(self.createdAt, to: &output)
        output.append(UInt8(ascii: ","))
        JSONWriter.appendInteger(self.kind, to: &output)
        output.append(UInt8(ascii: ","))
        JSONWriter.appendTags(self.tags, to: &output)
        output.append(UInt8(ascii: ","))
        JSONWriter.appendString(self.content, to: &output)
        output.append(UInt8(ascii: "]"))
        return output
    }

    func id(pubkey: PublicKey) -> EventID {
        EventID(bytes: Array(SHA256.hash(data: self.canonicalSerialization(pubkey: pubkey))))!
    }
}

/// An event that has not been signed yet, as a client hands it to a signer. `pubkey` may be absent; signing fills it.
public struct UnsignedEvent: Sendable, Hashable {
    public var pubkey: PublicKey?
    public var createdAt: Int64 { get { self.body.createdAt } set { self.body.createdAt = newValue } }
    public var kind: UInt16 { get { self.body.kind } set { self.body.kind = newValue } }
    public var tags: [[String]] { get { self.body.tags } set { self.body.tags = newValue } }
    public var content: String { get { self.body.content } set { self.body.content = newValue } }

    private var body: EventBody

    public init(pubkey: PublicKey? = nil, createdAt: Int64, kind: UInt16, tags: [[String]] = [], content: String) {
        self.pubkey = pubkey
        self.body = EventBody(createdAt: createdAt, kind: kind, tags: tags, content: content)
    }

    /// Parses and checks an unsigned event. `kind`, `created_at`, `tags` and `content` are required; `pubkey` is
    /// optional; `id` and `sig`, if present, are ignored because signing computes them; other keys are ignored.
    public init(json: some Collection<UInt8>, limits: EventLimits = .default) throws {
        let object = try EventBody.parseObject(json, limits: limits)
        try self.init(object: object, limits: limits)
    }

    public init(object: [String: JSONValue], limits: EventLimits = .default) throws {
        self.body = try EventBody(object: object, limits: limits)
        if let pubkeyValue = object["pubkey"] {
            self.pubkey = try Self.parsePubkey(pubkeyValue)
        }
    }

    static func parsePubkey(_ value: JSONValue) throws -> PublicKey {
        guard let hex = value.stringValue, let bytes = Hex.decode(hex, lowercaseOnly: true), bytes.count == 32,
            let key = try? PublicKey(bytes: bytes)
        else {
            throw EventError.invalid("pubkey", "must be 64 lowercase hex digits of a valid public key")
        }
        return key
    }

    /// The bytes whose SHA-256 is the id, for a given author.
    public func canonicalSerialization(pubkey: PublicKey) -> [UInt8] {
        self.body.canonicalSerialization(pubkey: pubkey)
    }

    /// The id this event gets when signed by `pubkey`.
    public func id(pubkey: PublicKey) -> EventID {
        self.body.id(pubkey: pubkey)
    }

    /// Signs with `key`, filling in the pubkey, id and signature.
    /// - Throws: ``EventError/Code/pubkeyMismatch`` if the event names a different pubkey.
    public func signed(with key: SecretKey) throws -> Event {
        if let pubkey, pubkey != key.publicKey {
            throw EventError(.pubkeyMismatch, "pubkey does not match the signing key")
        }
        let id = self.body.id(pubkey: key.publicKey)
        let signature = try Schnorr.sign(message: id.bytes, with: key)
        return Event(id: id, pubkey: key.publicKey, body: self.body, signature: signature)
    }

    /// Signs with explicit auxiliary randomness (deterministic, for tests and vectors).
    public func signed(with key: SecretKey, auxiliaryRandomness: [UInt8]) throws -> Event {
        if let pubkey, pubkey != key.publicKey {
            throw EventError(.pubkeyMismatch, "pubkey does not match the signing key")
        }
        let id = self.body.id(pubkey: key.publicKey)
        let signature = try Schnorr.sign(message: id.bytes, with: key, auxiliaryRandomness: auxiliaryRandomness)
        return Event(id: id, pubkey: key.publicKey, body: self.body, signature: signature)
    }
}

/// A signed NIP-01 event.
public struct Event: Sendable, Hashable {
    public let id: EventID
    public let pubkey: PublicKey
    public var createdAt: Int64 { self.body.createdAt }
    public var kind: UInt16 { self.body.kind }
    public var tags: [[String]] { self.body.tags }
    public var content: String { self.body.content }
    /// The 64-byte BIP-340 signature.
    public let signature: [UInt8]

    private let body: EventBody

    init(id: EventID, pubkey: PublicKey, body: EventBody, signature: [UInt8]) {
        self.id = id
        self.pubkey = pubkey
        self.body = body
        self.signature = signature
    }

    /// Parses an event strictly. All seven fields are required; hex must be lowercase. This checks the shape
    /// only: call ``verify()`` to check the id and the signature.
    public init(json: some Collection<UInt8>, limits: EventLimits = .default) throws {
        let object = try EventBody.parseObject(json, limits: limits)
        try self.init(object: object, limits: limits)
    }

    public init(object: [String: JSONValue], limits: EventLimits = .default) throws {
        guard let idValue = object["id"] else { throw EventError.missing("id") }
        guard let idHex = idValue.stringValue, let id = EventID(hex: idHex) else {
            throw EventError.invalid("id", "must be 64 lowercase hex digits")
        }
        guard let pubkeyValue = object["pubkey"] else { throw EventError.missing("pubkey") }
        let pubkey = try UnsignedEvent.parsePubkey(pubkeyValue)
        guard let signatureValue = object["sig"] else { throw EventError.missing("sig") }
        guard let signatureHex = signatureValue.stringValue, let signature = Hex.decode(signatureHex, lowercaseOnly: true),
            signature.count == 64
        else {
            throw EventError.invalid("sig", "must be 128 lowercase hex digits")
        }
        let body = try EventBody(object: object, limits: limits)
        self.init(id: id, pubkey: pubkey, body: body, signature: signature)
    }

    /// Checks that the id is the hash of the content and that the signature is the author's.
    public func verify() throws {
        guard self.body.id(pubkey: self.pubkey) == self.id else {
            throw EventError(.idMismatch, "id does not match the event's canonical serialization")
        }
        guard Schnorr.verify(signature: self.signature, message: self.id.bytes, publicKey: self.pubkey) else {
            throw EventError(.invalidSignature, "signature does not verify")
        }
    }

    /// Whether ``verify()`` passes.
    public var isValid: Bool { (try? self.verify()) != nil }

    /// The event without its id and signature.
    public var unsigned: UnsignedEvent {
        UnsignedEvent(pubkey: self.pubkey, createdAt: self.createdAt, kind: self.kind, tags: self.tags, content: self.content)
    }

    /// The event as compact JSON, strings escaped as in the id serialization.
    public func jsonBytes() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(self.content.utf8.count + 320 + self.tags.count * 80)
        output.append(contentsOf: "{\"id\":\"".utf8)
        output.append(contentsOf: self.id.hex.utf8)
        output.append(contentsOf: "\",\"pubkey\":\"".utf8)
        output.append(contentsOf: self.pubkey.hex.utf8)
        output.append(contentsOf: "\",\"created_at\":".utf8)
        JSONWriter.appendInteger(self.createdAt, to: &output)
        output.append(contentsOf: ",\"kind\":".utf8)
        JSONWriter.appendInteger(self.kind, to: &output)
        output.append(contentsOf: ",\"tags\":".utf8)
        JSONWriter.appendTags(self.tags, to: &output)
        output.append(contentsOf: ",\"content\":".utf8)
        JSONWriter.appendString(self.content, to: &output)
        output.append(contentsOf: ",\"sig\":\"".utf8)
        output.append(contentsOf: Hex.encode(self.signature).utf8)
        output.append(contentsOf: "\"}".utf8)
        return output
    }

    /// ``jsonBytes()`` as a string.
    public func jsonString() -> String {
        String(decoding: self.jsonBytes(), as: UTF8.self)
    }
}
