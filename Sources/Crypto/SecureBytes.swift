#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size heap buffer for secret material that is overwritten with zeros before its memory is freed.
///
/// The buffer is written only while it is being initialised and is read-only afterwards, which is what makes
/// sharing it across tasks safe. Copies of a value holding a `SecureBytes` share the one buffer; it is wiped when
/// the last reference goes away. Its `description` never shows the bytes.
public final class SecureBytes: @unchecked Sendable {
    private let buffer: UnsafeMutableRawBufferPointer

    /// Allocates `count` bytes and lets `initialize` fill them. The buffer is wiped if `initialize` throws.
    public init(count: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(count > 0, "SecureBytes needs a positive size")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try initialize(buffer)
        } catch {
            // `self.buffer` is not assigned yet, so `deinit` will not run and free it a second time.
            Self.wipe(buffer)
            buffer.deallocate()
            throw error
        }
        self.buffer = buffer
    }

    /// Copies `bytes` into a new buffer. The caller stays responsible for wiping its own copy.
    @inlinable
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    deinit {
        Self.wipe(self.buffer)
        self.buffer.deallocate()
    }

    /// The number of bytes held.
    public var count: Int { self.buffer.count }

    /// Gives `body` read access to the bytes. The pointer must not escape `body`.
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(self.unsafeBuffer))
    }

    @usableFromInline
    var unsafeBuffer: UnsafeMutableRawBufferPointer { self.buffer }

    /// Overwrites memory with zeros in a way the optimiser may not remove.
    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        #if canImport(Darwin)
        _ = memset_s(base, buffer.count, 0, buffer.count)
        #else
        explicit_bzero(base, buffer.count)
        #endif
    }

    /// Wipes a temporary array that held secret bytes.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }
}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecureBytes(\(self.count) bytes, redacted)" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
