import Custody
import MetricsTestKit
import SQLiteNIO
import Testing
import TestSupport

struct AuditLogTests {
    static func record(_ index: Int) -> AuditRecord {
        AuditRecord(recordedAt: Int64(index), keyID: "key", authorizationID: "auth", path: .http, method: "sign_event", kind: 1, outcome: "ok")
    }

    @Test func batchesReachTheStoreInOrder() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("db"))
        try await store.migrate()
        let metrics = TestMetrics()
        let log = AuditLog(store: store, configuration: .init(maximumBatch: 3, flushInterval: .milliseconds(20)), metricsFactory: metrics)
        let writer = Task { await log.run() }
        for index in 0..<10 { log.record(Self.record(index)) }
        for _ in 0..<100 where log.pendingCount > 0 { try await Task.sleep(for: .milliseconds(20)) }
        writer.cancel()
        await writer.value
        #expect(log.pendingCount == 0)
        #expect(try await store.audit(keyID: "key", authorizationID: nil, limit: 100).map(\.recordedAt) == (0..<10).reversed().map(Int64.init))
        #expect(try metrics.expectCounter("signer_audit_records_written_total").totalValue == 10)
        try await store.close()
    }

    @Test("records buffered when the writer is cancelled are written by its last flush")
    func cancellationWritesWhatIsLeft() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("db"))
        try await store.migrate()
        let metrics = TestMetrics()
        let log = AuditLog(store: store, configuration: .init(flushInterval: .seconds(3600)), metricsFactory: metrics)
        let writer = Task { await log.run() }
        for index in 0..<5 { log.record(Self.record(index)) }
        writer.cancel()
        await writer.value
        #expect(log.pendingCount == 0)
        #expect(try await store.audit(keyID: "key", authorizationID: nil, limit: 10).count == 5)
        #expect(try metrics.expectCounter("signer_audit_write_failures_total").totalValue == 0)
        try await store.close()
    }

    @Test func aFailedWriteIsCountedAndRetriedAndOverflowIsCounted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.file("db")
        let store = try await SQLiteCustodyStore.open(path: path)
        try await store.migrate()
        let metrics = TestMetrics()
        let log = AuditLog(store: store, configuration: .init(maximumBatch: 2, flushInterval: .seconds(3600), maximumBuffered: 4), metricsFactory: metrics)

        // Take the audit table away with a second connection to the same file: writes now fail for real.
        let operator_ = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await operator_.query("ALTER TABLE audit_records RENAME TO audit_records_away")
        for index in 0..<5 { log.record(Self.record(index)) }
        #expect(log.pendingCount == 4)
        #expect(try metrics.expectCounter("signer_audit_dropped_total").totalValue == 1)
        await log.flush()
        #expect(log.pendingCount == 4)
        #expect(try metrics.expectCounter("signer_audit_write_failures_total").totalValue == 1)

        // The table comes back: the next flush writes everything that was kept.
        _ = try await operator_.query("ALTER TABLE audit_records_away RENAME TO audit_records")
        try await operator_.close()
        await log.flush()
        #expect(log.pendingCount == 0)
        #expect(try await store.audit(keyID: nil, authorizationID: nil, limit: 10).map(\.recordedAt) == [3, 2, 1, 0])
        try await store.close()
    }
}
