import CSecp256k1

/// Elliptic-curve Diffie–Hellman on secp256k1 as NIP-04 and NIP-44 use it.
public enum ECDH {
    /// The raw 32-byte x coordinate of `secretKey · publicKey`, where the x-only public key is lifted to the point
    /// with even y. libsecp256k1's default hashes the point; NIP-04 and NIP-44 need it unhashed.
    public static func sharedX(secretKey: SecretKey, publicKey: PublicKey) throws -> SecureBytes {
        let context = Secp256k1Context.shared.pointer
        var point = secp256k1_pubkey()
        let compressed = [0x02] + publicKey.bytes
        guard secp256k1_ec_pubkey_parse(context, &point, compressed, compressed.count) == 1 else {
            throw NostrCryptoError.invalidPublicKey
        }
        // A non-capturing closure, so it converts to the C function pointer libsecp256k1 expects.
        let copyX: secp256k1_ecdh_hash_function = { output, x32, _, _ in
            guard let output, let x32 else { return 0 }
            output.update(from: x32, count: 32)
            return 1
        }
        return try SecureBytes(count: 32) { buffer in
            let output = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let result = secretKey.withUnsafeSecretBytes { secret in
                secp256k1_ecdh(context, output, &point, secret.baseAddress!.assumingMemoryBound(to: UInt8.self), copyX, nil)
            }
            guard result == 1 else { throw NostrCryptoError.invalidSecretKey }
        }
    }
}
