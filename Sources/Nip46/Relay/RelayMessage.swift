import NostrCrypto

/// A NIP-01 subscription filter, as much of it as a signer needs.
public struct Filter: Sendable, Hashable {
    public var kinds: [UInt16]
    /// Values of the `#p` tag filter; empty means no tag filter.
    public var pTags: [String]
    public var since: Int64?
    public var limit: Int?

    public init(kinds: [UInt16], pTags: [String] = [], since: Int64? = nil, limit: Int? = nil) {
        self.kinds = kinds
        self.pTags = pTags
        self.since = since
        self.limit = limit
    }

    func appendJSON(to output: inout [UInt8]) {
        output.append(contentsOf: "{\"kinds\":[".utf8)
        for (index, kind) in self.kinds.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONWriter.appendInteger(kind, to: &output)
        }
        output.append(UInt8(ascii: "]"))
        if !self.pTags.isEmpty {
            output.append(contentsOf: ",\"#p\":[".utf8)
            for (index, value) in self.pTags.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(value, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
        if let since = self.since {
            output.append(contentsOf: ",\"since\":".utf8)
            JSONWriter.appendInteger(since, to: &output)
        }
        if let limit = self.limit {
            output.append(contentsOf: ",\"limit\":".utf8)
            JSONWriter.appendInteger(limit, to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}

/// What a client sends to a relay (NIP-01, NIP-42).
public enum ClientMessage: Sendable, Hashable {
    case request(subscriptionID: String, filters: [Filter])
    case close(subscriptionID: String)
    case event(Event)
    case auth(Event)

    /// The message as the JSON text of one WebSocket frame.
    public func encoded() -> String {
        var output: [UInt8] = []
        switch self {
        case .request(let subscriptionID, let filters):
            output.append(contentsOf: "[\"REQ\",".utf8)
            JSONWriter.appendString(subscriptionID, to: &output)
            for filter in filters {
                output.append(UInt8(ascii: ","))
                filter.appendJSON(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .close(let subscriptionID):
            output.append(contentsOf: "[\"CLOSE\",".utf8)
            JSONWriter.appendString(subscriptionID, to: &output)
            output.append(UInt8(ascii: "]"))
        case .event(let event):
            output.append(contentsOf: "[\"EVENT\",".utf8)
            output.append(contentsOf: event.jsonBytes())
            output.append(UInt8(ascii: "]"))
        case .auth(let event):
            output.append(contentsOf: "[\"AUTH\",".utf8)
            output.append(contentsOf: event.jsonBytes())
            output.append(UInt8(ascii: "]"))
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// What a relay sends to a client (NIP-01, NIP-42).
public enum RelayMessage: Sendable {
    case event(subscriptionID: String, event: Event)
    case ok(eventID: EventID, accepted: Bool, message: String)
    case endOfStoredEvents(subscriptionID: String)
    case closed(subscriptionID: String, message: String)
    case notice(String)
    case auth(challenge: String)

    /// Parses one frame. Events are parsed for shape only (the signature is checked later, and only for events the
    /// signer will act on).
    public init(text: String, limits: EventLimits = .default) throws(RelayMessageError) {
        guard text.utf8.count <= limits.maximumJSONBytes + 1024 else { throw RelayMessageError("message too large") }
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw RelayMessageError("not JSON: \(error)") }
        guard let array = value.arrayValue, let type = array.first?.stringValue else {
            throw RelayMessageError("not an array starting with a message type")
        }
        func string(_ index: Int) throws(RelayMessageError) -> String {
            guard index < array.count, let string = array[index].stringValue else {
                throw RelayMessageError("\(type) element \(index) must be a string")
            }
            return string
        }
        switch type {
        case "EVENT":
            let subscriptionID = try string(1)
            guard array.count == 3, let object = array[2].objectValue else { throw RelayMessageError("EVENT needs a subscription id and an event") }
            do {
                self = .event(subscriptionID: subscriptionID, event: try Event(object: object, limits: limits))
            } catch {
                throw RelayMessageError("EVENT carries an invalid event: \(error)")
            }
        case "OK":
            guard array.count >= 3, let idHex = array[1].stringValue, let id = EventID(hex: idHex) else {
                throw RelayMessageError("OK needs an event id")
            }
            guard case .bool(let accepted) = array[2] else { throw RelayMessageError("OK element 2 must be a boolean") }
            self = .ok(eventID: id, accepted: accepted, message: array.count > 3 ? try string(3) : "")
        case "EOSE":
            self = .endOfStoredEvents(subscriptionID: try string(1))
        case "CLOSED":
            self = .closed(subscriptionID: try string(1), message: array.count > 2 ? try string(2) : "")
        case "NOTICE":
            self = .notice(try string(1))
        case "AUTH":
            self = .auth(challenge: try string(1))
        default:
            throw RelayMessageError("unknown message type \(LogText.truncated(type, maximumCharacters: 16))")
        }
    }
}

/// A relay message that could not be understood. Its text never quotes event content.
public struct RelayMessageError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The machine-readable prefix of an `OK false` or `CLOSED` message (NIP-01).
public enum RelayRejection: String, Sendable, Hashable, CaseIterable {
    case duplicate
    case pow
    case blocked
    case rateLimited = "rate-limited"
    case invalid
    case restricted
    case mute
    case error
    case authRequired = "auth-required"
    case other

    public init(message: String) {
        guard let colon = message.firstIndex(of: ":") else {
            self = .other
            return
        }
        self = RelayRejection(rawValue: String(message[..<colon])) ?? .other
    }

    /// Whether sending the same event again later could succeed.
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .error, .authRequired, .other: true
        case .duplicate, .pow, .blocked, .invalid, .restricted, .mute: false
        }
    }
}
