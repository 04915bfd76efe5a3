import Crypto
import NostrCrypto
import Testing

@testable import Custody

/// SigV4 against the values AWS publishes: the signing-key derivation example, the IAM ListUsers walk-through
/// (canonical request hash, signing key, signature), the S3 GET Object example, and cases from AWS's SigV4 test suite.
/// The KMS mock does not check signatures, so these are what keep the signer honest.
struct SigV4Tests {
    static let suiteCredentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let august30 = 1_440_938_160  // 2015-08-30T12:36:00Z
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func hex(_ key: SymmetricKey) -> String {
        key.withUnsafeBytes { Hex.encode(Array($0)) }
    }

    @Test func theDocumentedSigningKeyDerivation() {
        let signer = SigV4Signer(service: "iam", region: "us-east-1", credentials: Self.suiteCredentials)
        #expect(Self.hex(signer.signingKey(date: "20120215")) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func theIAMListUsersWalkThrough() {
        let signer = SigV4Signer(service: "iam", region: "us-east-1", credentials: Self.suiteCredentials)
        var request = SigV4Signer.Request(
            method: "GET", path: "/", query: [("Action", "ListUsers"), ("Version", "2010-05-08")],
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com")],
            payload: []
        )
        #expect(request.payloadHash == Self.emptyHash)
        let added = signer.sign(request, at: Self.august30)
        #expect(added.map(\.name) == ["x-amz-date", "authorization"])
        #expect(added[0].value == "20150830T123600Z")
        #expect(
            added[1].value
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        )

        // The intermediate values AWS lists for the same request.
        request.headers.append(("X-Amz-Date", "20150830T123600Z"))
        let canonical = signer.canonicalRequest(request)
        #expect(
            canonical.text
                == "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\(Self.emptyHash)"
        )
        #expect(SigV4Signer.hexSHA256(Array(canonical.text.utf8)) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        #expect(Self.hex(signer.signingKey(date: "20150830")) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func theS3GetObjectExample() {
        let credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let signer = SigV4Signer(service: "s3", region: "us-east-1", credentials: credentials)
        var request = SigV4Signer.Request(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", Self.emptyHash)],
            payloadHash: Self.emptyHash
        )
        let added = signer.sign(request, at: 1_369_353_600)  // 2013-05-24T00:00:00Z
        #expect(
            added.last?.value
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
        request.headers.append(("x-amz-date", "20130524T000000Z"))
        #expect(
            SigV4Signer.hexSHA256(Array(signer.canonicalRequest(request).text.utf8))
                == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        )
    }

    /// Cases from AWS's SigV4 test suite (service "service", host example.amazonaws.com, 2015-08-30T12:36:00Z).
    @Test(arguments: [
        ("GET", [(String, String)](), "", [(String, String)](), "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", [], "", [], "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("GET", [("Param2", "value2"), ("Param1", "value1")], "", [], "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        (
            "POST", [], "Param1=value1", [("Content-Type", "application/x-www-form-urlencoded")], "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        ),
    ])
    func theSigV4TestSuite(method: String, query: [(String, String)], body: String, headers: [(String, String)], signedHeaders: String, signature: String) {
        let signer = SigV4Signer(service: "service", region: "us-east-1", credentials: Self.suiteCredentials)
        let request = SigV4Signer.Request(
            method: method, path: "/", query: query.map { (name: $0.0, value: $0.1) },
            headers: [("Host", "example.amazonaws.com")] + headers.map { (name: $0.0, value: $0.1) }, payload: Array(body.utf8)
        )
        #expect(
            signer.sign(request, at: Self.august30).last?.value
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
        )
    }

    @Test func queryEncodingAndOrderFollowTheSuite() {
        let signer = SigV4Signer(service: "service", region: "us-east-1", credentials: Self.suiteCredentials)
        let request = SigV4Signer.Request(
            method: "GET", path: "/", query: [("Param-3", "Value3"), ("Param", "Value2"), ("\u{1234}", "Value1")],
            headers: [("Host", "example.amazonaws.com")], payloadHash: Self.emptyHash
        )
        let lines = signer.canonicalRequest(request).text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[2] == "%E1%88%B4=Value1&Param=Value2&Param-3=Value3")
    }

    @Test func pathsAreEncodedTwiceExceptForS3() {
        let request = SigV4Signer.Request(method: "GET", path: "/a b/c", headers: [("Host", "h")], payloadHash: Self.emptyHash)
        let kms = SigV4Signer(service: "kms", region: "us-east-1", credentials: Self.suiteCredentials)
        let s3 = SigV4Signer(service: "s3", region: "us-east-1", credentials: Self.suiteCredentials)
        #expect(kms.canonicalRequest(request).text.split(separator: "\n")[1] == "/a%2520b/c")
        #expect(s3.canonicalRequest(request).text.split(separator: "\n")[1] == "/a%20b/c")
    }

    @Test func headerValuesAreTrimmedAndRepeatedNamesJoined() {
        let signer = SigV4Signer(service: "service", region: "us-east-1", credentials: Self.suiteCredentials)
        let request = SigV4Signer.Request(
            method: "GET", path: "/", headers: [("Host", "example.amazonaws.com"), ("My-Header1", "  value1   with  spaces "), ("my-header1", "value2")],
            payloadHash: Self.emptyHash
        )
        let text = signer.canonicalRequest(request).text
        #expect(text.contains("\nmy-header1:value1 with spaces,value2\n"))
    }

    @Test func aSessionTokenIsSentAndSigned() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token-value")
        let signer = SigV4Signer(service: "kms", region: "eu-west-1", credentials: credentials)
        let added = signer.sign(SigV4Signer.Request(method: "POST", path: "/", headers: [("Host", "kms.eu-west-1.amazonaws.com")], payload: []), at: Self.august30)
        #expect(added.map(\.name) == ["x-amz-date", "x-amz-security-token", "authorization"])
        #expect(added[1].value == "token-value")
        #expect(added[2].value.contains("SignedHeaders=host;x-amz-date;x-amz-security-token, "))
    }

    @Test func credentialsNeverPrintTheirSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI", sessionToken: "session-secret")
        let printed = "\(credentials) \(String(reflecting: credentials))"
        #expect(!printed.contains("wJalrXUtnFEMI"))
        #expect(!printed.contains("session-secret"))
        #expect(credentials.description == "AWSCredentials(AKIDEXAMPLE, secret: <redacted>, session token: <redacted>)")
    }

    @Test func missingCredentialsAreOneClearError() {
        #expect(throws: CustodyError(.invalidInput, "AWS_ACCESS_KEY_ID is not set (the aws-kms backend needs AWS credentials)")) {
            try AWSCredentials.fromEnvironment([:])
        }
        #expect(throws: CustodyError(.invalidInput, "AWS_SECRET_ACCESS_KEY is not set (the aws-kms backend needs AWS credentials)")) {
            try AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "a"])
        }
    }
}
