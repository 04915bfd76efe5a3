import Cluster
import Configuration
import Custody
import Foundation
import Logging
import Nip46
import NostrCrypto

/// Everything `signer serve` reads at start-up. Each key is read from its command-line flag first, then from its
/// environment variable; docs/configuration.md lists them all. A bad value stops start-up with one line naming the
/// key and what is wrong (``ConfigurationError``).
struct ServeConfiguration: Sendable {
    enum LogFormat: String, Sendable { case text, json }

    /// `SIGNER_DATA_DIR` (`--data-dir`): the SQLite database and the KEK file live here by default. `./signer-data`.
    var dataDirectory: String
    /// `SIGNER_DATABASE_URL`: `postgres://…` for PostgreSQL; otherwise a SQLite path. Default `<data dir>/signer.sqlite`.
    var databaseURL: String?
    /// `SIGNER_KMS`: `file` (default) or `aws-kms`.
    var kms: KEKBackendKind
    /// `SIGNER_KEK_PATH`: the file backend's KEK. Default `<data dir>/kek`; instances sharing a database share it.
    var kekPath: String?
    /// `SIGNER_KMS_KEY_ID`, `SIGNER_KMS_ENDPOINT`: the aws-kms backend (credentials and region from `AWS_*`).
    var kmsKeyID: String?
    var kmsEndpoint: String?
    /// `SIGNER_REDIS_URL` (`redis://[[user]:password@]host[:port][/db]`): the cluster's Redis. Absent: a single node.
    var redis: RedisEndpoint?
    /// `SIGNER_CLUSTER_MEMBER_ID`: this instance's id in the ring (default `<host name>-<8 random hex digits>`, new
    /// for every start); `SIGNER_CLUSTER_KEY_PREFIX` (`nostr-signer`) prefixes every Redis key and the channel.
    var clusterMemberID: MemberID
    var clusterKeyPrefix: String
    /// `SIGNER_CLUSTER_HEARTBEAT_MS` (2000) and `SIGNER_CLUSTER_EXPIRY_MS` (6000, at least twice the heartbeat): how
    /// often members heartbeat, and how long after its last heartbeat a member is out of the ring.
    var clusterHeartbeat: Duration
    var clusterExpiry: Duration
    /// `SIGNER_RELAYS`: comma-separated `ws://`/`wss://` URLs. None means NIP-46 over relays is off.
    var relays: [String]
    /// `SIGNER_HTTP_HOST` (127.0.0.1) and `SIGNER_HTTP_PORT` (8080; 0 picks a free port).
    var httpHost: String
    var httpPort: Int
    /// `SIGNER_ADMIN_TOKEN`: the admin API's bearer token. Absent: the stored one, or a new one printed once.
    var adminToken: String?
    /// `SIGNER_LOG_FORMAT` (`text`/`json`) and `SIGNER_LOG_LEVEL` (`trace` … `critical`; default `info`).
    var logFormat: LogFormat
    var logLevel: Logger.Level
    /// `SIGNER_WORKERS` (default: the core count) and `SIGNER_QUEUE_SIZE` (4096): the signing pool both request
    /// paths share.
    var workers: Int
    var queueSize: Int
    /// `SIGNER_CORS_ORIGINS`: comma-separated browser origins allowed to call `/api/nostr`; `*` allows any.
    var corsOrigins: [String]
    /// `SIGNER_FAILED_AUTH_PER_MINUTE` (10; twice that at once): failed authentications an address may make before
    /// its requests are refused with 429. 0 turns the limit off (only behind a proxy that limits instead).
    var failedAuthenticationsPerMinute: Int
    /// `SIGNER_ADMIN_REQUESTS_PER_SECOND` (20; five times that at once): admin API requests per address. 0: no limit.
    var adminRequestsPerSecond: Int

    /// The per-address limits these settings describe.
    var addressLimits: AddressLimits {
        AddressLimits(
            failedAuthentication: self.failedAuthenticationsPerMinute == 0
                ? nil : .init(burst: Double(2 * self.failedAuthenticationsPerMinute), perSecond: Double(self.failedAuthenticationsPerMinute) / 60),
            admin: self.adminRequestsPerSecond == 0 ? nil : .init(burst: Double(5 * self.adminRequestsPerSecond), perSecond: Double(self.adminRequestsPerSecond))
        )
    }

