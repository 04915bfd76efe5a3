import AsyncHTTPClient
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NostrCrypto
import Synchronization

/// Where and how to reach AWS KMS (or an API-compatible service such as moto in the tests).
///
/// Configuration keys: `SIGNER_KMS_KEY_ID` (key id, key ARN, alias name or alias ARN), `SIGNER_KMS_ENDPOINT`
/// (default `https://kms.<region>.amazonaws.com`), `AWS_REGION` (or `AWS_DEFAULT_REGION`), and the credentials in
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`.
public struct AWSKMSConfiguration: Sendable {
    /// The key that wraps new data keys; recorded in every envelope it wraps, so keep it stable (an alias lets the key
    /// behind it rotate inside KMS without re-wrapping anything).
    public var keyID: String
    public var region: String
    /// `https://host[:port]` or `http://host[:port]` (plain HTTP only makes sense for a local mock).
    public var endpoint: String
    public var credentials: AWSCredentials
    /// The deadline of one HTTP attempt.
    public var attemptTimeout: Duration = .seconds(2)
    /// The waits before each retry: after the first attempt fails, up to three more, 100, 200 and 400 ms apart.
    public var retryDelays: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400)]
    /// Each wait is scaled by a random factor in `1 ± jitter`, so replicas that failed together do not retry together.
    public var jitter: Double = 0.25
    /// Consecutive failed calls (after their retries) that open the circuit breaker.
    public var breakerFailureThreshold: Int = 3
    /// How long an open breaker rejects calls before one probe is let through.
    public var breakerOpenDuration: Duration = .seconds(5)

    public init(keyID: String, region: String, endpoint: String? = nil, credentials: AWSCredentials) {
        self.keyID = keyID
        self.region = region
        self.endpoint = endpoint ?? "https://kms.\(region).amazonaws.com"
        self.credentials = credentials
    }

    /// Reads the keys above from `environment`; explicit values (command-line flags) win.
    public static func fromEnvironment(_ environment: [String: String], keyID: String? = nil, endpoint: String? = nil) throws -> Self {
        guard let keyID = keyID ?? environment["SIGNER_KMS_KEY_ID"], !keyID.isEmpty else {
            throw CustodyError(.invalidInput, "SIGNER_KMS_KEY_ID is not set (the aws-kms backend needs the key id or alias to use)")
        }
        guard let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"], !region.isEmpty else {
            throw CustodyError(.invalidInput, "AWS_REGION is not set (the aws-kms backend needs the key's region)")
        }
        let configuration = Self(
            keyID: keyID, region: region, endpoint: endpoint ?? environment["SIGNER_KMS_ENDPOINT"],
            credentials: try AWSCredentials.fromEnvironment(environment)
        )
        _ = try KMSEndpoint(configuration.endpoint)
        return configuration
    }
}

/// The parts of an endpoint URL a request needs.
struct KMSEndpoint: Sendable {
    let url: String
    let host: String

    init(_ text: String) throws {
        let invalid = CustodyError(.invalidInput, "SIGNER_KMS_ENDPOINT must look like https://host[:port]")
        guard let components = URLComponents(string: text), let scheme = components.scheme, scheme == "https" || scheme == "http",
            let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/",
            components.query == nil, components.user == nil
        else { throw invalid }
        self.url = "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/"
        self.host = components.port.map { "\(host):\($0)" } ?? host
    }
}

/// The AWS KMS JSON API (`X-Amz-Target: TrentService.<Operation>`) over async-http-client, SigV4-signed.
///
/// Every attempt has a deadline; failures that may pass (no connection, time-out, 5xx, throttling) are retried with
/// jittered backoff; then a circuit breaker shared by all calls fails further calls fast until a probe succeeds.
/// Refusals (a ciphertext that does not decrypt under its context, an unknown key, denied access) are not retried.
/// Errors name the operation and KMS's error type, never request or response bodies (they carry key material).
public final class AWSKMSClient: Sendable {
    public let configuration: AWSKMSConfiguration
    private let endpoint: KMSEndpoint
    private let signer: SigV4Signer
    private let httpClient: HTTPClient
    private let breaker: Mutex<CircuitBreaker>
    private let logger: Logger
    private let metrics: Metrics

    static let maximumResponseBytes = 64 * 1024

