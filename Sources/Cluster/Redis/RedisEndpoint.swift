import NostrCrypto

/// Where a Redis server is and how to log in: parsed from `redis://[[user]:password@]host[:port][/db]`.
///
/// The password never appears in ``description`` or in any error this type throws.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6 and later); `nil` logs in as the default user.
    public var user: String?
    public var password: String?
    /// The logical database (`SELECT`); keys live there. Pub/sub channels are server-wide whatever the database.
    public var database: Int

    public init(host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses a `redis://` URL. `rediss://` (TLS) is refused: hiredis 0.14 has no TLS.
    public init(url: String) throws(RedisError) {
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            if url.hasPrefix("rediss://") {
                throw RedisError(.invalidURL, "rediss:// (TLS) is not supported; use redis:// on a private network or a TLS tunnel")
            }
            throw RedisError(.invalidURL, "the Redis URL must start with redis://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = String(credentials[..<colon])
                user = name.isEmpty ? nil : try Self.decode(name, field: "user")
                password = try Self.decode(String(credentials[credentials.index(after: colon)...]), field: "password")
            } else {
                // `redis://secret@host` is how some clients spell a password alone.
                password = try Self.decode(String(credentials), field: "password")
            }
            if password?.isEmpty == true { password = nil }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let index = Int(path), index >= 0 else {
                    throw RedisError(.invalidURL, "the Redis URL's path must be a database number, not \"\(path)\"")
                }
                database = index
            }
        }
        guard !rest.contains("?") else { throw RedisError(.invalidURL, "the Redis URL takes no query parameters") }
        var host = rest
        var port = 6379
        if host.hasPrefix("[") {
            // An IPv6 literal: [::1]:6379.
            guard let close = host.firstIndex(of: "]") else { throw RedisError(.invalidURL, "the Redis URL has an unclosed [ in its host") }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else {
                    throw RedisError(.invalidURL, "the Redis URL's port is not a number")
                }
                port = number
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { throw RedisError(.invalidURL, "the Redis URL's port is not a number") }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "the Redis URL has no host") }
        guard (1...65535).contains(port) else { throw RedisError(.invalidURL, "the Redis URL's port \(port) is out of range") }
        self.init(host: String(host), port: port, user: user, password: password, database: database)
    }

    /// The URL's user or password, percent-decoded (a password may hold `@`, `:` or `/` as `%40`, `%3A`, `%2F`).
    private static func decode(_ text: String, field: String) throws(RedisError) -> String {
        guard let decoded = PercentDecoding.decode(text) else {
            throw RedisError(.invalidURL, "the Redis URL's \(field) has a malformed percent escape")
        }
        return decoded
    }

    /// `redis://host:port/db`, with the credentials shown as `***` when there are any.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        let credentials = self.password == nil ? "" : "\(self.user ?? ""):***@"
        return "redis://\(credentials)\(host):\(self.port)/\(self.database)"
    }
}

/// A Redis failure. Messages name the server and the operation, never a password.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case invalidURL = "invalid_url"
        /// Could not connect, or the connection broke (the command may or may not have run).
        case connection
        /// The server did not answer within the command time-out (the command may or may not have run).
        case timeout
        /// The server answered with an error reply (`WRONGPASS`, `NOSCRIPT`, a script's own error, …).
        case server
        /// Not connected now, and the next attempt is not due yet (reconnect backoff).
        case unavailable
        /// The client was shut down.
        case closed
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
