/// Standard base64 (RFC 4648 §4, `+` and `/`), strict about its alphabet.
///
/// Foundation is not used so the rules are exactly these: the URL-safe alphabet is rejected, padding is
/// checked, and callers decide whether padding may be omitted and whether whitespace is skipped (legacy NIP-04
/// ciphertexts sometimes carry line breaks).
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let invalid: UInt8 = 0xFF
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    /// Encodes with `=` padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(Self.alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(Self.alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(Self.alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(Self.alphabet[Int(chunk & 0x3F)])
            index += 3
        }
        let remaining = input.count - index
        if remaining > 0 {
            var chunk = UInt32(input[index]) << 16
            if remaining == 2 { chunk |= UInt32(input[index + 1]) << 8 }
            output.append(Self.alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(Self.alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(remaining == 2 ? Self.alphabet[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "="))
            output.append(UInt8(ascii: "="))
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes `string`, or returns `nil` if it is not valid base64.
    /// - Parameters:
    ///   - requirePadding: when `false`, input without its trailing `=` is also accepted.
    ///   - skipWhitespace: when `true`, spaces, tabs, CR and LF anywhere are ignored.
    public static func decode(_ string: some StringProtocol, requirePadding: Bool = true, skipWhitespace: Bool = false) -> [UInt8]? {
        var symbols: [UInt8] = []
        symbols.reserveCapacity(string.utf8.count)
        var padding = 0
        for character in string.utf8 {
            if skipWhitespace, character == 0x20 || character == 0x09 || character == 0x0A || character == 0x0D {
                continue
            }
            if character == UInt8(ascii: "=") {
                padding += 1
                guard padding <= 2 else { return nil }
                continue
            }
            // Nothing but padding may follow padding.
            guard padding == 0 else { return nil }
            let value = Self.decodeTable[Int(character)]
            guard value != Self.invalid else { return nil }
            symbols.append(value)
        }
        let remainder = symbols.count % 4
        guard remainder != 1 else { return nil }
        if padding > 0 || requirePadding {
            let expectedPadding = remainder == 0 ? 0 : 4 - remainder
            guard padding == expectedPadding else { return nil }
        }

        var output: [UInt8] = []
        output.reserveCapacity(symbols.count * 3 / 4)
        var index = 0
        while index + 4 <= symbols.count {
            let chunk = UInt32(symbols[index]) << 18 | UInt32(symbols[index + 1]) << 12
                | UInt32(symbols[index + 2]) << 6 | UInt32(symbols[index + 3])
            output.append(UInt8(chunk >> 16 & 0xFF))
            output.append(UInt8(chunk >> 8 & 0xFF))
            output.append(UInt8(chunk & 0xFF))
            index += 4
        }
        if remainder >= 2 {
            var chunk = UInt32(symbols[index]) << 18 | UInt32(symbols[index + 1]) << 12
            if remainder == 3 { chunk |= UInt32(symbols[index + 2]) << 6 }
            output.append(UInt8(chunk >> 16 & 0xFF))
            if remainder == 3 { output.append(UInt8(chunk >> 8 & 0xFF)) }
        }
        return output
    }
}
