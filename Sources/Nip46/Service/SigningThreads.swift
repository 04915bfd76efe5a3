import DequeModule
import Foundation

/// Threads of their own for the CPU-bound part of requests (verify, ECDH, NIP-44, signing), used as the workers'
/// task executor.
///
/// On the cooperative pool, two workers busy with crypto would hold both of its threads on a 2-core machine, and the
/// relay connections' read loops (also tasks there) would wait behind them; a relay whose subscriber falls behind
/// drops it. On threads of their own the crypto is time-sliced by the kernel against the I/O instead.
public final class SigningThreads: TaskExecutor, @unchecked Sendable {
    /// One per core, for the whole process.
    public static let shared = SigningThreads(count: ProcessInfo.processInfo.activeProcessorCount)

    // NSCondition guards `jobs`; that is what makes this class safe to share (hence @unchecked Sendable).
    private let condition = NSCondition()
    private var jobs = Deque<UnownedJob>()
    public let count: Int

    public init(count: Int) {
        precondition(count > 0, "at least one signing thread")
        self.count = count
        for index in 0..<count {
            // The threads hold the executor for the life of the process.
            let thread = Thread { self.work() }
            thread.name = "signer-crypto-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.condition.lock()
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    private func work() {
        while true {
            self.condition.lock()
            while self.jobs.isEmpty { self.condition.wait() }
            let job = self.jobs.removeFirst()
            self.condition.unlock()
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
