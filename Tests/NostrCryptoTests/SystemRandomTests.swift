import Testing

@testable import NostrCrypto

struct SystemRandomTests {
    @Test func bytesAreDrawnFreshAndFillTheWholeBuffer() {
        #expect(SystemRandom.bytes(count: 0) == [])
        let first = SystemRandom.bytes(count: 32)
        let second = SystemRandom.bytes(count: 32)
        #expect(first.count == 32 && first != second)
        // A large draw is filled to its end (a short read would leave zeros behind): in 1 MiB of random bytes every
        // 4 KiB block has a non-zero byte, and every byte value appears.
        let large = SystemRandom.bytes(count: 1 << 20)
        for block in stride(from: 0, to: large.count, by: 4096) {
            #expect(large[block..<(block + 4096)].contains { $0 != 0 })
        }
        #expect(Set(large).count == 256)
    }
}