    /// The keys, each with its flag spelling. The environment variable is the key in upper case with `_`.
    enum Key: String, CaseIterable {
        case dataDirectory = "signer.data.dir"
        case databaseURL = "signer.database.url"
        case kms = "signer.kms"
        case kekPath = "signer.kek.path"
        case kmsKeyID = "signer.kms.key.id"
        case kmsEndpoint = "signer.kms.endpoint"
        case redisURL = "signer.redis.url"
        case clusterMemberID = "signer.cluster.member.id"
        case clusterKeyPrefix = "signer.cluster.key.prefix"
        case clusterHeartbeat = "signer.cluster.heartbeat.ms"
        case clusterExpiry = "signer.cluster.expiry.ms"
        case relays = "signer.relays"
        case httpHost = "signer.http.host"
        case httpPort = "signer.http.port"
        case adminToken = "signer.admin.token"
        case logFormat = "signer.log.format"
        case logLevel = "signer.log.level"
        case workers = "signer.workers"
        case queueSize = "signer.queue.size"
        case corsOrigins = "signer.cors.origins"
        case failedAuthenticationsPerMinute = "signer.failed.auth.per.minute"
        case adminRequestsPerSecond = "signer.admin.requests.per.second"

        var environmentName: String { self.rawValue.uppercased().replacingOccurrences(of: ".", with: "_") }
        var configKey: ConfigKey { ConfigKey(self.rawValue.split(separator: ".").map(String.init)) }
    }