    /// One process-wide HTTP client for KMS calls. Unlike `HTTPClient.shared` it does not retry a refused connection
    /// until the deadline: a refused attempt fails at once and this client's own retry schedule decides what follows.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(
        configuration: AWSKMSConfiguration,
        httpClient: HTTPClient = AWSKMSClient.sharedHTTPClient,
        logger: Logger = Logger(label: "signer.custody.kms"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws {
        self.configuration = configuration
        self.endpoint = try KMSEndpoint(configuration.endpoint)
        self.signer = SigV4Signer(service: "kms", region: configuration.region, credentials: configuration.credentials)
        self.httpClient = httpClient
        self.breaker = Mutex(CircuitBreaker(failureThreshold: configuration.breakerFailureThreshold, openDuration: configuration.breakerOpenDuration))
        self.logger = logger
        self.metrics = Metrics(factory: metricsFactory)
    }

    /// Whether the breaker currently fails calls fast.
    public var isCircuitOpen: Bool { self.breaker.withLock { $0.isOpen } }

    /// Calls `operation` (for example `"Decrypt"`) with a JSON request and decodes the JSON response.
    public func send<Response: Decodable & Sendable>(
        _ operation: String, _ request: some Encodable & Sendable, as: Response.Type = Response.self
    ) async throws -> Response {
        let admission = self.breaker.withLock { $0.admit(now: .now) }
        if case .reject(let retryAfter) = admission {
            self.metrics.count(operation, .rejected)
            let wait = retryAfter.map { " for \(ContinuousClock.now.duration(to: $0).milliseconds) ms more" } ?? " while a probe is in flight"
            throw CustodyError(.kekUnavailable, "AWS KMS \(operation) not attempted: the KMS failed repeatedly and calls are paused\(wait)")
        }
        var body = try JSONEncoder().encode(request)
        defer { body.resetBytes(in: 0..<body.count) }  // it may hold a data key (Encrypt)
        do {
            var responseBody = try await self.callWithRetries(operation, body: body)
            defer { responseBody.resetBytes(in: 0..<responseBody.count) }  // it may hold a data key (Decrypt)
            self.breaker.withLock { $0.recordSuccess() }
            do {
                return try JSONDecoder().decode(Response.self, from: responseBody)
            } catch {
                throw CustodyError(.kekUnavailable, "AWS KMS \(operation) returned a response that is not the expected JSON")
            }
        } catch let failure as KMSFailure {
            switch failure {
            case .refused(let error):
                self.breaker.withLock { $0.recordSuccess() }  // the KMS answered
                throw error
            case .unavailable(let error):
                let opened = self.breaker.withLock { breaker -> Bool in
                    let wasOpen = breaker.isOpen
                    breaker.recordFailure(now: .now)
                    return !wasOpen && breaker.isOpen
                }
                if opened {
                    self.logger.error("AWS KMS circuit breaker opened", metadata: ["kms.operation": "\(operation)", "error": "\(error.description)"])
                }
                self.metrics.setCircuitOpen(self.isCircuitOpen)
                throw error
            }
        } catch is CancellationError {
            self.breaker.withLock { $0.recordAbandonedProbe(now: .now) }
            throw CancellationError()
        }
    }

    private enum KMSFailure: Error {
        /// KMS answered and said no: do not retry, and the service is up.
        case refused(CustodyError)
        /// No usable answer: retried, and counted by the breaker once retries are spent.
        case unavailable(CustodyError)
    }

    private func callWithRetries(_ operation: String, body: Data) async throws -> Data {
        var lastError = CustodyError(.kekUnavailable, "AWS KMS \(operation) failed")
        for attempt in 0...self.configuration.retryDelays.count {
            if attempt > 0 {
                let delay = self.configuration.retryDelays[attempt - 1]
                let scale = 1 + Double.random(in: -self.configuration.jitter...self.configuration.jitter)
                try await Task.sleep(for: delay * scale)
            }
            let started = ContinuousClock.now
            do {
                let response = try await self.attempt(operation, body: body)
                self.metrics.observe(operation, started.duration(to: .now))
                self.metrics.count(operation, .ok)
                self.metrics.setCircuitOpen(false)
                return response
            } catch KMSFailure.refused(let error) {
                self.metrics.observe(operation, started.duration(to: .now))
                self.metrics.count(operation, .refused)
                throw KMSFailure.refused(error)
            } catch KMSFailure.unavailable(let error) {
                self.metrics.count(operation, .failed)
                lastError = error
                self.logger.warning(
                    "AWS KMS call failed",
                    metadata: ["kms.operation": "\(operation)", "kms.attempt": "\(attempt + 1)", "error": "\(error.description)"]
                )
            }
        }
        let attempts = self.configuration.retryDelays.count + 1
        throw KMSFailure.unavailable(CustodyError(.kekUnavailable, "\(lastError.description) (after \(attempts) attempts)"))
    }

    private func attempt(_ operation: String, body: Data) async throws -> Data {
        var request = HTTPClientRequest(url: self.endpoint.url)
        request.method = .POST
        let signed = self.signer.sign(
            SigV4Signer.Request(
                method: "POST", path: "/",
                headers: [("host", self.endpoint.host), ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "TrentService.\(operation)")],
                payload: body
            ),
            at: Int(Date().timeIntervalSince1970)
        )
        request.headers.add(name: "Host", value: self.endpoint.host)
        request.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        request.headers.add(name: "X-Amz-Target", value: "TrentService.\(operation)")
        for header in signed { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let timeout = self.configuration.attemptTimeout
        let status: HTTPResponseStatus
        var responseBody: ByteBuffer
        do {
            (status, responseBody) = try await withThrowingTaskGroup(of: (HTTPResponseStatus, ByteBuffer)?.self) { group in
                group.addTask { [request] in
                    let response = try await self.httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
                    return (response.status, try await response.body.collect(upTo: Self.maximumResponseBytes))
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw KMSFailure.unavailable(CustodyError(.kekUnavailable, "AWS KMS \(operation) did not answer within \(timeout.milliseconds) ms"))
                }
                return result
            }
        } catch let failure as KMSFailure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw KMSFailure.unavailable(CustodyError(.kekUnavailable, "AWS KMS \(operation) did not answer within \(timeout.milliseconds) ms"))
        } catch {
            throw KMSFailure.unavailable(CustodyError(.kekUnavailable, "cannot reach AWS KMS at \(self.endpoint.host) for \(operation) (\(Self.reason(error)))"))
        }

        if status == .ok {
            let data = Data(responseBody.readableBytesView)
            _ = responseBody.withUnsafeMutableReadableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            return data
        }
        let kmsError = Self.errorType(in: responseBody)
        let description = "AWS KMS refused \(operation): \(kmsError.type)\(kmsError.message.map { " (\($0))" } ?? "")"
        switch kmsError.type {
        case "InvalidCiphertextException", "IncorrectKeyException":
            throw KMSFailure.refused(CustodyError(.secretDoesNotOpen, "data key does not open under AWS KMS key \(self.configuration.keyID)"))
        case "ThrottlingException", "LimitExceededException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException":
            throw KMSFailure.unavailable(CustodyError(.kekUnavailable, description))
        default:
            if status.code >= 500 || status == .tooManyRequests {
                throw KMSFailure.unavailable(CustodyError(.kekUnavailable, "AWS KMS \(operation) failed with HTTP \(status.code)"))
            }
            throw KMSFailure.refused(CustodyError(.kekUnavailable, description))
        }
    }

