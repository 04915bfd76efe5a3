/// A request as the policy engine sees it: the method name as the client sent it, and the kind for `sign_event`.
public struct PolicyRequest: Sendable, Hashable {
    public let methodName: String
    public let kind: UInt16?

    public init(methodName: String, kind: UInt16? = nil) {
        self.methodName = methodName
        self.kind = kind
    }

    public init(method: PolicyMethod, kind: UInt16? = nil) {
        self.init(methodName: method.rawValue, kind: kind)
    }
}

/// Why a request was refused, in words for the app, with a stable code.
public struct PolicyDenial: Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case methodNotAllowed = "method_not_allowed"
        case kindNotAllowed = "kind_not_allowed"
        case missingKind = "missing_kind"
        case expired
        case exhausted
    }

    public let code: Code
    public let description: String

    public init(code: Code, description: String) {
        self.code = code
        self.description = description
    }
}

public enum PolicyDecision: Sendable, Hashable {
    case allow
    case deny(PolicyDenial)
}

/// The one evaluation every path uses (NIP-46 and HTTP, sign, encrypt, decrypt). It fails closed: whatever the policy
/// does not name is refused, including unknown method names and `sign_event` without a kind.
public enum PolicyEngine {
    public static func evaluate(_ policy: Policy, request: PolicyRequest, usesSoFar: Int64, now: Int64) -> PolicyDecision {
        if let expiresAt = policy.expiresAt, now >= expiresAt {
            return .deny(PolicyDenial(code: .expired, description: "policy \"\(policy.name)\" expired"))
        }
        if let maxUses = policy.maxUses, usesSoFar >= maxUses {
            return .deny(PolicyDenial(code: .exhausted, description: "policy \"\(policy.name)\" allows \(maxUses) uses and all are spent"))
        }
        guard let method = PolicyMethod(rawValue: request.methodName), policy.methods.contains(method) else {
            return .deny(
                PolicyDenial(code: .methodNotAllowed, description: "method \(Self.quoted(request.methodName)) is not allowed by policy \"\(policy.name)\"")
            )
        }
        if method == .signEvent {
            guard let kind = request.kind else {
                return .deny(PolicyDenial(code: .missingKind, description: "sign_event needs an event kind"))
            }
            guard policy.kinds.contains(kind) else {
                return .deny(PolicyDenial(code: .kindNotAllowed, description: "kind \(kind) is not allowed by policy \"\(policy.name)\""))
            }
        }
        return .allow
    }

    /// Method names come from clients: bound and sanitise them before they go into a message.
    private static func quoted(_ name: String) -> String {
        let printable = name.unicodeScalars.prefix(64).map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : String($0) }.joined()
        return "\"\(printable)\""
    }
}
