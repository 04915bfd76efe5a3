import Cluster
import Custody
import Logging
import Nip46
import NostrCrypto
import ServiceLifecycle

/// The cluster as the daemon uses it: membership, the ring's ownership of NIP-46 requests, and the broadcast that
/// keeps every instance's caches and known bunkers in step with changes made on the others.
///
/// It joins the ring only once the NIP-46 service is subscribed on its relays (an instance without relays serves
/// HTTP and takes part in the broadcast, but owns no bunkers), and on SIGTERM it leaves before anything else stops
/// (it is the last service of the top-level group, so the first told to stop).
struct ClusterService: Service {
    let node: ClusterNode
    let nip46: Nip46Service?
    let custodian: KeyCustodian
    let logger: Logger
    /// This instance's changes, in the order they were made, on their way to the others.
    private let changes: AsyncStream<AuthorizationChange>

    init(node: ClusterNode, nip46: Nip46Service?, custodian: KeyCustodian, logger: Logger) {
        self.node = node
        self.nip46 = nip46
        self.custodian = custodian
        self.logger = logger
        let (changes, sink) = AsyncStream<AuthorizationChange>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        self.changes = changes
        custodian.observeChanges { change in sink.yield(change) }
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.node.run() }
            group.addTask {
                for await change in self.changes {
                    await self.node.broadcast(
                        AuthorizationUpdate(authorizationID: change.authorizationID, revision: change.revision, bunker: change.bunkerPublicKey, isActive: change.isActive)
                    )
                }
            }
            group.addTask { await self.follow() }
            if let nip46 = self.nip46 {
                group.addTask {
                    guard await Self.relaysSubscribed(nip46) else { return }
                    await self.node.join()
                }
            }
            try? await gracefulShutdown()
            // Leave first: the others take this instance's bunkers over now, while it still answers what it queued.
            await self.node.leave()
            group.cancelAll()
        }
    }

    /// Applies what the cluster reports: ring changes to NIP-46, other instances' changes to custody.
    private func follow() async {
        for await event in self.node.events {
            switch event {
            case .ringChanged:
                self.nip46?.ownershipChanged()
            case .authorizationChanged(let update):
                self.custodian.apply(
                    AuthorizationChange(authorizationID: update.authorizationID, revision: update.revision, bunkerPublicKey: update.bunker, isActive: update.isActive)
                )
            case .broadcastResumed:
                do {
                    try await self.custodian.resynchronize()
                } catch {
                    self.logger.warning("could not reload the known bunkers after a broadcast gap; cached keys were dropped", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Waits until every daemon relay is subscribed, or at least one is and 10 s have passed (a relay that stays
    /// down must not keep the instance out of the ring); `false` if cancelled first.
    private static func relaysSubscribed(_ nip46: Nip46Service) async -> Bool {
        let start = ContinuousClock.now
        while !Task.isCancelled {
            let subscribed = nip46.subscribedRelayCount
            if subscribed == nip46.configuration.relays.count || (subscribed > 0 && ContinuousClock.now - start > .seconds(10)) { return true }
            do { try await Task.sleep(for: .milliseconds(50)) } catch { return false }
        }
        return false
    }
}

/// The ring's answer to the NIP-46 service's question, and the claim that makes each answer exactly-once.
struct ClusterOwnership: RequestOwnership {
    let node: ClusterNode

    func owns(_ bunker: PublicKey) -> Bool { self.node.owns(bunker) }

    func claim(_ eventID: EventID) async -> Bool { await self.node.claim(eventID.description) }
}
