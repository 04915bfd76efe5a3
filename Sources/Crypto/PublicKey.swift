import CSecp256k1

/// A BIP-340 x-only public key: 32 bytes, checked to be the x coordinate of a point on secp256k1.
///
/// The parsed form is kept alongside the bytes so verification does not pay for parsing again.
public struct PublicKey: Sendable {
    /// The 32 bytes of the x coordinate.
    public let bytes: [UInt8]
    let parsed: secp256k1_xonly_pubkey

    /// - Throws: ``NostrCryptoError/invalidPublicKey`` unless `bytes` is 32 bytes naming a curve point.
    public init(bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        guard bytes.count == 32 else { throw NostrCryptoError.invalidPublicKey }
        var parsed = secp256k1_xonly_pubkey()
        guard secp256k1_xonly_pubkey_parse(Secp256k1Context.shared.pointer, &parsed, bytes) == 1 else {
            throw NostrCryptoError.invalidPublicKey
        }
        self.bytes = bytes
        self.parsed = parsed
    }

    init(validatedBytes bytes: [UInt8], parsed: secp256k1_xonly_pubkey) {
        self.bytes = bytes
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
    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.bytes) }
}

extension PublicKey: CustomStringConvertible {
    public var description: String { self.hex }
}
