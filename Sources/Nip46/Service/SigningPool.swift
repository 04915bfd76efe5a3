import Synchronization

/// The bounded pool that does the CPU-bound work of every request, whichever way it came: NIP-46 over relays and
/// the HTTP RPC share its workers and its queue, so one path under load cannot starve the other of more than its
/// share, and the process never holds more waiting work than the queue's capacity. Workers run on
/// ``SigningThreads`` (threads of their own), away from the event loops and relay read loops.
public final class SigningPool: Sendable {
    /// One piece of work; `waited` is how long it sat in the queue.
    public typealias Work = @Sendable (_ waited: Duration) async -> Void

    /// The queue was full (or the pool has stopped): the caller answers `busy`.
    public struct Busy: Error, CustomStringConvertible {
        public var description: String { "the signing queue is full" }
    }

    private let queue: WorkerPool<Work>

    /// - Parameters:
    ///   - workers: how many pieces of work run at once.
    ///   - queueCapacity: how many wait for a worker before `submit` refuses.
    public init(workers: Int, queueCapacity: Int) {
        self.queue = WorkerPool(capacity: queueCapacity, workers: workers)
    }

    /// Work waiting for a worker.
    public var depth: Int { self.queue.depth }

    /// Queues `work`; `false` when the queue is full or the pool has stopped. Never waits.
    public func submit(_ work: @escaping Work) -> Bool {
        self.queue.submit(work)
    }

    /// Runs `body` on a worker and returns its result.
    /// - Throws: ``Busy`` at once when the queue is full; otherwise what `body` throws.
    public func perform<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = self.queue.submit { _ in continuation.resume(with: Swift.Result { try body() }) }
            if !accepted { continuation.resume(throwing: Busy()) }
        }
    }

    /// Runs the workers until the surrounding task is cancelled; then refuses new work and finishes what is queued.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask(executorPreference: SigningThreads.shared) {
                await self.queue.run { work, waited in await work(waited) }
            }
            await group.waitForAll()
        }
    }
}
