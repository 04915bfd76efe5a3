import Foundation
import NostrCrypto

/// `bunker://<remote-signer pubkey>?relay=…&relay=…&secret=…`: what the signer hands to an app.
public struct BunkerURI: Sendable, Hashable, CustomStringConvertible {
    public let bunkerPublicKey: PublicKey
    public let relays: [String]
    public let secret: String?

    public init(bunkerPublicKey: PublicKey, relays: [String], secret: String?) {
        self.bunkerPublicKey = bunkerPublicKey
        self.relays = relays
        self.secret = secret
    }

    public var description: String {
        var components = URLComponents()
        components.scheme = "bunker"
        components.host = self.bunkerPublicKey.hex
        components.queryItems = self.relays.map { URLQueryItem(name: "relay", value: $0) } + (self.secret.map { [URLQueryItem(name: "secret", value: $0)] } ?? [])
        // URLComponents leaves ':' and '/' unescaped in query values; escape them like other clients do.
        components.percentEncodedQueryItems = components.queryItems?.map {
            URLQueryItem(name: $0.name, value: $0.value?.addingPercentEncoding(withAllowedCharacters: Self.queryValueCharacters))
        }
        return components.string ?? ""
    }

    private static let queryValueCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
}

/// `nostrconnect://<client pubkey>?relay=…&secret=…&perms=…&name=…&url=…&image=…` (or the legacy `metadata={json}`):
/// what an app hands to the signer in the client-initiated flow.
public struct NostrConnectURI: Sendable, Hashable {
    public let clientPublicKey: PublicKey
    public let relays: [String]
    /// Must come back as the `result` of the signer's connect response.
    public let secret: String
    public let requestedPermissions: [String]
    public let name: String?
    public let url: String?
    public let image: String?

    public static let maximumLength = 8192

    public init(_ text: String) throws(ConnectionURIError) {
        guard text.utf8.count <= Self.maximumLength else { throw ConnectionURIError("the URI is longer than \(Self.maximumLength) bytes") }
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            components.scheme?.lowercased() == "nostrconnect"
        else {
            throw ConnectionURIError("not a nostrconnect:// URI")
        }
        guard let host = components.host, let client = try? PublicKey(hex: host.lowercased()) else {
            throw ConnectionURIError("the URI's host must be the client's public key in hex")
        }
        let items = components.queryItems ?? []
        func values(_ name: String) -> [String] { items.filter { $0.name == name }.compactMap { $0.value }.filter { !$0.isEmpty } }
        let relays = values("relay")
        guard !relays.isEmpty else { throw ConnectionURIError("the URI names no relay") }
        for relay in relays {
            guard let url = URL(string: relay), let scheme = url.scheme?.lowercased(), scheme == "ws" || scheme == "wss", url.host != nil else {
                throw ConnectionURIError("relay \(LogText.truncated(relay, maximumCharacters: 80)) is not a ws:// or wss:// URL")
            }
        }
        guard let secret = values("secret").first else { throw ConnectionURIError("the URI has no secret") }
        var permissions = values("perms").first.map(Self.permissions) ?? []
        var name = values("name").first
        var url = values("url").first
        var image = values("image").first
        // The 2024 form carried everything in one JSON parameter; rust-nostr still sends it.
        if let metadata = values("metadata").first {
            guard let object = (try? JSONValue.parse(metadata))?.objectValue else {
                throw ConnectionURIError("the metadata parameter is not a JSON object")
            }
            name = name ?? object["name"]?.stringValue
            url = url ?? object["url"]?.stringValue
            image = image ?? object["image"]?.stringValue ?? object["icons"]?.arrayValue?.first?.stringValue
            if permissions.isEmpty {
                permissions = object["perms"]?.stringValue.map(Self.permissions) ?? object["perms"]?.arrayValue?.compactMap(\.stringValue) ?? []
            }
        }
        self.clientPublicKey = client
        var seen: Set<String> = []
        self.relays = relays.filter { seen.insert($0).inserted }
        self.secret = secret
        self.requestedPermissions = permissions
        self.name = name
        self.url = url
        self.image = image
    }

    private static func permissions(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

public struct ConnectionURIError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
