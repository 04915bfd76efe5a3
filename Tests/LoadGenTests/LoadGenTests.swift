import Foundation
import Nip46
import NostrCrypto
import Testing

@testable import LoadGen

/// The load generator's own logic: a reply that is wrong in any way must not count as throughput, and the schedule
/// and grant split must be what the report says they are.
struct ReplyCheckTests {
    let user = SecretKey.generate()

    func signedEventBody(content: String, by key: SecretKey) throws -> [UInt8] {
        let event = try UnsignedEvent(createdAt: 1_700_000_000, kind: 1, content: content).signed(with: key)
        return Array(#"{"result":\#(event.jsonString())}"#.utf8)
    }

    @Test func aSignedEventPassesOnlyIfValidByTheUserAndWithTheNoteSent() throws {
        let body = try self.signedEventBody(content: "loadgen 0-1", by: self.user)
        #expect(ReplyCheck.httpSignedEvent(body: body, user: self.user.publicKey, content: "loadgen 0-1").failure() == nil)
        // Another note, another signer, a broken signature, an error answer: each counts as an error.
        #expect(ReplyCheck.httpSignedEvent(body: body, user: self.user.publicKey, content: "loadgen 0-2").failure() == "invalid_reply")
        let other = try self.signedEventBody(content: "loadgen 0-1", by: SecretKey.generate())
        #expect(ReplyCheck.httpSignedEvent(body: other, user: self.user.publicKey, content: "loadgen 0-1").failure() == "invalid_reply")
        var text = String(decoding: body, as: UTF8.self)
        let signature = text.range(of: #""sig":""#)!.upperBound
        text.replaceSubrange(signature..<text.index(signature, offsetBy: 1), with: text[signature] == "0" ? "1" : "0")
        #expect(ReplyCheck.httpSignedEvent(body: Array(text.utf8), user: self.user.publicKey, content: "loadgen 0-1").failure() == "invalid_reply")
        #expect(ReplyCheck.httpSignedEvent(body: Array(#"{"error":"no","code":"busy"}"#.utf8), user: self.user.publicKey, content: "x").failure() == "invalid_reply")
    }

    @Test func aPublicKeyAndANip44PayloadAreCheckedByValue() throws {
        #expect(ReplyCheck.httpPublicKey(body: Array(#"{"result":"\#(self.user.publicKey.hex)"}"#.utf8), user: self.user.publicKey).failure() == nil)
        #expect(ReplyCheck.httpPublicKey(body: Array(#"{"result":"\#(SecretKey.generate().publicKey.hex)"}"#.utf8), user: self.user.publicKey).failure() == "invalid_reply")
        let peer = SecretKey.generate()
        let sealed = try NIP44.encrypt("loadgen 3-4", conversationKey: NIP44ConversationKey(secretKey: self.user, publicKey: peer.publicKey))
        let opener = try NIP44ConversationKey(secretKey: peer, publicKey: self.user.publicKey)
        let body = Array(#"{"result":"\#(sealed)"}"#.utf8)
        #expect(ReplyCheck.httpNip44(body: body, conversationKey: opener, plaintext: "loadgen 3-4").failure() == nil)
        #expect(ReplyCheck.httpNip44(body: body, conversationKey: opener, plaintext: "loadgen 3-5").failure() == "invalid_reply")
    }

    @Test func aNip46ReplyMustAnswerThisRequestFromThisBunker() throws {
        let app = SecretKey.generate()
        let bunker = SecretKey.generate()
        let key = try NIP44ConversationKey(secretKey: app, publicKey: bunker.publicKey)
        let note = try UnsignedEvent(createdAt: 1_700_000_000, kind: 1, content: "loadgen nip46 1-2").signed(with: self.user)
        func reply(_ response: Nip46Response, from signer: SecretKey = bunker) throws -> Event {
            let content = try NIP44.encrypt(response.encoded(), conversationKey: NIP44ConversationKey(secretKey: signer, publicKey: app.publicKey))
            return try UnsignedEvent(createdAt: 1_700_000_000, kind: nip46EventKind, tags: [["p", app.publicKey.hex]], content: content).signed(with: signer)
        }
        func check(_ event: Event) -> String? {
            ReplyCheck.nip46SignedEvent(
                reply: event, bunker: bunker.publicKey, conversationKey: key, requestID: "1-2", user: self.user.publicKey, content: "loadgen nip46 1-2"
            ).failure()
        }
        #expect(check(try reply(.result(note.jsonString(), id: "1-2"))) == nil)
        #expect(check(try reply(.result(note.jsonString(), id: "1-1"))) == "mismatched_reply")
        #expect(check(try reply(.failure(Nip46Error(.busy, "queue full"), id: "1-2"))) == "nip46_error: busy")
        #expect(check(try reply(.result(note.jsonString(), id: "1-2"), from: SecretKey.generate())) == "invalid_reply")
    }
}

struct ScheduleTests {
    @Test func theOpenLoopDueTimesAreEvenlySpacedFromTheStartAndStopAtTheEnd() {
        let start = ContinuousClock.now + .seconds(60)
        let tickets = Tickets(schedule: Schedule(rate: 4, warmup: .seconds(1), duration: .seconds(1), start: start))
        var due: [ContinuousClock.Instant] = []
        while let next = tickets.take() { due.append(next) }
        #expect(due == (0..<8).map { start + .milliseconds(250 * $0) })
    }

    @Test func warmLanesCycleThroughTheirOwnGrantsAndColdLanesUseEachOnce() throws {
        let grants = (0..<5).map { index in
            Grant(authorizationID: "\(index)", user: SecretKey.generate().publicKey, accessToken: "t\(index)", bunker: nil, client: nil)
        }
        let warm = GrantPicker(grants: grants, mode: .warm)
        #expect((0..<4).map { warm.grant(lane: 0, lanes: 2, sequence: $0)!.authorizationID } == ["0", "2", "4", "0"])
        #expect((0..<3).map { warm.grant(lane: 1, lanes: 2, sequence: $0)!.authorizationID } == ["1", "3", "1"])
        let cold = GrantPicker(grants: grants, mode: .cold)
        #expect((0..<4).map { cold.grant(lane: 0, lanes: 2, sequence: $0)?.authorizationID } == ["0", "2", "4", nil])
        #expect((0..<3).map { cold.grant(lane: 1, lanes: 2, sequence: $0)?.authorizationID } == ["1", "3", nil])
    }
}
