import Custody
import NostrCrypto
import Testing

struct EnvelopeTests {
    let kek = try! memoryKEK()
    let secret = SecretKey.generate()

    func binding(_ rowID: String = "row-1", purpose: SecretPurpose = .userKey, key: SecretKey? = nil) -> SecretBinding {
        SecretBinding(purpose: purpose, rowID: rowID, publicKey: (key ?? self.secret).publicKey)
    }

    static func code(_ body: () async throws -> Void) async -> CustodyError.Code? {
        do {
            try await body()
            return nil
        } catch let error as CustodyError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test func sealOpenRoundTripAndLayout() async throws {
        let sealed = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek)
        let bytes = sealed.bytes
        let keyID = Array(self.kek.keyID.utf8)
        #expect(bytes[0] == 1)
        #expect(bytes[1] == KEKBackendKind.file.rawValue)
        #expect(Int(bytes[2]) == keyID.count)
        #expect(Array(bytes[3..<(3 + keyID.count)]) == keyID)
        // File-wrapped data key: nonce 12 + key 32 + tag 16.
        #expect(Int(bytes[3 + keyID.count]) << 8 | Int(bytes[4 + keyID.count]) == 60)
        #expect(bytes.count == 5 + keyID.count + 60 + 12 + 32 + 16)
        #expect(try SealedSecret(bytes: bytes) == sealed)
        let opened = try await Envelope.open(sealed, binding: self.binding(), keks: KEKRing(current: self.kek))
        #expect(opened.exportHex() == self.secret.exportHex())
        // A second seal of the same secret uses a new data key and nonce.
        let again = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek)
        #expect(again.wrappedDataKey != sealed.wrappedDataKey)
        #expect(again.nonce != sealed.nonce)
        // The blob never contains the secret in the clear.
        let secretBytes = self.secret.withUnsafeSecretBytes { Array($0) }
        #expect(!bytes.indices.dropLast(31).contains { Array(bytes[$0..<($0 + 32)]) == secretBytes })
    }

    @Test func corruptedOrTruncatedBlobs() async throws {
        let bytes = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek).bytes
        let ring = KEKRing(current: self.kek)
        for length in [0, 1, 2, 3, 20, bytes.count - 1] {
            #expect(throws: CustodyError.self) { try SealedSecret(bytes: Array(bytes.prefix(length))) }
            #expect((try? SealedSecret(bytes: Array(bytes.prefix(length)))) == nil)
        }
        #expect(await Self.code { _ = try SealedSecret(bytes: bytes + [0]) } == .corruptedSecret)
        #expect(await Self.code { _ = try SealedSecret(bytes: Array(bytes.prefix(40))) } == .corruptedSecret)
        // Unknown backend byte.
        var badBackend = bytes
        badBackend[1] = 9
        #expect(await Self.code { _ = try SealedSecret(bytes: badBackend) } == .corruptedSecret)
        // A flipped bit anywhere in the ciphertext, tag, nonce or wrapped key: it does not open.
        for offset in [bytes.count - 1, bytes.count - 20, bytes.count - 50, bytes.count - 70] {
            var flipped = bytes
            flipped[offset] ^= 0x01
            #expect(await Self.code { _ = try await Envelope.open(SealedSecret(bytes: flipped), binding: self.binding(), keks: ring) } == .secretDoesNotOpen)
        }
    }

    @Test func unknownFormatVersion() async throws {
        var bytes = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek).bytes
        bytes[0] = 2
        do {
            _ = try SealedSecret(bytes: bytes)
            Issue.record("version 2 parsed")
        } catch let error as CustodyError {
            #expect(error.code == .unsupportedFormatVersion)
            #expect(error.description == "sealed secret has format version 2; this build reads version 1")
        }
    }

    @Test func wrongKEK() async throws {
        let sealed = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek)
        let other = try memoryKEK()
        #expect(await Self.code { _ = try await Envelope.open(sealed, binding: self.binding(), keks: KEKRing(current: other)) } == .unknownKEK)
        // Even if a blob claims the other KEK's id, the data key does not unwrap.
        var relabelled = sealed
        relabelled.kekKeyID = other.keyID
        #expect(await Self.code { _ = try await Envelope.open(relabelled, binding: self.binding(), keks: KEKRing(current: other)) } == .secretDoesNotOpen)
    }

    @Test func wrongAssociatedDataAndSwappedRows() async throws {
        let ring = KEKRing(current: self.kek)
        let sealed = try await Envelope.seal(self.secret, binding: self.binding("row-1"), kek: self.kek)
        #expect(await Self.code { _ = try await Envelope.open(sealed, binding: self.binding("row-2"), keks: ring) } == .secretDoesNotOpen)
        #expect(await Self.code { _ = try await Envelope.open(sealed, binding: self.binding("row-1", purpose: .bunkerKey), keks: ring) } == .secretDoesNotOpen)
        let otherKey = SecretKey.generate()
        #expect(await Self.code {
            _ = try await Envelope.open(sealed, binding: SecretBinding(purpose: .userKey, rowID: "row-1", publicKey: otherKey.publicKey), keks: ring)
        } == .secretDoesNotOpen)
        // Moving only the inner ciphertext to another row's envelope fails too: each data key is bound to its row.
        let second = try await Envelope.seal(otherKey, binding: self.binding("row-2", key: otherKey), kek: self.kek)
        var spliced = second
        spliced.nonce = sealed.nonce
        spliced.sealedBytes = sealed.sealedBytes
        #expect(await Self.code { _ = try await Envelope.open(spliced, binding: self.binding("row-2", key: otherKey), keks: ring) } == .secretDoesNotOpen)
    }

    @Test func rewrapKeepsTheSecretAndChangesOnlyTheWrap() async throws {
        let sealed = try await Envelope.seal(self.secret, binding: self.binding(), kek: self.kek)
        let next = try memoryKEK()
        let rewrapped = try await Envelope.rewrap(sealed, binding: self.binding(), keks: KEKRing(current: self.kek), target: next)
        #expect(rewrapped.kekKeyID == next.keyID)
        #expect(rewrapped.nonce == sealed.nonce)
        #expect(rewrapped.sealedBytes == sealed.sealedBytes)
        #expect(rewrapped.wrappedDataKey != sealed.wrappedDataKey)
        let opened = try await Envelope.open(rewrapped, binding: self.binding(), keks: KEKRing(current: next))
        #expect(opened.publicKey == self.secret.publicKey)
        // During a migration both KEKs are configured and both forms open.
        let ring = KEKRing(current: next, previous: [self.kek])
        #expect(try await Envelope.open(sealed, binding: self.binding(), keks: ring).publicKey == self.secret.publicKey)
    }
}
