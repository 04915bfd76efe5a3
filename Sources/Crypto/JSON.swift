/// A JSON value from the strict parser.
///
/// Numbers keep their literal text so callers decide what is acceptable: an event's `kind` must be written as an
/// integer, and `1.0` or `1e0` are rejected instead of being silently converted.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value of a number written as an integer (no fraction, no exponent) that fits in `Int64`.
    public var integerValue: Int64? {
        guard case .number(let literal) = self else { return nil }
        guard !literal.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else {
            return nil
        }
        return Int64(literal)
    }

    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    public var arrayValue: [JSONValue]? {
        guard case .array(let value) = self else { return nil }
        return value
    }

    public var objectValue: [String: JSONValue]? {
        guard case .object(let value) = self else { return nil }
        return value
    }

    /// Parses one JSON text (RFC 8259) strictly: no trailing commas, no comments, no duplicate object keys,
    /// no unescaped control characters, no lone surrogates, valid UTF-8, and nothing but whitespace after the value.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes), maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }

    /// Parses the UTF-8 of `text`.
    public static func parse(_ text: String, maximumDepth: Int = 64) throws -> JSONValue {
        try self.parse(Array(text.utf8), maximumDepth: maximumDepth)
    }

    /// Compact JSON, with strings escaped the NIP-01 way (see ``JSONWriter``). Object keys are sorted so the
    /// output is deterministic.
    public func serialized() -> String {
        var output: [UInt8] = []
        JSONWriter.append(self, to: &output)
        return String(decoding: output, as: UTF8.self)
    }
}

/// Why a JSON text was rejected, with the byte offset where the parser stopped. It never quotes the input.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: String
    public let offset: Int

    public var description: String { "\(self.reason) at byte \(self.offset)" }
}

struct JSONParser {
    private let bytes: [UInt8]
    private let maximumDepth: Int
    private var index = 0
    private var depth = 0

    init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func parseDocument() throws -> JSONValue {
        self.skipWhitespace()
        let value = try self.parseValue()
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the JSON value") }
        return value
    }

