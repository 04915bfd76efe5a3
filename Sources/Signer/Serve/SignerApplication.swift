import Cluster
import Custody
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Nip46
import NostrCrypto
import Prometheus

/// What the HTTP routes share. `signer serve` builds it from the configuration; tests build it around a
/// temporary store.
struct SignerComponents: Sendable {
    let custodian: KeyCustodian
    let auditLog: AuditLog
    let adminToken: AdminToken
    /// `names._` of the NIP-05 document.
    let identity: SignerIdentity
    let readiness: Readiness
    /// Where HTTP and NIP-46 requests do their crypto; whoever builds the components runs it.
    let signingPool: SigningPool
    /// Per-client-address limits on failed authentication and on the admin API.
    let addressLimits: AddressLimits
    /// nil when no relays are configured (NIP-46 over relays is off).
    let nip46: Nip46Service?
    /// nil for a single node (no Redis configured).
    let cluster: ClusterNode?
    /// The daemon's relays, for bunker URLs.
    let relays: [String]
    let corsOrigins: [String]
    let prometheus: PrometheusCollectorRegistry
    let metricsFactory: any MetricsFactory
    let clock: @Sendable () -> Int64
}

/// The router of every route, with the middleware every request passes: trace id, metrics, a time-out, CORS on
/// `/api/nostr`. The executable and the tests both build the app with this function.
func buildRouter(_ components: SignerComponents) -> Router<SignerRequestContext> {
    let router = Router(context: SignerRequestContext.self)
    router.add(middleware: TraceIDMiddleware())
    router.add(middleware: HTTPMetricsMiddleware(factory: components.metricsFactory))
    router.add(middleware: TimeLimitMiddleware(limit: requestTimeLimit, deadlines: .shared))

    HealthController(readiness: components.readiness, custodian: components.custodian, nip46: components.nip46, cluster: components.cluster)
        .addRoutes(to: router)

    let signingQueueDepth = Gauge(label: "signer_signing_queue_depth", factory: components.metricsFactory)
    router.get("/api/metrics") { _, _ in
        signingQueueDepth.record(components.signingPool.depth)
        let buffer = MetricsExposition.render(components.prometheus)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }

    router.get("/.well-known/nostr.json") { request, _ in
        nip05Document(name: request.uri.queryParameters["name"].map(String.init), identity: components.identity, relays: components.relays)
    }

    router.get("/api/policies") { _, _ in
        JSONBody.response(
            .object([
                "policies": .array(
                    Policy.builtIns.map { policy in
                        var object = policy.json().objectValue ?? [:]
                        object["summary"] = .string(policy.summary)
                        return .object(object)
                    }
                )
            ])
        )
    }

    let rpc = RPCController(
        custodian: components.custodian, auditLog: components.auditLog, signingPool: components.signingPool,
        addressLimits: components.addressLimits, clock: components.clock
    )
    let nostr = router.group().add(middleware: CORSMiddleware(allowedOrigins: components.corsOrigins))
    nostr.post("/api/nostr") { request, context in try await rpc.handle(request, context: context) }
    nostr.on("/api/nostr", method: .options) { _, _ in
        // Reached only when the origin is not allowed (the CORS middleware answers allowed preflights).
        Response(status: .forbidden)
    }

    AdminController(
        custodian: components.custodian, auditLog: components.auditLog, adminToken: components.adminToken,
        addressLimits: components.addressLimits, identity: components.identity, relays: components.relays,
        nip46: components.nip46, clock: components.clock
    ).addRoutes(to: router)
    return router
}

/// NIP-05 discovery of the signer (NIP-46's "remote-signer-app"): `names._` is its identity and `nip46.relays` where
/// it listens. Browsers read it cross-origin, so it allows any origin, as NIP-05 asks. Other names are not ours.
func nip05Document(name: String?, identity: SignerIdentity, relays: [String]) -> Response {
    var names: [String: JSONValue] = [:]
    if name == nil || name == "_" { names["_"] = .string(identity.publicKey.hex) }
    var response = JSONBody.response(
        .object(["names": .object(names), "nip46": .object(["relays": .array(relays.map { .string($0) })])])
    )
    response.headers[.accessControlAllowOrigin] = "*"
    return response
}
