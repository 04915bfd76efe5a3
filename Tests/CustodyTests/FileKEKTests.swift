import Custody
import Foundation
import NostrCrypto
import Testing
import TestSupport

struct FileKEKTests {
    static func error(_ body: () async throws -> Void) async -> CustodyError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? CustodyError
        }
    }

    @Test func createWritesAnOwnerOnly32ByteFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.file("kek")
        let created = try FileKeyEncryptionBackend.create(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((attributes[.size] as? Int) == 32)
        #expect(try FileKeyEncryptionBackend.open(path: path).keyID == created.keyID)
        #expect(created.keyID.hasPrefix("file:"))
        #expect(created.keyID.count == "file:".count + 16)
        // Never overwrites an existing key.
        #expect(throws: CustodyError.self) { try FileKeyEncryptionBackend.create(path: path) }
    }

    @Test func refusesAFileOthersCanRead() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.file("kek")
        _ = try FileKeyEncryptionBackend.create(path: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let error = await Self.error { _ = try FileKeyEncryptionBackend.open(path: path) }
        #expect(error?.code == .kekFileUnsafe)
        #expect(error?.description == "KEK file \(path) is accessible to other users (mode 644); run chmod 600 \(path)")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(await Self.error { _ = try FileKeyEncryptionBackend.open(path: path) }?.code == .kekFileUnsafe)
    }

    @Test func missingAndMalformedFiles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let missing = directory.file("absent")
        let error = await Self.error { _ = try FileKeyEncryptionBackend.open(path: missing) }
        #expect(error?.code == .kekFileMissing)
        #expect(error?.description == "KEK file \(missing) does not exist")
        let short = directory.file("short")
        _ = FileManager.default.createFile(atPath: short, contents: Data(repeating: 1, count: 31), attributes: [.posixPermissions: 0o600])
        let shortError = await Self.error { _ = try FileKeyEncryptionBackend.open(path: short) }
        #expect(shortError?.description == "KEK file \(short) must hold exactly 32 bytes")
    }

    @Test func wrappedDataKeysAreBoundToTheirContext() async throws {
        let kek = try memoryKEK()
        let context = WrapContext(purpose: .userKey, rowID: "a")
        let generated = try await kek.generateDataKey(context: context)
        let unwrapped = try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: kek.keyID, context: context)
        #expect(unwrapped.withUnsafeBytes { Array($0) } == generated.plaintext.withUnsafeBytes { Array($0) })
        let elsewhere = WrapContext(purpose: .userKey, rowID: "b")
        #expect(await Self.error { _ = try await kek.unwrap(wrappedDataKey: generated.wrapped, keyID: kek.keyID, context: elsewhere) }?.code == .secretDoesNotOpen)
        #expect(context.encryptionContext == ["nostr-signer:purpose": "user-key", "nostr-signer:row": "a"])
    }
}

struct KEKCanaryTests {
    @Test func firstStartCreatesTheFileAndLaterStartsAcceptIt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
        try await store.migrate()
        let first = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
        let second = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
        #expect(first.keyID == second.keyID)
        #expect(try await store.metadata(name: "kek_canary") != nil)
        try await store.close()
    }

    @Test func aDifferentKEKIsRefusedAtStartUp() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
        try await store.migrate()
        _ = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
        _ = try FileKeyEncryptionBackend.create(path: directory.file("other-kek"))
        let error = await FileKEKTests.error { _ = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("other-kek"), store: store) }
        #expect(error?.code == .kekMismatch)
        #expect(error?.description == "KEK does not match the stored keys")
        try await store.close()
    }

    @Test func aMissingKEKIsNotRecreatedWhileSealedKeysExist() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanUp() }
        let store = try await SQLiteCustodyStore.open(path: directory.file("signer.sqlite"))
        try await store.migrate()
        _ = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store)
        try FileManager.default.removeItem(atPath: directory.file("kek"))
        let error = await FileKEKTests.error { _ = try await FileKeyEncryptionBackend.openOrCreate(path: directory.file("kek"), store: store) }
        #expect(error?.code == .kekFileMissing)
        #expect(error?.description == "KEK file \(directory.file("kek")) is missing but the database holds sealed keys; restore the file (a new KEK would not open them)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("kek")))
        try await store.close()
    }
}
