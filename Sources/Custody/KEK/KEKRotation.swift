/// Re-wraps every data key under the current KEK, online.
///
/// Only the wrapped DEKs change; sealed secrets stay as they are. Each row is replaced with a compare-and-swap, so
/// requests keep working during a rotation (the ring still holds the previous KEK) and two rotations running at once
/// cannot overwrite each other. Rows already under the target are skipped, which makes a rotation idempotent and
/// lets an interrupted one resume by running it again. The KEK canary is re-wrapped last.
public struct KEKRotation: Sendable {
    /// Counts reported as the rotation proceeds.
    public struct Progress: Sendable, Hashable, CustomStringConvertible {
        /// Rows looked at.
        public var scanned = 0
        /// Rows re-wrapped by this run.
        public var rewrapped = 0
        /// Rows already under the target KEK.
        public var alreadyCurrent = 0
        /// Rows that changed while being re-wrapped (deleted, revoked, or re-wrapped by someone else); a re-run
        /// picks up any that still need it.
        public var changedConcurrently = 0

        public init() {}

        public var description: String {
            "scanned \(self.scanned), re-wrapped \(self.rewrapped), already current \(self.alreadyCurrent), changed concurrently \(self.changedConcurrently)"
        }
    }

    public let store: any CustodyStore
    /// `current` is the target; `previous` must include every KEK that wrapped a stored DEK.
    public let keks: KEKRing
    public let batchSize: Int

    public init(store: any CustodyStore, keks: KEKRing, batchSize: Int = 100) {
        precondition(batchSize > 0, "batch size must be positive")
        self.store = store
        self.keks = keks
        self.batchSize = batchSize
    }

    /// Runs to the end, calling `report` after each batch.
    @discardableResult
    public func run(report: (Progress) -> Void = { _ in }) async throws -> Progress {
        let target = self.keks.current
        var progress = Progress()
        var cursor: SealedSecretCursor? = nil
        while true {
            try Task.checkCancellation()
            let rows = try await self.store.sealedSecrets(after: cursor, limit: self.batchSize)
            guard let last = rows.last else { break }
            for row in rows {
                progress.scanned += 1
                if row.sealed.backend == target.kind && row.sealed.kekKeyID == target.keyID {
                    progress.alreadyCurrent += 1
                    continue
                }
                let rewrapped = try await Envelope.rewrap(row.sealed, binding: row.binding, keks: self.keks, target: target)
                if try await self.store.replaceSealedSecret(row, with: rewrapped) {
                    progress.rewrapped += 1
                } else {
                    progress.changedConcurrently += 1
                }
            }
            cursor = SealedSecretCursor(table: last.table, rowID: last.rowID)
            report(progress)
        }
        try await self.rewrapCanary(target: target)
        return progress
    }

    private func rewrapCanary(target: any KeyEncryptionBackend) async throws {
        guard let stored = try await self.store.metadata(name: KEKCanary.metadataName) else { return }
        let sealed = try SealedSecret(bytes: stored)
        guard sealed.backend != target.kind || sealed.kekKeyID != target.keyID else { return }
        let rewrapped = try await Envelope.rewrap(sealed, binding: KEKCanary.binding, keks: self.keks, target: target)
        _ = try await self.store.replaceMetadata(name: KEKCanary.metadataName, expected: stored, with: rewrapped.bytes)
    }
}
