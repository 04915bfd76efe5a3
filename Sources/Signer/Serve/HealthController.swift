import Cluster
import Custody
import HTTPTypes
import Hummingbird
import Nip46
import NostrCrypto
import Synchronization

/// What the probes report: `/health` (the process answers), `/healthz/startup` (migrations applied, start-up done)
/// and `/healthz/ready` (every check below passes). 200 or 503, with a JSON body naming each check.
final class Readiness: Sendable {
    /// Set once migrations are applied and the KEK is verified.
    let started = Atomic<Bool>(false)
    /// Set once the active-bunker set is loaded (in the background, so start-up does not grow with the keys).
    let bunkersLoaded = Atomic<Bool>(false)
    /// Set when shutdown begins, so load balancers stop sending requests first.
    let stopping = Atomic<Bool>(false)

    init() {}
}

struct HealthController: Sendable {
    let readiness: Readiness
    let custodian: KeyCustodian
    let nip46: Nip46Service?
    let cluster: ClusterNode?

    /// How long a probe waits for the store or the KMS before calling the check failed.
    static let checkDeadline: Duration = .seconds(2)

    func addRoutes(to router: Router<SignerRequestContext>) {
        router.get("/health") { _, _ in JSONBody.response(.object(["status": .string("alive")])) }
        router.get("/healthz/startup") { _, _ in
            let started = self.readiness.started.load(ordering: .relaxed)
            return Self.report(["startup": started ? "ok" : "starting"], healthy: started)
        }
        router.get("/healthz/ready") { _, _ in await self.ready() }
    }

    func ready() async -> Response {
        async let store = Self.check { _ = try await self.custodian.store.appliedMigrations() }
        async let kek = Self.check { try await self.custodian.keks.current.checkHealth() }
        var checks: [String: String] = [:]
        var healthy = true
        func record(_ name: String, _ ok: Bool, _ detail: String) {
            checks[name] = detail
            if !ok { healthy = false }
        }
        let storeError = await store
        record("store", storeError == nil, storeError ?? "ok")
        // A KMS outage is survivable while keys are cached: requests for them keep being signed.
        let kekError = await kek
        let cached = self.custodian.cache.count
        record("kek", kekError == nil || cached > 0, kekError.map { cached > 0 ? "degraded: \($0); \(cached) keys cached" : $0 } ?? "ok")
        let started = self.readiness.started.load(ordering: .relaxed)
        record("startup", started, started ? "ok" : "starting")
        let loaded = self.readiness.bunkersLoaded.load(ordering: .relaxed)
        record("bunkers", loaded, loaded ? "ok" : "loading")
        if let nip46 = self.nip46 {
            let subscribed = nip46.subscribedRelayCount
            record("relays", subscribed > 0, "\(subscribed) of \(nip46.configuration.relays.count) subscribed")
        } else {
            record("relays", true, "none configured (NIP-46 over relays is off)")
        }
        if let cluster = self.cluster {
            let status = cluster.status
            if let refusal = status.joinRefusal {
                record("cluster", false, refusal)
            } else if status.isOutOfContact {
                record("cluster", false, "Redis unreachable for longer than the member expiry; serving with the last ring")
            } else if status.isJoined {
                record("cluster", true, "member \(status.memberID) of \(status.members), owns \(Int((status.ownedShare * 100).rounded()))% of bunkers")
            } else {
                record("cluster", true, "member \(status.memberID), not in the ring (\(self.nip46 == nil ? "no relays" : "waiting for relays"))")
            }
        } else {
            record("cluster", true, "single node")
        }
        let stopping = self.readiness.stopping.load(ordering: .relaxed)
        record("shutdown", !stopping, stopping ? "stopping" : "ok")
        return Self.report(checks, healthy: healthy)
    }

    private static func report(_ checks: [String: String], healthy: Bool) -> Response {
        JSONBody.response(
            .object(["status": .string(healthy ? "ok" : "unavailable"), "checks": .object(checks.mapValues { .string($0) })]),
            status: healthy ? .ok : .serviceUnavailable
        )
    }

    /// nil when `body` finished in time without throwing; otherwise what went wrong, in a few words. The deadline is
    /// the request deadlines' own mechanism, with the probe's shorter limit.
    private static func check(_ body: @escaping @Sendable () async throws -> Void) async -> String? {
        do {
            try await RequestDeadlines.shared.run(limit: Self.checkDeadline, body)
            return nil
        } catch let error as APIError where error.code == "timeout" {
            return "no answer within \(Self.checkDeadline.components.seconds) s"
        } catch {
            return "failed: \(error)"
        }
    }
}