    /// The `__type` of a KMS error body (`"com.amazonaws.kms#NotFoundException"` → `NotFoundException`) and its
    /// message, shortened: KMS messages name keys and ARNs, never key material.
    private static func errorType(in body: ByteBuffer) -> (type: String, message: String?) {
        struct ErrorBody: Decodable {
            let type: String?
            let message: String?
            let capitalizedMessage: String?
            enum CodingKeys: String, CodingKey {
                case type = "__type"
                case message
                case capitalizedMessage = "Message"
            }
        }
        guard let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)), let type = decoded.type else {
            return ("UnknownError", nil)
        }
        let shortType = String(type.split(separator: "#").last ?? Substring(type))
        let message = (decoded.message ?? decoded.capitalizedMessage).map { String($0.prefix(200)) }
        return (shortType, message)
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError,
            let io = error.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first
        {
            return String(cString: strerror(io.errnoCode))
        }
        return "\(type(of: error))"
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// KMS metrics. Labels: the operation (a handful of names) and one of five outcomes.
    private struct Metrics: Sendable {
        enum Outcome: String, CaseIterable { case ok, refused, failed, rejected }
        let factory: any MetricsFactory
        let circuitOpen: Gauge

        init(factory: any MetricsFactory) {
            self.factory = factory
            self.circuitOpen = Gauge(label: "signer_kms_circuit_open", factory: factory)
        }

        func count(_ operation: String, _ outcome: Outcome) {
            Counter(label: "signer_kms_requests_total", dimensions: [("operation", operation), ("outcome", outcome.rawValue)], factory: self.factory)
                .increment()
        }

        func observe(_ operation: String, _ duration: Duration) {
            Timer(label: "signer_kms_request_duration_seconds", dimensions: [("operation", operation)], factory: self.factory)
                .recordNanoseconds(AWSKMSClient.nanoseconds(duration))
        }

        func setCircuitOpen(_ open: Bool) {
            self.circuitOpen.record(open ? 1 : 0)
        }
    }
}
