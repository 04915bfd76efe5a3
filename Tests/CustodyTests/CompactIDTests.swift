import Custody
import Testing

struct CompactIDTests {
    @Test("a lowercase UUID and any other text read back exactly as stored")
    func readsBackAsStored() {
        for text in ["3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b", "3F2B8C1E-9A4D-4E6F-8B7A-0C1D2E3F4A5B", "key", "", "émoji 🔑"] {
            #expect(CompactID(text).description == text)
        }
    }

    @Test("ids are equal only when their text is")
    func equalityFollowsText() {
        #expect(CompactID("3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b") == CompactID("3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"))
        #expect(CompactID("3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b") != CompactID("3F2B8C1E-9A4D-4E6F-8B7A-0C1D2E3F4A5B"))
        #expect(CompactID("a") != CompactID("b"))
    }

    @Test("a UUID is held inline")
    func uuidIsInline() {
        #expect(MemoryLayout<CompactID>.size == 17)
    }
}
