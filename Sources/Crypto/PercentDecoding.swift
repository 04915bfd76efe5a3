/// Percent-decoding of one URL component (RFC 3986 §2.1), for the user, password and path of the database and Redis
/// URLs: `%40` is `@`, `%3A` is `:`. (Not cryptography; it lives in this target because every other target depends
/// on it.)
public enum PercentDecoding {
    /// The decoded text, or `nil` when a `%` is not followed by two hex digits.
    public static func decode(_ text: some StringProtocol) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap({ Hex.nibble($0, lowercaseOnly: false) }),
                let low = iterator.next().flatMap({ Hex.nibble($0, lowercaseOnly: false) })
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
