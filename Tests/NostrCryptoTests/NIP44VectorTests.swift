import Crypto
import Foundation
import NostrCrypto
import Testing

/// Every case of the official NIP-44 v2 vectors (`nip44.vectors.json`).
@Suite(.enabled(if: SharedVectors.isAvailable("nip44.vectors.json"), Comment(rawValue: SharedVectors.skipMessage)))
struct NIP44VectorTests {
    struct File: Decodable { let v2: V2 }
    struct V2: Decodable { let valid: Valid; let invalid: Invalid }
    struct Valid: Decodable {
        let get_conversation_key: [ConversationKeyCase]
        let get_message_keys: MessageKeys
        let calc_padded_len: [[Int]]
        let encrypt_decrypt: [EncryptDecrypt]
        let encrypt_decrypt_long_msg: [LongMessage]
    }
    struct Invalid: Decodable {
        let encrypt_msg_lengths: [Int]
        let get_conversation_key: [InvalidConversationKey]
        let decrypt: [InvalidDecrypt]
    }
    struct ConversationKeyCase: Decodable, Sendable { let sec1: String; let pub2: String; let conversation_key: String }
    struct MessageKeys: Decodable { let conversation_key: String; let keys: [MessageKeyCase] }
    struct MessageKeyCase: Decodable, Sendable { let nonce: String; let chacha_key: String; let chacha_nonce: String; let hmac_key: String }
    struct EncryptDecrypt: Decodable, Sendable {
        let sec1: String; let sec2: String; let conversation_key: String; let nonce: String; let plaintext: String; let payload: String
    }
    struct LongMessage: Decodable, Sendable {
        let conversation_key: String; let nonce: String; let pattern: String; let `repeat`: Int
        let plaintext_sha256: String; let payload_sha256: String
    }
    struct InvalidConversationKey: Decodable, Sendable { let sec1: String; let pub2: String; let note: String }
    struct InvalidDecrypt: Decodable, Sendable {
        let conversation_key: String; let nonce: String; let plaintext: String; let payload: String; let note: String
    }

    static let vectors: V2? = {
        guard let data = try? SharedVectors.data("nip44.vectors.json") else { return nil }
        return try? JSONDecoder().decode(File.self, from: data).v2
    }()
    static var valid: Valid { vectors!.valid }
    static var invalid: Invalid { vectors!.invalid }

    @Test func fileHasEveryGroup() {
        #expect(Self.vectors != nil)
        #expect(Self.valid.get_conversation_key.count == 35)
        #expect(Self.valid.get_message_keys.keys.count == 32)
        #expect(Self.valid.calc_padded_len.count == 24)
        #expect(Self.valid.encrypt_decrypt.count == 10)
        #expect(Self.valid.encrypt_decrypt_long_msg.count == 3)
        #expect(Self.invalid.encrypt_msg_lengths.count == 4)
        #expect(Self.invalid.get_conversation_key.count == 8)
        #expect(Self.invalid.decrypt.count == 12)
    }

    @Test func conversationKeys() throws {
        for vector in Self.valid.get_conversation_key {
            let key = try NIP44ConversationKey(secretKey: SecretKey(hex: vector.sec1), publicKey: PublicKey(hex: vector.pub2))
            #expect(key.withUnsafeBytes { Hex.encode($0) } == vector.conversation_key, "sec1 \(vector.sec1.prefix(8))…")
        }
    }

    @Test func messageKeys() throws {
        let conversationKey = try NIP44ConversationKey(bytes: bytes(Self.valid.get_message_keys.conversation_key))
        for vector in Self.valid.get_message_keys.keys {
            let keys = try NIP44.messageKeys(conversationKey: conversationKey, nonce: bytes(vector.nonce))
            #expect(Hex.encode(keys.chachaKey) == vector.chacha_key)
            #expect(Hex.encode(keys.chachaNonce) == vector.chacha_nonce)
            #expect(Hex.encode(keys.hmacKey) == vector.hmac_key)
        }
    }

    @Test func paddedLengths() {
        for pair in Self.valid.calc_padded_len {
            #expect(NIP44.paddedLength(pair[0]) == pair[1], "calc_padded_len(\(pair[0]))")
        }
    }

