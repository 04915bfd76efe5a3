import CoreMetrics
import Custody
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NostrCrypto
import Synchronization

/// Gives every request a trace id (the caller's `x-trace-id` when it is a sane token, a new one otherwise), puts it
/// in the request's log metadata, and returns it on every response, errors included.
struct TraceIDMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext
    static let header = HTTPField.Name("x-trace-id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let traceID = request.headers[Self.header].flatMap(Self.acceptable) ?? TraceIDs.next()
        context.traceID = traceID
        context.logger[metadataKey: "trace_id"] = .string(traceID)
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = traceID
            return response
        } catch var error as APIError {
            error.headers[Self.header] = traceID
            throw error
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[Self.header] = traceID
            return response
        } catch {
            // Our errors describe themselves without secrets; the caller gets a generic text and the trace id.
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            var failure = APIError.internalError
            if let custody = error as? CustodyError, custody.code == .storeUnavailable || custody.code == .kekUnavailable {
                failure = APIError(.serviceUnavailable, "unavailable", "the signer's database or key service is unreachable; try again")
            }
            failure.headers[Self.header] = traceID
            throw failure
        }
    }

    /// Up to 64 characters of letters, digits, `-` and `_`; anything else is replaced, never echoed.
    static func acceptable(_ value: String) -> String? {
        guard (1...64).contains(value.utf8.count),
            value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { return nil }
        return value
    }
}

/// New trace ids: 32 hex characters, unique in the process and not guessable from one another, without a system call
/// per request. A trace id is not a secret, so a counter scrambled with a random key (SplitMix64's finaliser, a
/// bijection) is enough: it never repeats and does not reveal how many requests came before.
enum TraceIDs {
    private static let key: (UInt64, UInt64) = {
        let seed = SystemRandom.bytes(count: 16)
        return seed.withUnsafeBytes { ($0.load(fromByteOffset: 0, as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
    }()
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let count = self.counter.add(1, ordering: .relaxed).newValue
        return Self.hex(Self.mix(count &+ self.key.0)) + Self.hex(Self.mix(count ^ self.key.1))
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

/// `signer_http_requests_total{route, method, status}` and the `signer_http_request_duration_seconds` histogram.
/// Routes are the router's templates (`/api/admin/keys/{id}`), never raw paths, so the label set stays bounded;
/// the metric objects are made once per label set, not per request.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext

    /// One request's labels; each label set's metric objects are made once.
    private struct Labels: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private final class MetricObjects: Sendable {
        let factory: any MetricsFactory
        let byLabels = Mutex<[Labels: (counter: Counter, timer: Timer)]>([:])

        init(factory: any MetricsFactory) { self.factory = factory }
    }

    private let metrics: MetricObjects

    init(factory: any MetricsFactory) {
        self.metrics = MetricObjects(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            self.record(request, context: context, status: Int(response.status.code), since: start)
            return response
        } catch let error as any HTTPResponseError {
            self.record(request, context: context, status: Int(error.status.code), since: start)
            throw error
        } catch {
            self.record(request, context: context, status: 500, since: start)
            throw error
        }
    }

    private func record(_ request: Request, context: Context, status: Int, since start: ContinuousClock.Instant) {
        let route = context.endpointPath ?? "unmatched"
        let method = ["GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH"].contains(request.method.rawValue) ? request.method.rawValue : "other"
        let labels = Labels(route: route, method: method, status: status)
        // One lookup per request; the timer is by route alone, so the factory hands back the same histogram to
        // every status of a route.
        let (counter, timer) = self.metrics.byLabels.withLock { byLabels in
            if let objects = byLabels[labels] { return objects }
            let objects = (
                counter: Counter(
                    label: "signer_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                    factory: self.metrics.factory
                ),
                timer: Timer(
                    label: "signer_http_request_duration_seconds", dimensions: [("route", route)], preferredDisplayUnit: .seconds,
                    factory: self.metrics.factory
                )
            )
            byLabels[labels] = objects
            return objects
        }
        counter.increment()
        timer.record(duration: start.duration(to: .now))
    }
}

/// How long any handler may run before the caller gets 503 `timeout` (its task is then cancelled).
let requestTimeLimit: Duration = .seconds(10)

/// Bounds every handler's time (``requestTimeLimit``): a handler still running at its deadline is cancelled, and its
/// caller gets 503 `timeout` whatever it then returns or throws.
struct TimeLimitMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext
    let limit: Duration
    let deadlines: RequestDeadlines

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await self.deadlines.run(limit: self.limit) { try await next(request, context) }
    }
}

/// Deadlines of the requests in flight, enforced by one reaper task for the process. A timer per request (a task
/// group racing the handler against `Task.sleep`) cost more than a third of the RPC's throughput; a registry
/// checked every `interval` costs a dictionary insert and removal per request, and deadlines are met within
/// `interval`.
final class RequestDeadlines: Sendable {
    static let shared = RequestDeadlines(interval: .milliseconds(100))

    /// A running request's task. `UnsafeCurrentTask` is only valid while its task runs: an entry is removed (under
    /// the lock) before `run` returns, and the reaper touches tasks only under that lock, so it never outlives them.
    private struct Entry: @unchecked Sendable {
        let deadline: ContinuousClock.Instant
        let task: UnsafeCurrentTask
        var expired = false
    }

    private let state = Mutex<(nextID: UInt64, entries: [UInt64: Entry])>((0, [:]))

    init(interval: Duration) {
        // Holds the registry only while checking it, so the loop ends once the registry is gone.
        Task.detached { [weak self] in
            while self?.cancelExpired(now: .now) != nil {
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Requests being timed, for tests.
    var inFlight: Int { self.state.withLock { $0.entries.count } }

    /// Runs `body` under `limit`.
    /// - Throws: 503 `timeout` when the deadline passed while `body` ran; otherwise what `body` throws.
    func run<Result>(limit: Duration, _ body: () async throws -> Result) async throws -> Result {
        let deadline = ContinuousClock.now + limit
        let id = withUnsafeCurrentTask { task -> UInt64? in
            guard let task else { return nil }
            return self.state.withLock { state in
                state.nextID &+= 1
                state.entries[state.nextID] = Entry(deadline: deadline, task: task)
                return state.nextID
            }
        }
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        let expired = id.map { id in self.state.withLock { $0.entries.removeValue(forKey: id)?.expired ?? false } } ?? false
        if expired {
            throw APIError(.serviceUnavailable, "timeout", "the request took longer than \(limit.components.seconds) s")
        }
        return try outcome.get()
    }

    func cancelExpired(now: ContinuousClock.Instant) {
        self.state.withLock { state in
            for (id, entry) in state.entries where !entry.expired && entry.deadline <= now {
                entry.task.cancel()
                state.entries[id]?.expired = true
            }
        }
    }
}

/// CORS for `/api/nostr`: browsers from the configured origins may call it with a bearer token (no cookies, so
/// no credentials mode); preflight requests are answered here.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext
    let allowedOrigins: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], self.allowedOrigins.contains("*") || self.allowedOrigins.contains(origin) else {
            return try await next(request, context)
        }
        var response: Response
        if request.method == .options {
            response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = "POST, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "authorization, content-type, x-trace-id"
            response.headers[.accessControlMaxAge] = "600"
        } else {
            response = try await next(request, context)
        }
        response.headers[.accessControlAllowOrigin] = self.allowedOrigins.contains("*") ? "*" : origin
        response.headers[.accessControlExposeHeaders] = "x-trace-id, retry-after"
        response.headers[.vary] = "Origin"
        return response
    }
}
