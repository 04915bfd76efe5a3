import NostrCrypto
import Testing

struct Base64Tests {
    @Test func rfc4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }

    @Test func strictness() {
        #expect(Base64.decode("Zg") == nil)  // padding required by default
        #expect(Base64.decode("Zg", requirePadding: false) == Array("f".utf8))
        #expect(Base64.decode("Zg=", requirePadding: false) == nil)  // wrong amount of padding
        #expect(Base64.decode("Zg===") == nil)
        #expect(Base64.decode("Z===") == nil)
        #expect(Base64.decode("Zg==Zg==") == nil)  // data after padding
        #expect(Base64.decode("-_8=") == nil)  // URL-safe alphabet
        #expect(Base64.decode("Zm9v\nYmFy") == nil)
        #expect(Base64.decode("Zm9v\nYmFy", skipWhitespace: true) == Array("foobar".utf8))
        #expect(Base64.decode("Zm9v YmFy") == nil)
        #expect(Base64.decode("Zm9vY") == nil)  // one dangling symbol
    }
}

struct HexTests {
    @Test func roundTripAndCase() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00abff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("00ABff", lowercaseOnly: true) == nil)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
    }
}

struct JSONTests {
    @Test func values() throws {
        #expect(try JSONValue.parse(" [1,-0,2.5e-3,true,false,null,\"\\u00e9\\ud83e\\udd84\\/\"] ")
            == .array([.number("1"), .number("-0"), .number("2.5e-3"), .bool(true), .bool(false), .null, .string("é🦄/")]))
        #expect(try JSONValue.parse("{\"a\":{\"b\":[]}}") == .object(["a": .object(["b": .array([])])]))
        #expect(JSONValue.number("12").integerValue == 12)
        #expect(JSONValue.number("1.0").integerValue == nil)
        #expect(JSONValue.number("1E2").integerValue == nil)
    }

    static func error(_ text: String, maximumDepth: Int = 64) -> String? {
        do {
            _ = try JSONValue.parse(text, maximumDepth: maximumDepth)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func rejections() {
        #expect(Self.error("") == "unexpected end of input at byte 0")
        #expect(Self.error("[1,]") == "unexpected character at byte 3")
        #expect(Self.error("{\"a\":1,}") == "expected a string key at byte 7")
        #expect(Self.error("01") == "invalid number: leading zero at byte 1")
        #expect(Self.error("1.") == "invalid number at byte 2")
        #expect(Self.error("-") == "invalid number at byte 1")
        #expect(Self.error("\"a\u{01}\"") == "unescaped control character in string at byte 2")
        #expect(Self.error("\"\\x\"") == "invalid escape at byte 3")
        #expect(Self.error("\"\\udc00\"") == "lone surrogate in \\u escape at byte 1")
        #expect(Self.error("\"abc") == "unterminated string at byte 4")
        #expect(Self.error("tru") == "invalid literal at byte 0")
        #expect(Self.error("nul1") == "invalid literal at byte 0")
        #expect(Self.error("// c\n1") == "unexpected character at byte 0")
        #expect(Self.error("[[[1]]]", maximumDepth: 2) == "nesting too deep at byte 2")
        #expect(Self.error("[[1]]", maximumDepth: 2) == nil)
    }

    @Test func serializedIsCompactAndSorted() {
        let value: JSONValue = .object(["b": .array([.number("1"), .null]), "a": .string("x\ny/🦄")])
        #expect(value.serialized() == "{\"a\":\"x\\ny/🦄\",\"b\":[1,null]}")
    }
}

struct JSONEndOfInputTests {
    @Test func truncatedObjectsSaySo() {
        #expect(JSONTests.error("{") == "unexpected end of input at byte 1")
        #expect(JSONTests.error("{\"a\"") == "unexpected end of input at byte 4")
        #expect(JSONTests.error("{\"a\" 1}") == "expected ':' at byte 5")
        #expect(JSONTests.error("{1:2}") == "expected a string key at byte 1")
    }
}

@Suite("Percent-decoding")
struct PercentDecodingTests {
    @Test("escapes in either case become their bytes, UTF-8 included; everything else is kept")
    func decodes() {
        #expect(PercentDecoding.decode("p%40ss%3aw%2Fd") == "p@ss:w/d")
        #expect(PercentDecoding.decode("caf%C3%A9+x") == "café+x")
        #expect(PercentDecoding.decode("") == "")
    }

    @Test("a % without two hex digits is refused, not decoded into something else", arguments: ["%", "%4", "%zz", "a%4g", "50%"])
    func malformed(text: String) {
        #expect(PercentDecoding.decode(text) == nil)
    }
}
