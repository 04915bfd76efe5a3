import CoreMetrics
import Logging
import Synchronization

/// Bounds and pacing of the audit writer.
public struct AuditLogConfiguration: Sendable, Hashable {
    /// Records written per store call.
    public var maximumBatch: Int
    /// How often buffered records are written.
    public var flushInterval: Duration
    /// Records held while the store is slow or down; beyond this new records are dropped and counted.
    public var maximumBuffered: Int

    public init(maximumBatch: Int = 500, flushInterval: Duration = .milliseconds(250), maximumBuffered: Int = 100_000) {
        precondition(maximumBatch > 0 && maximumBuffered >= maximumBatch, "audit bounds must be positive, buffer ≥ batch")
        self.maximumBatch = maximumBatch
        self.flushInterval = flushInterval
        self.maximumBuffered = maximumBuffered
    }
}

/// The audit trail, written in batches off the request path.
///
/// ``record(_:)`` only appends to a bounded in-memory buffer: it never waits for the database and never fails the
/// request it describes. ``run()`` writes the buffer every `flushInterval`. A failed write is counted and logged,
/// and the batch stays buffered for the next attempt, so a short database outage loses nothing; only a buffer
/// overflow drops records, and those are counted too (`signer_audit_dropped_total`).
public final class AuditLog: Sendable {
    private struct State {
        var buffer: [AuditRecord] = []
    }

    private let store: any CustodyStore
    private let configuration: AuditLogConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    /// Serialises flushes, so the periodic writer and a shutdown flush never write one batch twice.
    private let flushLock = AsyncSerialLock()

    private let written: Counter
    private let failures: Counter
    private let dropped: Counter
    private let buffered: Gauge

    public init(
        store: any CustodyStore,
        configuration: AuditLogConfiguration = .init(),
        logger: Logger = Logger(label: "signer.audit"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.written = Counter(label: "signer_audit_records_written_total", factory: metricsFactory)
        self.failures = Counter(label: "signer_audit_write_failures_total", factory: metricsFactory)
        self.dropped = Counter(label: "signer_audit_dropped_total", factory: metricsFactory)
        self.buffered = Gauge(label: "signer_audit_buffered", factory: metricsFactory)
    }

    /// Queues one record. Never blocks.
    public func record(_ record: AuditRecord) {
        let accepted = self.state.withLock { state -> Bool in
            guard state.buffer.count < self.configuration.maximumBuffered else { return false }
            state.buffer.append(record)
            self.buffered.record(state.buffer.count)
            return true
        }
        if !accepted { self.dropped.increment() }
    }

    /// The number of records waiting to be written.
    public var pendingCount: Int { self.state.withLock { $0.buffer.count } }

    /// Writes every `flushInterval` until cancelled, then makes a last attempt to write what is left.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.configuration.flushInterval)
            } catch {
                break
            }
            // Outside this task, so cancellation cannot interrupt a write: a write cancelled after the database
            // committed it would leave the batch buffered, and the next attempt would record it twice.
            await Task { await self.flush() }.value
        }
        // The last write also runs outside the cancelled task: the store would refuse a query from it.
        await Task { await self.flush() }.value
    }

    /// Writes buffered records in batches until the buffer is empty or a write fails.
    public func flush() async {
        await self.flushLock.withLock {
            while true {
                let batch = self.state.withLock { Array($0.buffer.prefix(self.configuration.maximumBatch)) }
                guard !batch.isEmpty else { return }
                do {
                    try await self.store.appendAudit(batch)
                } catch {
                    self.failures.increment()
                    self.logger.error(
                        "audit write failed; records stay buffered",
                        metadata: ["audit.batch.size": "\(batch.count)", "error": "\(error)"]
                    )
                    return
                }
                self.state.withLock { state in
                    state.buffer.removeFirst(batch.count)
                    self.buffered.record(state.buffer.count)
                }
                self.written.increment(by: batch.count)
            }
        }
    }
}

