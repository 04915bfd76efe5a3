import Foundation
import NostrCrypto

/// A KEK held in AWS KMS: data keys come from `GenerateDataKey`, are re-wrapped with `Encrypt` (rotation) and
/// unwrapped with `Decrypt`, always with the EncryptionContext of their row, so KMS itself refuses a wrapped data key
/// moved to another row. The KEK never leaves KMS.
public struct AWSKMSBackend: KeyEncryptionBackend {
    public let kind = KEKBackendKind.awsKMS
    public let keyID: String
    public let client: AWSKMSClient

    public init(client: AWSKMSClient) {
        self.client = client
        self.keyID = client.configuration.keyID
    }

    static let dataKeyByteCount = 32

    public func generateDataKey(context: WrapContext) async throws -> GeneratedDataKey {
        let response = try await self.client.send(
            "GenerateDataKey",
            GenerateDataKeyRequest(keyId: self.keyID, keySpec: "AES_256", encryptionContext: context.encryptionContext),
            as: GenerateDataKeyResponse.self
        )
        var plaintext = response.plaintext
        defer { plaintext.resetBytes(in: 0..<plaintext.count) }
        guard plaintext.count == Self.dataKeyByteCount, !response.ciphertextBlob.isEmpty else {
            throw CustodyError(.kekUnavailable, "AWS KMS GenerateDataKey returned a data key of the wrong size")
        }
        return GeneratedDataKey(plaintext: SecureBytes(copying: Array(plaintext)), wrapped: Array(response.ciphertextBlob))
    }

    public func wrap(dataKey: SecureBytes, context: WrapContext) async throws -> [UInt8] {
        let plaintext = dataKey.withUnsafeBytes { Data($0) }
        let response = try await self.client.send(
            "Encrypt",
            EncryptRequest(keyId: self.keyID, plaintext: plaintext, encryptionContext: context.encryptionContext),
            as: CiphertextResponse.self
        )
        return Array(response.ciphertextBlob)
    }

    public func unwrap(wrappedDataKey: [UInt8], keyID: String, context: WrapContext) async throws -> SecureBytes {
        guard keyID == self.keyID else {
            throw CustodyError(.unknownKEK, "data key was wrapped by AWS KMS key \(keyID), not the configured \(self.keyID)")
        }
        let response = try await self.client.send(
            "Decrypt",
            DecryptRequest(keyId: self.keyID, ciphertextBlob: Data(wrappedDataKey), encryptionContext: context.encryptionContext),
            as: PlaintextResponse.self
        )
        var plaintext = response.plaintext
        defer { plaintext.resetBytes(in: 0..<plaintext.count) }
        guard plaintext.count == Self.dataKeyByteCount else {
            throw CustodyError(.secretDoesNotOpen, "data key does not open under AWS KMS key \(self.keyID)")
        }
        return SecureBytes(copying: Array(plaintext))
    }

    /// The key exists, is enabled, and is a symmetric encryption key.
    public func checkHealth() async throws {
        let response = try await self.client.send("DescribeKey", DescribeKeyRequest(keyId: self.keyID), as: DescribeKeyResponse.self)
        let metadata = response.keyMetadata
        guard metadata.keyState == "Enabled" else {
            throw CustodyError(.kekUnavailable, "AWS KMS key \(self.keyID) is \(metadata.keyState ?? "not enabled")")
        }
        if let usage = metadata.keyUsage, usage != "ENCRYPT_DECRYPT" {
            throw CustodyError(.kekUnavailable, "AWS KMS key \(self.keyID) has usage \(usage); a KEK needs ENCRYPT_DECRYPT")
        }
    }
}

// The KMS JSON shapes. Members are PascalCase on the wire (`KeyId`); blobs are base64, which `Data` coding does.
// Spelled out per type: a key-coding strategy would also rewrite the EncryptionContext's own keys.

struct GenerateDataKeyRequest: Encodable, Sendable {
    let keyId: String
    let keySpec: String
    let encryptionContext: [String: String]
    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId", keySpec = "KeySpec", encryptionContext = "EncryptionContext"
    }
}

struct GenerateDataKeyResponse: Decodable, Sendable {
    let ciphertextBlob: Data
    let plaintext: Data
    enum CodingKeys: String, CodingKey {
        case ciphertextBlob = "CiphertextBlob", plaintext = "Plaintext"
    }
}

struct EncryptRequest: Encodable, Sendable {
    let keyId: String
    let plaintext: Data
    let encryptionContext: [String: String]
    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId", plaintext = "Plaintext", encryptionContext = "EncryptionContext"
    }
}

struct CiphertextResponse: Decodable, Sendable {
    let ciphertextBlob: Data
    enum CodingKeys: String, CodingKey {
        case ciphertextBlob = "CiphertextBlob"
    }
}

struct DecryptRequest: Encodable, Sendable {
    let keyId: String
    let ciphertextBlob: Data
    let encryptionContext: [String: String]
    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId", ciphertextBlob = "CiphertextBlob", encryptionContext = "EncryptionContext"
    }
}

struct PlaintextResponse: Decodable, Sendable {
    let plaintext: Data
    enum CodingKeys: String, CodingKey {
        case plaintext = "Plaintext"
    }
}

struct DescribeKeyRequest: Encodable, Sendable {
    let keyId: String
    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId"
    }
}

struct DescribeKeyResponse: Decodable, Sendable {
    struct Metadata: Decodable, Sendable {
        let keyId: String
        let keyState: String?
        let keyUsage: String?
        enum CodingKeys: String, CodingKey {
            case keyId = "KeyId", keyState = "KeyState", keyUsage = "KeyUsage"
        }
    }
    let keyMetadata: Metadata
    enum CodingKeys: String, CodingKey {
        case keyMetadata = "KeyMetadata"
    }
}
