/// Hexadecimal encoding and decoding of bytes.
public enum Hex {
    @usableFromInline
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    @inlinable
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            output.append(Self.digits[Int(byte >> 4)])
            output.append(Self.digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of an even-length hex string, or `nil` if it is not one.
    /// - Parameter lowercaseOnly: reject `A`–`F`, as NIP-01 requires for ids, pubkeys and signatures.
    public static func decode(_ string: some StringProtocol, lowercaseOnly: Bool = false) -> [UInt8]? {
        let utf8 = string.utf8
        guard utf8.count % 2 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count / 2)
        var high: UInt8? = nil
        for character in utf8 {
            guard let nibble = Self.nibble(character, lowercaseOnly: lowercaseOnly) else { return nil }
            if let upper = high {
                output.append(upper << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return output
    }

    /// Decodes into a `SecureBytes`, wiping the temporary copy, for hex that holds a secret.
    static func decodeSecret(_ string: some StringProtocol) -> SecureBytes? {
        guard var bytes = Self.decode(string) else { return nil }
        defer { SecureBytes.wipe(&bytes) }
        return SecureBytes(copying: bytes)
    }

    static func nibble(_ character: UInt8, lowercaseOnly: Bool) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F") where !lowercaseOnly: character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
