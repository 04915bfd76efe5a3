import Nip46
import NostrCrypto

/// What a reply must be for its request to count as served. Checked after the run (a Schnorr verify costs as much
/// as a signature, and the load generator shares the cores with the server), and every reply is checked: a reply
/// that fails counts as an error, not as throughput.
enum ReplyCheck: Sendable {
    /// HTTP `sign_event`: a valid event (id and signature) by the authorization's user with the note that was sent.
    case httpSignedEvent(body: [UInt8], user: PublicKey, content: String)
    /// HTTP `get_public_key`: the user's public key.
    case httpPublicKey(body: [UInt8], user: PublicKey)
    /// HTTP `nip44_encrypt`: a payload that the peer, holding `conversationKey`, decrypts to the plaintext sent.
    case httpNip44(body: [UInt8], conversationKey: NIP44ConversationKey, plaintext: String)
    /// NIP-46 `sign_event`: a valid kind-24133 reply from the bunker, which decrypts to the answer to this request: a
    /// valid event by the user with the note that was sent.
    case nip46SignedEvent(reply: Event, bunker: PublicKey, conversationKey: NIP44ConversationKey, requestID: String, user: PublicKey, content: String)

    /// nil when the reply is right; otherwise the error code it counts under.
    func failure() -> String? {
        switch self {
        case .httpSignedEvent(let body, let user, let content):
            guard let result = Self.result(body)?.objectValue, let event = try? Event(object: result) else { return "invalid_reply" }
            return event.isValid && event.pubkey == user && event.content == content ? nil : "invalid_reply"
        case .httpPublicKey(let body, let user):
            return Self.result(body)?.stringValue == user.hex ? nil : "invalid_reply"
        case .httpNip44(let body, let conversationKey, let plaintext):
            guard let payload = Self.result(body)?.stringValue else { return "invalid_reply" }
            return (try? NIP44.decrypt(payload, conversationKey: conversationKey)) == plaintext ? nil : "invalid_reply"
        case .nip46SignedEvent(let reply, let bunker, let conversationKey, let requestID, let user, let content):
            guard reply.isValid, reply.pubkey == bunker, reply.kind == nip46EventKind,
                let text = try? NIP44.decrypt(reply.content, conversationKey: conversationKey),
                let response = try? Nip46Response(json: text)
            else { return "invalid_reply" }
            guard response.id == requestID else { return "mismatched_reply" }
            if let error = response.error { return "nip46_error: " + Self.errorCode(error) }
            guard let json = response.result, let event = try? Event(json: Array(json.utf8)) else { return "invalid_reply" }
            return event.isValid && event.pubkey == user && event.content == content ? nil : "invalid_reply"
        }
    }

    /// `result` of an HTTP RPC answer.
    private static func result(_ body: [UInt8]) -> JSONValue? {
        (try? JSONValue.parse(body))?.objectValue?["result"]
    }

    /// A NIP-46 error's code (`busy: …` → `busy`), so error counts have a bounded set of keys.
    static func errorCode(_ error: String) -> String {
        String(error.prefix { $0 != ":" }.prefix(40))
    }

    /// The code of an HTTP RPC error answer (`{"error": "…", "code": "busy"}`), with its status.
    static func httpErrorCode(status: Int, body: [UInt8]) -> String {
        let code = (try? JSONValue.parse(body))?.objectValue?["code"]?.stringValue ?? "no_code"
        return "\(status) \(code.prefix(40))"
    }
}
