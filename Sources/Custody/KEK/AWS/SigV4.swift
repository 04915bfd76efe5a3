import Crypto
import NostrCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS credentials: an access key id, its secret, and an optional session token (temporary credentials).
///
/// The secret and the token never appear in `description`, errors or logs.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    public let accessKeyID: String
    let secretAccessKey: SecureBytes
    let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = SecureBytes(copying: Array(secretAccessKey.utf8))
        self.sessionToken = sessionToken
    }

    /// The standard variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`.
    public static func fromEnvironment(_ environment: [String: String]) throws -> AWSCredentials {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty else {
            throw CustodyError(.invalidInput, "AWS_ACCESS_KEY_ID is not set (the aws-kms backend needs AWS credentials)")
        }
        guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw CustodyError(.invalidInput, "AWS_SECRET_ACCESS_KEY is not set (the aws-kms backend needs AWS credentials)")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }

    public var description: String {
        "AWSCredentials(\(self.accessKeyID), secret: <redacted>\(self.sessionToken == nil ? "" : ", session token: <redacted>"))"
    }
}

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for one service in one region.
///
/// Written from AWS's specification and checked against the signing key, canonical request hash and signatures that
/// AWS publishes in its documentation (see `SigV4Tests`).
public struct SigV4Signer: Sendable {
    public let service: String
    public let region: String
    public let credentials: AWSCredentials

    public init(service: String, region: String, credentials: AWSCredentials) {
        self.service = service
        self.region = region
        self.credentials = credentials
    }

    /// A request as far as signing cares: everything the signature covers.
    public struct Request: Sendable {
        public var method: String
        /// The absolute path, not yet encoded (`/`, `/photos/a b.jpg`).
        public var path: String
        /// Query parameters, not yet encoded.
        public var query: [(name: String, value: String)]
        /// Every header to sign, `host` included.
        public var headers: [(name: String, value: String)]
        /// Lowercase hex SHA-256 of the body.
        public var payloadHash: String

        public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }

        public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)], payload: some Sequence<UInt8>) {
            self.init(method: method, path: path, query: query, headers: headers, payloadHash: SigV4Signer.hexSHA256(Array(payload)))
        }
    }

    /// The headers to send with `request` at `time` (seconds since 1970, UTC): `x-amz-date`, `x-amz-security-token`
    /// when the credentials carry one, and `authorization`. They are added to the signed headers before signing.
    public func sign(_ request: Request, at time: Int) -> [(name: String, value: String)] {
        let stamp = AmzTimestamp(time)
        var request = request
        var added: [(name: String, value: String)] = [("x-amz-date", stamp.dateTime)]
        if let token = self.credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        request.headers += added
        let canonical = self.canonicalRequest(request)
        let signature = self.signature(canonicalRequest: canonical.text, stamp: stamp)
        added.append((
            "authorization",
            "AWS4-HMAC-SHA256 Credential=\(self.credentials.accessKeyID)/\(self.scope(stamp)), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        ))
        return added
    }

    // MARK: The steps, internal so the tests can check each against AWS's published intermediate values.

    func scope(_ stamp: AmzTimestamp) -> String {
        "\(stamp.date)/\(self.region)/\(self.service)/aws4_request"
    }

    func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        var grouped: [String: [String]] = [:]
        for (name, value) in request.headers {
            grouped[name.lowercased(), default: []].append(Self.normalizeHeaderValue(value))
        }
        let names = grouped.keys.sorted()
        let headerLines = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let encoded: [(name: String, value: String)] = request.query.map {
            (Self.uriEncode($0.name, keepSlash: false), Self.uriEncode($0.value, keepSlash: false))
        }
        let sorted = encoded.sorted { left, right in left.name == right.name ? left.value < right.value : left.name < right.name }
        let query = sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let text = [request.method, self.canonicalPath(request.path), query, headerLines, signedHeaders, request.payloadHash]
            .joined(separator: "\n")
        return (text, signedHeaders)
    }

    func stringToSign(canonicalRequest: String, stamp: AmzTimestamp) -> String {
        ["AWS4-HMAC-SHA256", stamp.dateTime, self.scope(stamp), Self.hexSHA256(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    func signingKey(date: String) -> SymmetricKey {
        let dateKey = self.credentials.secretAccessKey.withUnsafeBytes { secret in
            var keyBytes = Array("AWS4".utf8) + Array(secret)
            defer { SecureBytes.wipe(&keyBytes) }
            return Self.hmac(key: SymmetricKey(data: keyBytes), Array(date.utf8))
        }
        var key = dateKey
        for part in [self.region, self.service, "aws4_request"] {
            key = Self.hmac(key: key, Array(part.utf8))
        }
        return key
    }

    func signature(canonicalRequest: String, stamp: AmzTimestamp) -> String {
        let toSign = self.stringToSign(canonicalRequest: canonicalRequest, stamp: stamp)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: self.signingKey(date: stamp.date))
        return Hex.encode(Array(mac))
    }

    /// S3 signs the path as sent; every other service signs it URI-encoded a second time.
    private func canonicalPath(_ path: String) -> String {
        let once = Self.uriEncode(path.isEmpty ? "/" : path, keepSlash: true)
        return self.service == "s3" ? once : Self.uriEncode(once, keepSlash: true)
    }

    private static func hmac(key: SymmetricKey, _ message: [UInt8]) -> SymmetricKey {
        SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: message, using: key)))
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        Hex.encode(Array(SHA256.hash(data: bytes)))
    }

    /// Trims the value and collapses runs of spaces to one, as the canonical form requires.
    private static func normalizeHeaderValue(_ value: String) -> String {
        var result = ""
        var previousWasSpace = false
        for character in value.trimmingSpaces() {
            if character == " " {
                if !previousWasSpace { result.append(" ") }
                previousWasSpace = true
            } else {
                result.append(character)
                previousWasSpace = false
            }
        }
        return result
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths), uppercase hex.
    static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                result.append("/")
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result.append("%")
                result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return result
    }
}

/// The two time formats SigV4 uses: `20150830` and `20150830T123600Z`, always UTC.
struct AmzTimestamp {
    let date: String
    let dateTime: String

    init(_ secondsSince1970: Int) {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        self.date = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2)
        self.dateTime = self.date + "T" + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> Substring {
        let characters = Substring(self)
        guard let first = characters.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = characters.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return characters[first...last]
    }
}
