import NostrCrypto

/// The kind of NIP-46 transport events.
public let nip46EventKind: UInt16 = 24133

/// A decrypted NIP-46 request: `{"id", "method", "params"}`.
public struct Nip46Request: Sendable, Hashable {
    public let id: String
    public let method: String
    public let params: [String]

    public init(id: String, method: String, params: [String]) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// The longest request id echoed back; longer ids are refused (the reply must still be small).
    public static let maximumIDLength = 128
    /// More parameters than any method takes, with room for clients that add a few.
    public static let maximumParams = 16

    /// Parses a request leniently where clients differ (numbers or `null` among the params are accepted as text or
    /// absent) and strictly where it matters (an object with a string id and method).
    /// - Throws: ``Nip46RequestError`` with the id when it could be read, so the error can still be answered.
    public init(json text: String) throws(Nip46RequestError) {
        let value: JSONValue
        do { value = try JSONValue.parse(text, maximumDepth: 8) } catch {
            throw Nip46RequestError(id: nil, reason: "request is not JSON (\(error))")
        }
        guard let object = value.objectValue else { throw Nip46RequestError(id: nil, reason: "request is not a JSON object") }
        guard let id = object["id"]?.stringValue ?? object["id"]?.integerValue.map(String.init) else {
            throw Nip46RequestError(id: nil, reason: "request has no string \"id\"")
        }
        guard id.utf8.count <= Self.maximumIDLength else {
            throw Nip46RequestError(id: nil, reason: "request id is longer than \(Self.maximumIDLength) bytes")
        }
        guard let method = object["method"]?.stringValue else {
            throw Nip46RequestError(id: id, reason: "request has no string \"method\"")
        }
        var params: [String] = []
        switch object["params"] {
        case .none, .some(.null):
            break
        case .some(.array(let values)):
            guard values.count <= Self.maximumParams else {
                throw Nip46RequestError(id: id, reason: "more than \(Self.maximumParams) params")
            }
            for (index, value) in values.enumerated() {
                switch value {
                case .string(let string): params.append(string)
                case .number(let literal): params.append(literal)
                case .null: params.append("")
                default: throw Nip46RequestError(id: id, reason: "param \(index) must be a string")
                }
            }
        default:
            throw Nip46RequestError(id: id, reason: "\"params\" must be an array of strings")
        }
        self.init(id: id, method: method, params: params)
    }

    public func encoded() -> String {
        var output: [UInt8] = []
        output.append(contentsOf: "{\"id\":".utf8)
        JSONWriter.appendString(self.id, to: &output)
        output.append(contentsOf: ",\"method\":".utf8)
        JSONWriter.appendString(self.method, to: &output)
        output.append(contentsOf: ",\"params\":[".utf8)
        for (index, param) in self.params.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(param, to: &output)
        }
        output.append(contentsOf: "]}".utf8)
        return String(decoding: output, as: UTF8.self)
    }
}

/// A request that decrypted but is not a valid request. `id` is set when it could be read.
public struct Nip46RequestError: Error, Hashable, Sendable, CustomStringConvertible {
    public let id: String?
    public let reason: String
    public var description: String { self.reason }
}

/// A NIP-46 response: `{"id", "result"}` or `{"id", "result"?, "error"}`.
public struct Nip46Response: Sendable, Hashable {
    public let id: String
    /// A string, or JSON `null` when `nil` (as `switch_relays` answers when nothing changed).
    public let result: String?
    public let error: String?

    public static func result(_ result: String?, id: String) -> Nip46Response {
        Nip46Response(id: id, result: result, error: nil)
    }

    public static func failure(_ error: Nip46Error, id: String) -> Nip46Response {
        Nip46Response(id: id, result: nil, error: error.description)
    }

    public init(id: String, result: String?, error: String?) {
        self.id = id
        self.result = result
        self.error = error
    }

    public func encoded() -> String {
        var output: [UInt8] = []
        output.append(contentsOf: "{\"id\":".utf8)
        JSONWriter.appendString(self.id, to: &output)
        output.append(contentsOf: ",\"result\":".utf8)
        if let result = self.result {
            JSONWriter.appendString(result, to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
        if let error = self.error {
            output.append(contentsOf: ",\"error\":".utf8)
            JSONWriter.appendString(error, to: &output)
        }
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }

    /// Parses a response (used by tests and the load generator's simulated apps).
    public init(json text: String) throws {
        guard let object = try JSONValue.parse(text).objectValue, let id = object["id"]?.stringValue else {
            throw Nip46RequestError(id: nil, reason: "response is not an object with a string id")
        }
        self.id = id
        self.result = object["result"]?.stringValue
        self.error = object["error"]?.stringValue
    }
}

/// A NIP-46 error reply: a stable code prefix, then words for people. The text never carries secrets or content.
public struct Nip46Error: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case unauthorized
        case forbidden
        case invalid
        case unsupported
        case rateLimited = "rate-limited"
        case busy
        case error
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `<code>: <message>`, the text sent as `error`.
    public var description: String { "\(self.code.rawValue): \(self.message)" }
}
