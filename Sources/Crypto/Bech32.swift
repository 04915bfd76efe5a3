/// Bech32 (BIP-173, not bech32m), as NIP-19 uses it.
///
/// BIP-173 caps strings at 90 characters; NIP-19 does not (ncryptsec and TLV entities are longer), so this
/// decoder accepts up to ``maximumLength`` characters instead.
public enum Bech32 {
    /// NIP-19's bound on entity strings.
    public static let maximumLength = 5000

    private static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let charsetReverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, character) in charset.enumerated() {
            table[Int(character)] = Int8(index)
        }
        return table
    }()

    /// Encodes 8-bit `payload` under the human-readable `prefix` (lowercase).
    public static func encode(prefix: String, payload: some Collection<UInt8>) -> String {
        let data = Self.convertBits(Array(payload), from: 8, to: 5, pad: true)!
        let checksum = Self.checksum(prefix: Array(prefix.utf8), data: data)
        var output = Array(prefix.utf8)
        output.append(UInt8(ascii: "1"))
        for value in data + checksum {
            output.append(Self.charset[Int(value)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes a bech32 string into its lowercase prefix and 8-bit payload.
    /// - Throws: ``NostrCryptoError/invalidBech32`` for a bad length, mixed case, a character outside the charset, a
    ///   missing separator, a wrong checksum or non-zero padding bits.
    public static func decode(_ string: String) throws -> (prefix: String, payload: [UInt8]) {
        let bytes = Array(string.utf8)
        guard bytes.count >= 8, bytes.count <= Self.maximumLength else { throw NostrCryptoError.invalidBech32 }
        var hasLower = false
        var hasUpper = false
        for byte in bytes {
            guard byte >= 33, byte <= 126 else { throw NostrCryptoError.invalidBech32 }
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { hasLower = true }
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { hasUpper = true }
        }
        guard !(hasLower && hasUpper) else { throw NostrCryptoError.invalidBech32 }
        let lowered = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        guard let separator = lowered.lastIndex(of: UInt8(ascii: "1")), separator >= 1,
            lowered.count - separator - 1 >= 6
        else {
            throw NostrCryptoError.invalidBech32
        }
        let prefix = Array(lowered[..<separator])
        var data: [UInt8] = []
        data.reserveCapacity(lowered.count - separator - 1)
        for character in lowered[(separator + 1)...] {
            guard character < 128, Self.charsetReverse[Int(character)] >= 0 else { throw NostrCryptoError.invalidBech32 }
            data.append(UInt8(Self.charsetReverse[Int(character)]))
        }
        guard Self.polymod(Self.expand(prefix) + data) == 1 else { throw NostrCryptoError.invalidBech32 }
        guard let payload = Self.convertBits(Array(data.dropLast(6)), from: 5, to: 8, pad: false) else {
            throw NostrCryptoError.invalidBech32
        }
        return (String(decoding: prefix, as: UTF8.self), payload)
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generators: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for (bit, generator) in generators.enumerated() where (top >> UInt32(bit)) & 1 == 1 {
                checksum ^= generator
            }
        }
        return checksum
    }

    private static func expand(_ prefix: [UInt8]) -> [UInt8] {
        prefix.map { $0 >> 5 } + [0] + prefix.map { $0 & 31 }
    }

    private static func checksum(prefix: [UInt8], data: [UInt8]) -> [UInt8] {
        let value = Self.polymod(Self.expand(prefix) + data + [0, 0, 0, 0, 0, 0]) ^ 1
        return (0..<6).map { UInt8((value >> (5 * (5 - UInt32($0)))) & 31) }
    }

    /// Regroups bits; with `pad == false`, leftover bits must be fewer than `from` and all zero.
    private static func convertBits(_ input: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0
        var bits = 0
        var output: [UInt8] = []
        output.reserveCapacity(input.count * from / to + 1)
        let maximum = (1 << to) - 1
        for value in input {
            guard Int(value) >> from == 0 else { return nil }
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                output.append(UInt8((accumulator >> bits) & maximum))
            }
            accumulator &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { output.append(UInt8((accumulator << (to - bits)) & maximum)) }
        } else if bits >= from || (accumulator << (to - bits)) & maximum != 0 {
            return nil
        }
        return output
    }
}
