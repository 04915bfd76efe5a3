#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import NIOCore
import Nip46
import Synchronization

/// Token buckets per client address, in bounded memory: guessing tokens and hammering the admin API cost an address
/// its turn, without a per-address table that grows with every address that ever called.
///
/// Addresses are kept in two generations of at most `capacity / 2` each: a lookup moves an address into the
/// current one, and when that fills, the previous generation (addresses not seen for a whole generation) is
/// forgotten. A forgotten address starts again with a full bucket, which is what it would have refilled to anyway
/// unless addresses are sprayed faster than a generation fills.
final class AddressRateLimiter: Sendable {
    /// `burst` requests at once, then `perSecond`.
    struct Rate: Sendable, Hashable {
        var burst: Double
        var perSecond: Double
    }

    private struct Bucket {
        var tokens: Double
        var updatedAt: ContinuousClock.Instant
    }

    private struct State {
        var current: [ClientAddress: Bucket] = [:]
        var previous: [ClientAddress: Bucket] = [:]
    }

    let rate: Rate
    private let generationCapacity: Int
    private let state = Mutex(State())

    init(rate: Rate, capacity: Int = 65_536) {
        precondition(rate.burst >= 1 && rate.perSecond > 0 && capacity >= 2, "a rate limiter needs a burst, a rate and room")
        self.rate = rate
        self.generationCapacity = capacity / 2
    }

    /// nil when `address` has a token left (not taking it); otherwise how long until it has one.
    func wait(for address: ClientAddress, now: ContinuousClock.Instant = .now) -> Duration? {
        self.state.withLock { state in
            // An address never seen has a full bucket and is not remembered for being asked about.
            guard let known = Self.lookUp(address, in: &state) else { return nil }
            let bucket = self.refilled(known, now: now)
            self.store(bucket, for: address, in: &state)
            return bucket.tokens >= 1 ? nil : self.timeToNextToken(bucket)
        }
    }

    /// Takes a token from `address`; nil when there was one, otherwise how long until there is (nothing taken).
    func take(for address: ClientAddress, now: ContinuousClock.Instant = .now) -> Duration? {
        self.state.withLock { state in
            var bucket = self.refilled(Self.lookUp(address, in: &state), now: now)
            defer { self.store(bucket, for: address, in: &state) }
            guard bucket.tokens >= 1 else { return self.timeToNextToken(bucket) }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Addresses remembered (both generations), for tests.
    var trackedAddresses: Int { self.state.withLock { $0.current.count + $0.previous.count } }

    private static func lookUp(_ address: ClientAddress, in state: inout State) -> Bucket? {
        if let bucket = state.current[address] { return bucket }
        return state.previous.removeValue(forKey: address)
    }

    private func refilled(_ bucket: Bucket?, now: ContinuousClock.Instant) -> Bucket {
        guard var bucket else { return Bucket(tokens: self.rate.burst, updatedAt: now) }
        let elapsed = bucket.updatedAt.duration(to: now)
        if elapsed > .zero {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(self.rate.burst, bucket.tokens + seconds * self.rate.perSecond)
            bucket.updatedAt = now
        }
        return bucket
    }

    private func timeToNextToken(_ bucket: Bucket) -> Duration {
        .seconds((1 - bucket.tokens) / self.rate.perSecond)
    }

    private func store(_ bucket: Bucket, for address: ClientAddress, in state: inout State) {
        if state.current[address] == nil, state.current.count >= self.generationCapacity {
            state.previous = state.current
            state.current = [:]
        }
        state.current[address] = bucket
    }
}

/// What a client is limited as: its IPv4 address, or the /64 network of its IPv6 address (one host usually holds a
/// whole /64, so limiting single IPv6 addresses would limit nothing).
struct ClientAddress: Hashable, Sendable {
    private let bytes: [UInt8]

    /// Clients whose address the server does not know (tests, Unix sockets) share one bucket.
    static let unknown = ClientAddress(bytes: [])

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Byte offsets of the address in `sockaddr_in` (after family and port) and `sockaddr_in6` (after family, port and
    /// flow info), the same on Linux and the BSDs.
    private static let ipv4Offset = 4
    private static let ipv6Offset = 8

    /// From the socket address itself (every request computes one): no formatting to text and parsing back.
    init(_ address: SocketAddress?) {
        guard let address else {
            self = .unknown
            return
        }
        self = address.withSockAddr { pointer, length -> ClientAddress in
            let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: length)
            switch Int32(pointer.pointee.sa_family) {
            case AF_INET where length >= Self.ipv4Offset + 4:
                return ClientAddress(bytes: Array(raw[Self.ipv4Offset..<(Self.ipv4Offset + 4)]))
            case AF_INET6 where length >= Self.ipv6Offset + 16:
                let ip = Array(raw[Self.ipv6Offset..<(Self.ipv6Offset + 16)])
                // An IPv4 client reaching a dual-stack socket arrives as ::ffff:a.b.c.d; it is that IPv4 address.
                if ip.prefix(10).allSatisfy({ $0 == 0 }) && ip[10] == 0xff && ip[11] == 0xff {
                    return ClientAddress(bytes: Array(ip.suffix(4)))
                }
                return ClientAddress(bytes: Array(ip.prefix(8)))
            default:
                return .unknown
            }
        }
    }
}

/// The per-address limits of `signer serve` (`SIGNER_FAILED_AUTH_PER_MINUTE`, `SIGNER_ADMIN_REQUESTS_PER_SECOND`).
struct AddressLimits: Sendable {
    /// Failed authentications (a missing or wrong access or admin token): a few mistakes are free, guessing is not.
    /// Checked before any token is looked at, so a limited address learns nothing more. nil: no limit.
    let failedAuthentication: AddressRateLimiter?
    /// Every admin API request, authenticated or not. nil: no limit.
    let admin: AddressRateLimiter?

    /// The defaults: 20 failures at once then 10 a minute; 100 admin requests at once then 20 a second.
    init(
        failedAuthentication: AddressRateLimiter.Rate? = .init(burst: 20, perSecond: 10.0 / 60),
        admin: AddressRateLimiter.Rate? = .init(burst: 100, perSecond: 20)
    ) {
        self.failedAuthentication = failedAuthentication.map { AddressRateLimiter(rate: $0) }
        self.admin = admin.map { AddressRateLimiter(rate: $0) }
    }

    /// 429 when `address` has used up its failed authentications.
    func checkAuthenticationAllowed(_ address: ClientAddress) throws {
        if let wait = self.failedAuthentication?.wait(for: address) {
            throw APIError.rateLimited(wait, "too many failed authentications from this address")
        }
    }

    /// Counts a failed authentication against `address`.
    func authenticationFailed(_ address: ClientAddress) {
        _ = self.failedAuthentication?.take(for: address)
    }

    /// 429 when `address` has used up its admin requests; otherwise takes one.
    func takeAdminRequest(_ address: ClientAddress) throws {
        if let wait = self.admin?.take(for: address) {
            throw APIError.rateLimited(wait, "too many admin requests from this address")
        }
    }
}

extension APIError {
    /// 429 `rate_limited` with `Retry-After` in whole seconds, rounded up.
    static func rateLimited(_ wait: Duration, _ reason: String) -> Self {
        let seconds = Nip46RequestHandler.retryAfterSeconds(wait)
        var error = Self(.tooManyRequests, "rate_limited", "\(reason); retry after \(seconds) s")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
}