    /// Reads and checks every key from `reader`.
    init(reader: ConfigReader) throws(ConfigurationError) {
        func text(_ key: Key, secret: Bool = false) -> String? {
            guard let value = reader.string(forKey: key.configKey, isSecret: secret)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                return nil
            }
            return value
        }
        func list(_ key: Key) -> [String] {
            (text(key) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        func integer(_ key: Key, default value: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let literal = text(key) else { return value }
            guard let number = Int(literal), range.contains(number) else {
                throw ConfigurationError(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(LogText.truncated(literal))\"")
            }
            return number
        }

        self.dataDirectory = text(.dataDirectory) ?? "./signer-data"
        self.databaseURL = text(.databaseURL)
        let kmsName = text(.kms) ?? "file"
        guard let kms = KEKBackendKind.allCases.first(where: { $0.name == kmsName }) else {
            throw ConfigurationError(.kms, "expected file or aws-kms, got \"\(LogText.truncated(kmsName))\"")
        }
        self.kms = kms
        self.kekPath = text(.kekPath)
        self.kmsKeyID = text(.kmsKeyID)
        self.kmsEndpoint = text(.kmsEndpoint)
        if kms == .awsKMS, self.kmsKeyID == nil {
            throw ConfigurationError(.kmsKeyID, "the aws-kms backend needs a key id, ARN or alias")
        }
        // Secret: the URL may hold the password; RedisError messages never repeat it.
        if let redisURL = text(.redisURL, secret: true) {
            do {
                self.redis = try RedisEndpoint(url: redisURL)
            } catch {
                throw ConfigurationError(.redisURL, error.message)
            }
        } else {
            self.redis = nil
        }
        let memberID = text(.clusterMemberID) ?? Self.defaultMemberID()
        guard MemberID.isValid(memberID) else {
            throw ConfigurationError(.clusterMemberID, "expected 1 to 100 of A-Z a-z 0-9 . _ : @ -, got \"\(LogText.truncated(memberID))\"")
        }
        self.clusterMemberID = MemberID(memberID)
        self.clusterKeyPrefix = text(.clusterKeyPrefix) ?? "nostr-signer"
        guard MemberID.isValid(self.clusterKeyPrefix) else {
            throw ConfigurationError(.clusterKeyPrefix, "expected 1 to 100 of A-Z a-z 0-9 . _ : @ -, got \"\(LogText.truncated(self.clusterKeyPrefix))\"")
        }
        self.clusterHeartbeat = .milliseconds(try integer(.clusterHeartbeat, default: 2000, in: 50...60_000))
        self.clusterExpiry = .milliseconds(try integer(.clusterExpiry, default: 6000, in: 100...600_000))
        guard self.clusterExpiry >= self.clusterHeartbeat * 2 else {
            throw ConfigurationError(.clusterExpiry, "must be at least twice SIGNER_CLUSTER_HEARTBEAT_MS, so one late heartbeat does not drop a member")
        }
        self.relays = list(.relays)
        for relay in self.relays {
            guard let url = URL(string: relay), url.scheme == "ws" || url.scheme == "wss", url.host != nil else {
                throw ConfigurationError(.relays, "\"\(LogText.truncated(relay))\" is not a ws:// or wss:// URL")
            }
        }
        self.httpHost = text(.httpHost) ?? "127.0.0.1"
        self.httpPort = try integer(.httpPort, default: 8080, in: 0...65535)
        self.adminToken = text(.adminToken, secret: true)
        if let adminToken, adminToken.utf8.count < 16 {
            throw ConfigurationError(.adminToken, "must be at least 16 characters")
        }
        let format = text(.logFormat) ?? "text"
        guard let logFormat = LogFormat(rawValue: format) else {
            throw ConfigurationError(.logFormat, "expected text or json, got \"\(LogText.truncated(format))\"")
        }
        self.logFormat = logFormat
        let level = text(.logLevel) ?? "info"
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError(.logLevel, "expected trace, debug, info, notice, warning, error or critical, got \"\(LogText.truncated(level))\"")
        }
        self.logLevel = logLevel
        self.workers = try integer(.workers, default: ProcessInfo.processInfo.activeProcessorCount, in: 1...256)
        self.queueSize = try integer(.queueSize, default: 4096, in: 1...1_000_000)
        self.corsOrigins = list(.corsOrigins)
        for origin in self.corsOrigins where origin != "*" {
            guard let url = URL(string: origin), url.scheme == "http" || url.scheme == "https", url.host != nil, url.path.isEmpty else {
                throw ConfigurationError(.corsOrigins, "\"\(LogText.truncated(origin))\" is not an origin such as https://app.example")
            }
        }
        self.failedAuthenticationsPerMinute = try integer(.failedAuthenticationsPerMinute, default: 10, in: 0...1_000_000)
        self.adminRequestsPerSecond = try integer(.adminRequestsPerSecond, default: 20, in: 0...1_000_000)
    }

    /// The cluster settings, when Redis is configured.
    var cluster: ClusterConfiguration? {
        self.redis.map { endpoint in
            ClusterConfiguration(
                endpoint: endpoint, memberID: self.clusterMemberID, keyPrefix: self.clusterKeyPrefix, heartbeatInterval: self.clusterHeartbeat,
                memberExpiry: self.clusterExpiry
            )
        }
    }

    /// The host name with anything a member id cannot hold replaced, then a random suffix: unique per start.
    static func defaultMemberID() -> String {
        let host = String(ProcessInfo.processInfo.hostName.prefix(80).map { MemberID.isValid(String($0)) ? $0 : "-" })
        return (host.isEmpty ? "signer" : host) + "-" + Hex.encode(SystemRandom.bytes(count: 4))
    }

    /// The custody options the one-shot commands use, set from this configuration.
    var custodyOptions: CustodyOptions {
        var options = CustodyOptions()
        options.dataDir = self.dataDirectory
        options.databaseURL = self.databaseURL
        options.kms = self.kms.name
        options.kekPath = self.kekPath
        options.kmsKeyID = self.kmsKeyID
        options.kmsEndpoint = self.kmsEndpoint
        return options
    }
}

/// A configuration value that stops start-up: one line naming the key (as flag and environment variable).
struct ConfigurationError: Error, CustomStringConvertible {
    let key: ServeConfiguration.Key
    let reason: String

    init(_ key: ServeConfiguration.Key, _ reason: String) {
        self.key = key
        self.reason = reason
    }

    var description: String { "\(self.key.environmentName): \(self.reason)" }
}
