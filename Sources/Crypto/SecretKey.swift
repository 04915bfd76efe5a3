import CSecp256k1

/// A secp256k1 secret key: 32 bytes in [1, n-1], held in memory that is wiped when the last copy is released.
///
/// It is deliberately not `Codable`, and its `description`, `debugDescription` and mirror say only that it is
/// redacted, so it cannot end up in logs, JSON or crash dumps by accident. Getting the secret out takes a call
/// whose name says so (``exportHex()``, ``exportNsec()``, ``withUnsafeSecretBytes(_:)``).
///
/// Only the libsecp256k1 keypair is kept (it holds the secret and the public key), computed once at creation, so
/// signing costs one signature, not a key derivation and a signature. The secret bytes are read out of it on demand.
public struct SecretKey: Sendable {
    private static let secretCount = 32
    private static let keypairCount = MemoryLayout<secp256k1_keypair>.size

    /// The libsecp256k1 keypair.
    private let storage: SecureBytes
    /// The x coordinate of the public key; the parsed form is read out of the keypair when asked for, which keeps a
    /// cached key 64 bytes smaller.
    private let x: Bytes32

    /// The x-only public key of this secret.
    public var publicKey: PublicKey {
        var xonly = secp256k1_xonly_pubkey()
        self.withUnsafeKeypair { keypair in
            _ = secp256k1_keypair_xonly_pub(Secp256k1Context.shared.pointer, &xonly, nil, keypair)
        }
        return PublicKey(validatedX: self.x, parsed: xonly)
    }

    /// - Throws: ``NostrCryptoError/invalidSecretKey`` unless `bytes` is 32 bytes in [1, n-1].
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.secretCount else { throw NostrCryptoError.invalidSecretKey }
        let context = Secp256k1Context.shared.pointer
        var xonly = secp256k1_xonly_pubkey()
        var secret = Array(bytes)
        defer { SecureBytes.wipe(&secret) }
        self.storage = try SecureBytes(count: Self.keypairCount) { buffer in
            let keypair = buffer.baseAddress!.assumingMemoryBound(to: secp256k1_keypair.self)
            guard secp256k1_keypair_create(context, keypair, secret) == 1,
                secp256k1_keypair_xonly_pub(context, &xonly, nil, keypair) == 1
            else {
                throw NostrCryptoError.invalidSecretKey
            }
        }
        var serialized = [UInt8](repeating: 0, count: 32)
        guard secp256k1_xonly_pubkey_serialize(context, &serialized, &xonly) == 1 else {
            throw NostrCryptoError.invalidSecretKey
        }
        self.x = Bytes32(serialized)
    }

    /// A new key from the system CSPRNG.
    public static func generate() -> SecretKey {
        while true {
            var candidate = SystemRandom.bytes(count: Self.secretCount)
            defer { SecureBytes.wipe(&candidate) }
            // A random 32-byte value is outside [1, n-1] with probability about 2^-128; draw again if so.
            if let key = try? SecretKey(bytes: candidate) {
                return key
            }
        }
    }

    /// Parses 64 hex digits (either case).
    public init(hex: some StringProtocol) throws {
        guard let secret = Hex.decodeSecret(hex), secret.count == Self.secretCount else {
            throw NostrCryptoError.invalidSecretKey
        }
        try self.init(secureBytes: secret)
    }

    /// Parses a NIP-19 `nsec1…` string.
    public init(nsec: String) throws {
        var (prefix, payload) = try Bech32.decode(nsec)
        defer { SecureBytes.wipe(&payload) }
        guard prefix == NIP19.Prefix.secretKey else { throw NostrCryptoError.unexpectedBech32Prefix }
        guard payload.count == Self.secretCount else { throw NostrCryptoError.invalidNIP19Payload }
        try self.init(bytes: payload)
    }

    /// Builds a key from bytes already held in secure storage.
    public init(secureBytes: SecureBytes) throws {
        try self = secureBytes.withUnsafeBytes { try SecretKey(bytes: $0) }
    }

    /// Gives `body` the 32 secret bytes. Do not copy them out of `body`.
    public func withUnsafeSecretBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        // A stack copy read out of the keypair, wiped as soon as `body` returns.
        var secret: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return try withUnsafeMutableBytes(of: &secret) { buffer in
            defer { SecureBytes.wipe(buffer) }
            self.withUnsafeKeypair { keypair in
                _ = secp256k1_keypair_sec(Secp256k1Context.shared.pointer, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), keypair)
            }
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    func withUnsafeKeypair<Result>(_ body: (UnsafePointer<secp256k1_keypair>) throws -> Result) rethrows -> Result {
        try self.storage.withUnsafeBytes { buffer in
            try body(buffer.baseAddress!.assumingMemoryBound(to: secp256k1_keypair.self))
        }
    }

    /// The secret as 64 lowercase hex digits. Only for deliberate export; the string cannot be wiped.
    public func exportHex() -> String {
        self.withUnsafeSecretBytes { Hex.encode($0) }
    }

    /// The secret as a NIP-19 `nsec1…` string. Only for deliberate export; the string cannot be wiped.
    public func exportNsec() -> String {
        self.withUnsafeSecretBytes { Bech32.encode(prefix: NIP19.Prefix.secretKey, payload: Array($0)) }
    }
}

extension SecretKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretKey(redacted)" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