    @Test func encryptDecryptBothDirections() throws {
        for vector in Self.valid.encrypt_decrypt {
            let key1 = try SecretKey(hex: vector.sec1)
            let key2 = try SecretKey(hex: vector.sec2)
            let forward = try NIP44ConversationKey(secretKey: key1, publicKey: key2.publicKey)
            let backward = try NIP44ConversationKey(secretKey: key2, publicKey: key1.publicKey)
            #expect(forward.withUnsafeBytes { Hex.encode($0) } == vector.conversation_key)
            #expect(backward.withUnsafeBytes { Hex.encode($0) } == vector.conversation_key)

            let payload = try NIP44.encrypt(vector.plaintext, conversationKey: forward, nonce: bytes(vector.nonce))
            #expect(payload == vector.payload)
            #expect(try NIP44.decrypt(vector.payload, conversationKey: backward) == vector.plaintext)
            #expect(try NIP44.decrypt(vector.payload, conversationKey: forward) == vector.plaintext)
            // A fresh random nonce still round-trips the other way.
            let reply = try NIP44.encrypt(vector.plaintext, conversationKey: backward)
            #expect(try NIP44.decrypt(reply, conversationKey: forward) == vector.plaintext)
        }
    }

    @Test func longMessagesBySHA256() throws {
        for vector in Self.valid.encrypt_decrypt_long_msg {
            let plaintext = String(repeating: vector.pattern, count: vector.repeat)
            #expect(Hex.encode(SHA256.hash(data: Array(plaintext.utf8))) == vector.plaintext_sha256)
            let conversationKey = try NIP44ConversationKey(bytes: bytes(vector.conversation_key))
            let payload = try NIP44.encrypt(plaintext, conversationKey: conversationKey, nonce: bytes(vector.nonce))
            #expect(Hex.encode(SHA256.hash(data: Array(payload.utf8))) == vector.payload_sha256)
            #expect(try NIP44.decrypt(payload, conversationKey: conversationKey) == plaintext)
        }
    }

    @Test func invalidMessageLengthsAreRejected() throws {
        let conversationKey = try NIP44ConversationKey(bytes: [UInt8](repeating: 1, count: 32))
        for length in Self.invalid.encrypt_msg_lengths {
            #expect(throws: NostrCryptoError.plaintextLength, "length \(length)") {
                try NIP44.encrypt(String(repeating: "a", count: length), conversationKey: conversationKey)
            }
        }
        // The boundaries of the accepted range.
        #expect(try NIP44.encrypt("a", conversationKey: conversationKey).utf8.count == NIP44.minimumPayloadCharacters)
        #expect(
            try NIP44.encrypt(String(repeating: "a", count: 65_535), conversationKey: conversationKey).utf8.count
                == NIP44.maximumPayloadCharacters
        )
    }

    @Test func invalidConversationKeys() {
        for vector in Self.invalid.get_conversation_key {
            #expect(throws: NostrCryptoError.self, "\(vector.note)") {
                try NIP44ConversationKey(secretKey: SecretKey(hex: vector.sec1), publicKey: PublicKey(hex: vector.pub2))
            }
        }
        // Each note names which side is bad; check the exact error for each kind.
        for vector in Self.invalid.get_conversation_key {
            if vector.note.hasPrefix("sec1") {
                #expect(throws: NostrCryptoError.invalidSecretKey, "\(vector.note)") { try SecretKey(hex: vector.sec1) }
            } else {
                #expect(throws: NostrCryptoError.invalidPublicKey, "\(vector.note)") { try PublicKey(hex: vector.pub2) }
            }
        }
    }

    @Test func invalidPayloadsGiveTheNamedError() throws {
        let expected: [String: NostrCryptoError] = [
            "unknown encryption version": .unsupportedVersion,
            "unknown encryption version 0": .unsupportedVersion,
            "invalid base64": .invalidBase64,
            "invalid MAC": .invalidMAC,
            "invalid padding": .invalidPadding,
            "invalid payload length: 0": .invalidPayloadLength,
            "invalid payload length: 4": .invalidPayloadLength,
            "invalid payload length: 48": .invalidPayloadLength,
            "invalid payload length: 92": .invalidPayloadLength,
        ]
        for vector in Self.invalid.decrypt {
            let error = try #require(expected[vector.note], "unmapped note \(vector.note)")
            let conversationKey = try NIP44ConversationKey(bytes: bytes(vector.conversation_key))
            #expect(throws: error, "\(vector.note)") { try NIP44.decrypt(vector.payload, conversationKey: conversationKey) }
        }
    }
}
