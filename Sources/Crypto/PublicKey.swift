import CSecp256k1

/// A BIP-340 x-only public key: 32 bytes, checked to be the x coordinate of a point on secp256k1.
///
/// The parsed form is kept alongside the bytes so verification does not pay for parsing again. Both are stored
/// inline: a public key is 96 bytes with no heap allocation, which matters in caches holding many of them.
public struct PublicKey: Sendable {
    private let x: Bytes32
    let parsed: secp256k1_xonly_pubkey

    /// The 32 bytes of the x coordinate.
    public var bytes: [UInt8] { self.x.array }

    /// The first 8 bytes as a big-endian number, without allocating: a fingerprint for compact sets of keys.
    public var leadingWord: UInt64 { self.x.leadingWord }

    /// - Throws: ``NostrCryptoError/invalidPublicKey`` unless `bytes` is 32 bytes naming a curve point.
    @inlinable
    public init(bytes: some Collection<UInt8>) throws {
        try self.init(byteArray: Array(bytes))
    }

    @usableFromInline
    init(byteArray bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw NostrCryptoError.invalidPublicKey }
        var parsed = secp256k1_xonly_pubkey()
        guard secp256k1_xonly_pubkey_parse(Secp256k1Context.shared.pointer, &parsed, bytes) == 1 else {
            throw NostrCryptoError.invalidPublicKey
        }
        self.x = Bytes32(bytes)
        self.parsed = parsed
    }

    init(validatedX x: Bytes32, parsed: secp256k1_xonly_pubkey) {
        self.x = x
        self.parsed = parsed
    }

    /// Parses 64 hex digits (either case).
    public init(hex: some StringProtocol) throws {
        guard let bytes = Hex.decode(hex), bytes.count == 32 else { throw NostrCryptoError.invalidPublicKey }
        try self.init(bytes: bytes)
    }

    /// Parses a NIP-19 `npub1…` string.
    public init(npub: String) throws {
        let (prefix, payload) = try Bech32.decode(npub)
        guard prefix == NIP19.Prefix.publicKey else { throw NostrCryptoError.unexpectedBech32Prefix }
        guard payload.count == 32 else { throw NostrCryptoError.invalidNIP19Payload }
        try self.init(bytes: payload)
    }

    /// Lowercase hex, the form NIP-01 uses in events.
    public var hex: String { Hex.encode(self.bytes) }

    /// The NIP-19 `npub1…` form, for people.
    public var npub: String { Bech32.encode(prefix: NIP19.Prefix.publicKey, payload: self.bytes) }
}

extension PublicKey: Hashable {
    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.x == rhs.x }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.x) }
}

extension PublicKey: CustomStringConvertible {
    public var description: String { self.hex }
}

/// 32 bytes held inline as four big-endian words.
struct Bytes32: Hashable, Sendable {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32, "Bytes32 needs exactly 32 bytes")
        func word(_ start: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in start..<(start + 8) { value = value << 8 | UInt64(bytes[index]) }
            return value
        }
        self.words = (word(0), word(8), word(16), word(24))
    }

    var array: [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        for (wordIndex, word) in [self.words.0, self.words.1, self.words.2, self.words.3].enumerated() {
            for byteIndex in 0..<8 {
                output[wordIndex * 8 + byteIndex] = UInt8(truncatingIfNeeded: word >> (56 - 8 * byteIndex))
            }
        }
        return output
    }

    var leadingWord: UInt64 { self.words.0 }

    static func == (lhs: Bytes32, rhs: Bytes32) -> Bool { lhs.words == rhs.words }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }
}