    private func error(_ reason: String) -> JSONError {
        JSONError(reason: reason, offset: self.index)
    }

    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws -> JSONValue {
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"): return try self.parseObject()
        case UInt8(ascii: "["): return try self.parseArray()
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "t"): try self.expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try self.expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try self.expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.parseNumber()
        default: throw self.error("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw self.error("invalid literal") }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where self.bytes[self.index + offset] != expected[offset] {
            throw self.error("invalid literal")
        }
        self.index += count
    }

    private mutating func enterContainer() throws {
        self.depth += 1
        guard self.depth <= self.maximumDepth else { throw self.error("nesting too deep") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try self.enterContainer()
        defer { self.depth -= 1 }
        self.index += 1
        var object: [String: JSONValue] = [:]
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return .object(object)
        }
        while true {
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            guard self.bytes[self.index] == UInt8(ascii: "\"") else { throw self.error("expected a string key") }
            let keyOffset = self.index
            let key = try self.parseString()
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            guard self.bytes[self.index] == UInt8(ascii: ":") else { throw self.error("expected ':'") }
            self.index += 1
            self.skipWhitespace()
            let value = try self.parseValue()
            guard object.updateValue(value, forKey: key) == nil else {
                throw JSONError(reason: "duplicate object key", offset: keyOffset)
            }
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            switch self.bytes[self.index] {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"): self.index += 1; return .object(object)
            default: throw self.error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try self.enterContainer()
        defer { self.depth -= 1 }
        self.index += 1
        var array: [JSONValue] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            return .array(array)
        }
        while true {
            self.skipWhitespace()
            array.append(try self.parseValue())
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            switch self.bytes[self.index] {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"): self.index += 1; return .array(array)
            default: throw self.error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = self.index
        if self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
        guard self.index < self.bytes.count, Self.isDigit(self.bytes[self.index]) else { throw self.error("invalid number") }
        if self.bytes[self.index] == UInt8(ascii: "0") {
            self.index += 1
            if self.index < self.bytes.count, Self.isDigit(self.bytes[self.index]) {
                throw self.error("invalid number: leading zero")
            }
        } else {
            self.skipDigits()
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            self.index += 1
            guard self.index < self.bytes.count, Self.isDigit(self.bytes[self.index]) else { throw self.error("invalid number") }
            self.skipDigits()
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "e") || self.bytes[self.index] == UInt8(ascii: "E") {
            self.index += 1
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-") {
                self.index += 1
            }
            guard self.index < self.bytes.count, Self.isDigit(self.bytes[self.index]) else { throw self.error("invalid number") }
            self.skipDigits()
        }
        return .number(String(decoding: self.bytes[start..<self.index], as: UTF8.self))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while self.index < self.bytes.count, Self.isDigit(self.bytes[self.index]) { self.index += 1 }
    }

    private mutating func parseString() throws -> String {
        self.index += 1  // opening quote
        let start = self.index
        // Fast path: no escapes.
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                guard let string = String(validating: self.bytes[start..<self.index], as: UTF8.self) else {
                    throw JSONError(reason: "invalid UTF-8 in string", offset: start)
                }
                self.index += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw self.error("unescaped control character in string") }
            self.index += 1
        }
        var buffer = Array(self.bytes[start..<self.index])
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: buffer, as: UTF8.self) else {
                    throw JSONError(reason: "invalid UTF-8 in string", offset: start)
                }
                self.index += 1
                return string
            case UInt8(ascii: "\\"):
                self.index += 1
                guard self.index < self.bytes.count else { throw self.error("unterminated string") }
                let escape = self.bytes[self.index]
                self.index += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"): try self.appendUnicodeEscape(to: &buffer)
                default: throw self.error("invalid escape")
                }
            default:
                guard byte >= 0x20 else { throw self.error("unescaped control character in string") }
                buffer.append(byte)
                self.index += 1
            }
        }
        throw self.error("unterminated string")
    }

    private mutating func readHex4() throws -> UInt32 {
        guard self.index + 4 <= self.bytes.count else { throw self.error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let nibble: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw self.error("invalid \\u escape")
            }
            value = value << 4 | nibble
            self.index += 1
        }
        return value
    }

    private mutating func appendUnicodeEscape(to buffer: inout [UInt8]) throws {
        let escapeOffset = self.index - 2
        let loneSurrogate = JSONError(reason: "lone surrogate in \\u escape", offset: escapeOffset)
        var scalarValue = try self.readHex4()
        if (0xD800...0xDBFF).contains(scalarValue) {
            guard self.index + 2 <= self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                self.bytes[self.index + 1] == UInt8(ascii: "u")
            else {
                throw loneSurrogate
            }
            self.index += 2
            let low = try self.readHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw loneSurrogate }
            scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalarValue) {
            throw loneSurrogate
        }
        guard let scalar = Unicode.Scalar(scalarValue) else { throw self.error("invalid \\u escape") }
        buffer.append(contentsOf: UTF8.encode(scalar)!)
    }
}

/// Writes JSON with the string escaping NIP-01 prescribes for the event id: only `\n`, `\"`, `\\`, `\r`, `\t`,
/// `\b` and `\f` get short escapes; the other control characters U+0000–U+001F are written as `\u00XX` (lowercase,
/// as JavaScript's `JSON.stringify` and serde_json do, since they would otherwise be invalid JSON); every other
/// character, `/`, DEL, U+2028 and emoji included, is written as its raw UTF-8.
public enum JSONWriter {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `string` as a quoted, escaped JSON string.
    public static func appendString(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x00..<0x20:
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                output.append(Self.hexDigits[Int(byte >> 4)])
                output.append(Self.hexDigits[Int(byte & 0x0F)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends an integer in plain decimal.
    public static func appendInteger(_ value: some BinaryInteger, to output: inout [UInt8]) {
        output.append(contentsOf: String(value).utf8)
    }

    /// Appends `[[…],[…]]` for NIP-01 tags.
    public static func appendTags(_ tags: [[String]], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (tagIndex, tag) in tags.enumerated() {
            if tagIndex > 0 { output.append(UInt8(ascii: ",")) }
            output.append(UInt8(ascii: "["))
            for (valueIndex, value) in tag.enumerated() {
                if valueIndex > 0 { output.append(UInt8(ascii: ",")) }
                self.appendString(value, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(UInt8(ascii: "]"))
    }

    /// Appends any value compactly, object keys sorted.
    public static func append(_ value: JSONValue, to output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let literal): output.append(contentsOf: literal.utf8)
        case .string(let string): self.appendString(string, to: &output)
        case .array(let array):
            output.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                self.append(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                self.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                self.append(object[key]!, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}
