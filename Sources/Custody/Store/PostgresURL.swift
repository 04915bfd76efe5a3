import NIOSSL
import NostrCrypto
import PostgresNIO

/// A parsed `postgres://user:password@host:port/database[?sslmode=disable|prefer|require]` (also `postgresql://`).
///
/// Errors name the part that is wrong and never echo the URL, which may carry a password.
struct PostgresURL: Sendable {
    enum SSLMode: String, Sendable {
        case disable, prefer, require
    }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var sslMode: SSLMode

    init(_ url: String) throws {
        let invalid = CustodyError(.invalidInput, "database URL must look like postgres://user:password@host:port/database")
        let scheme: String
        if url.hasPrefix("postgres://") {
            scheme = "postgres://"
        } else if url.hasPrefix("postgresql://") {
            scheme = "postgresql://"
        } else {
            throw invalid
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var sslMode = SSLMode.prefer
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "sslmode" else { continue }
                guard let mode = SSLMode(rawValue: String(parts[1])) else {
                    throw CustodyError(.invalidInput, "sslmode must be disable, prefer or require")
                }
                sslMode = mode
            }
            rest = rest[..<question]
        }
        guard let at = rest.lastIndex(of: "@") else { throw invalid }
        let userParts = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let username = userParts.first.flatMap({ PercentDecoding.decode($0) }), !username.isEmpty else { throw invalid }
        let hostAndDatabase = rest[rest.index(after: at)...].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard hostAndDatabase.count == 2, !hostAndDatabase[1].isEmpty else { throw invalid }
        let hostPort = hostAndDatabase[0].split(separator: ":", maxSplits: 1)
        guard let host = hostPort.first, !host.isEmpty else { throw invalid }
        var port = 5432
        if hostPort.count == 2 {
            guard let parsed = Int(hostPort[1]), (1...65535).contains(parsed) else { throw invalid }
            port = parsed
        }
        // A malformed escape is refused rather than decoded into something else.
        guard let database = PercentDecoding.decode(hostAndDatabase[1]) else { throw invalid }
        if userParts.count == 2 {
            guard let password = PercentDecoding.decode(userParts[1]) else { throw invalid }
            self.password = password
        } else {
            self.password = nil
        }
        self.host = String(host)
        self.port = port
        self.username = username
        self.database = database
        self.sslMode = sslMode
    }

    /// The pooled client's configuration.
    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch self.sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: self.host, port: self.port, username: self.username, password: self.password, database: self.database, tls: tls
        )
    }

    /// A single connection's configuration, for the diagnostic attempt after a time-out.
    var connectionConfiguration: PostgresConnection.Configuration {
        get throws {
            let tls: PostgresConnection.Configuration.TLS
            switch self.sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            var configuration = PostgresConnection.Configuration(
                host: self.host, port: self.port, username: self.username, password: self.password, database: self.database, tls: tls
            )
            configuration.options.connectTimeout = .seconds(3)
            return configuration
        }
    }
}
