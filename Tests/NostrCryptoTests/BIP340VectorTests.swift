import Foundation
import NostrCrypto
import Testing

/// Every row of the official BIP-340 test vectors (`bip340.test-vectors.csv`).
@Suite(.enabled(if: SharedVectors.isAvailable("bip340.test-vectors.csv"), Comment(rawValue: SharedVectors.skipMessage)))
struct BIP340VectorTests {
    struct Row: CustomTestStringConvertible, Sendable {
        let index: Int
        let secretKey: String
        let publicKey: String
        let auxiliary: String
        let message: String
        let signature: String
        let valid: Bool
        let comment: String

        var testDescription: String { "vector \(self.index)" + (self.comment.isEmpty ? "" : " (\(self.comment))") }
    }

    static let rows: [Row] = {
        guard let data = try? SharedVectors.data("bip340.test-vectors.csv") else { return [] }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).dropFirst()
        return lines.map { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return Row(
                index: Int(fields[0])!,
                secretKey: fields[1],
                publicKey: fields[2],
                auxiliary: fields[3],
                message: fields[4],
                signature: fields[5],
                valid: fields[6] == "TRUE",
                comment: fields[7...].joined(separator: ",")
            )
        }
    }()

    @Test func fileHasAllFifteenRows() {
        #expect(Self.rows.map(\.index) == Array(0...14))
    }

    @Test(arguments: rows)
    func vector(_ row: Row) throws {
        if !row.secretKey.isEmpty {
            let key = try SecretKey(hex: row.secretKey)
            #expect(key.publicKey.hex == row.publicKey.lowercased())
            let signature = try Schnorr.sign(message: bytes(row.message), with: key, auxiliaryRandomness: bytes(row.auxiliary))
            #expect(Hex.encode(signature) == row.signature.lowercased())
        }
        let verified: Bool
        if let publicKey = try? PublicKey(hex: row.publicKey) {
            verified = Schnorr.verify(signature: bytes(row.signature), message: bytes(row.message), publicKey: publicKey)
        } else {
            // A public key that is not on the curve can verify nothing; the vectors mark such rows FALSE.
            verified = false
        }
        #expect(verified == row.valid)
    }

    @Test func invalidPublicKeyRowIsRejectedAtParse() {
        // Row 5: "public key not on the curve".
        let row = Self.rows[5]
        #expect(throws: NostrCryptoError.invalidPublicKey) { try PublicKey(hex: row.publicKey) }
    }
}
