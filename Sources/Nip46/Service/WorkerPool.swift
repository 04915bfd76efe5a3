import DequeModule
import Synchronization

/// A bounded queue drained by a fixed number of workers. `submit` never waits: when the queue is full it says so,
/// and the caller answers `busy` instead of letting requests pile up without bound.
public final class WorkerPool<Job: Sendable>: Sendable {
    private struct State {
        var jobs: Deque<(job: Job, enqueuedAt: ContinuousClock.Instant)> = []
        var idleWorkers: [CheckedContinuation<(job: Job, enqueuedAt: ContinuousClock.Instant)?, Never>] = []
        var closed = false
    }

    public let capacity: Int
    public let workers: Int
    private let state = Mutex(State())

    public init(capacity: Int, workers: Int) {
        precondition(capacity > 0 && workers > 0, "a worker pool needs room and workers")
        self.capacity = capacity
        self.workers = workers
    }

    /// Jobs waiting for a worker.
    public var depth: Int { self.state.withLock { $0.jobs.count } }

    /// Queues `job`; `false` when the queue is full or the pool has stopped.
    public func submit(_ job: Job) -> Bool {
        let entry = (job: job, enqueuedAt: ContinuousClock.now)
        let (accepted, worker) = self.state.withLock { state -> (Bool, CheckedContinuation<(job: Job, enqueuedAt: ContinuousClock.Instant)?, Never>?) in
            guard !state.closed else { return (false, nil) }
            if !state.idleWorkers.isEmpty { return (true, state.idleWorkers.removeLast()) }
            guard state.jobs.count < self.capacity else { return (false, nil) }
            state.jobs.append(entry)
            return (true, nil)
        }
        worker?.resume(returning: entry)
        return accepted
    }

    /// Runs `workers` workers until the surrounding task is cancelled; then the queue is closed and what is already
    /// queued is still processed, so accepted requests are answered.
    /// - Parameter process: handles one job; `waited` is how long it sat in the queue.
    public func run(_ process: @escaping @Sendable (_ job: Job, _ waited: Duration) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<self.workers {
                group.addTask {
                    while let entry = await self.next() {
                        await process(entry.job, entry.enqueuedAt.duration(to: .now))
                    }
                }
            }
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                self.close()
            }
        }
    }

    private func next() async -> (job: Job, enqueuedAt: ContinuousClock.Instant)? {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> (job: Job, enqueuedAt: ContinuousClock.Instant)?? in
                if let entry = state.jobs.popFirst() { return .some(entry) }
                if state.closed { return .some(nil) }
                state.idleWorkers.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func close() {
        // Workers only wait while the queue is empty, so every idle one can be told to stop.
        let idle = self.state.withLock { state in
            state.closed = true
            defer { state.idleWorkers = [] }
            return state.idleWorkers
        }
        for worker in idle { worker.resume(returning: nil) }
    }
}
