import CSecp256k1
#if os(Linux)
import CGetRandom
import Glibc
#endif

/// The one libsecp256k1 context this process uses.
///
/// libsecp256k1 allows concurrent use of a context by signing and verification calls; only
/// `secp256k1_context_randomize` must not race with them, and it runs once, here, before the context is shared.
/// Randomising with 32 bytes from the system CSPRNG blinds the signing operations against side channels.
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()

    let pointer: OpaquePointer

    private init() {
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            fatalError("secp256k1_context_create failed")
        }
        var seed = SystemRandom.bytes(count: 32)
        defer { SecureBytes.wipe(&seed) }
        guard secp256k1_context_randomize(context, seed) == 1 else {
            fatalError("secp256k1_context_randomize failed")
        }
        self.pointer = context
    }
}

/// Random bytes from the operating system's CSPRNG (`getrandom` on Linux).
public enum SystemRandom {
    public static func bytes(count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        output.withUnsafeMutableBytes { self.fill($0) }
        return output
    }

    /// Fills `buffer` with one `getrandom` call where the kernel allows (the standard library's generator makes one
    /// call per 8 bytes: four for each signature's auxiliary randomness).
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        var filled = 0
        while filled < buffer.count {
            let result = getrandom(buffer.baseAddress! + filled, buffer.count - filled, 0)
            if result < 0 {
                guard errno == EINTR else { fatalError("getrandom failed: errno \(errno)") }
                continue
            }
            filled += result
        }
        #else
        var generator = SystemRandomNumberGenerator()
        for index in buffer.indices { buffer[index] = generator.next() }
        #endif
    }
}
