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
/// sharing it across tasks safe. Copies of a `SecureBytes` share the one buffer; it is wiped when the last copy goes
/// away. The bytes live in the same allocation as the reference count (a tail-allocated `ManagedBuffer`), so a key
/// costs one heap block, not two. Its `description` never shows the bytes. (`@unchecked Sendable`: `ManagedBuffer`
/// cannot be declared `Sendable`; the bytes are immutable after initialisation.)
public struct SecureBytes: @unchecked Sendable {
    @usableFromInline
    final class Storage: ManagedBuffer<Int, UInt8> {
        deinit {
            self.withUnsafeMutablePointers { count, bytes in
                SecureBytes.wipe(UnsafeMutableRawBufferPointer(start: bytes, count: count.pointee))
            }
        }
    }

    @usableFromInline
    let storage: Storage

    /// Allocates `count` bytes and lets `initialize` fill them. The buffer is wiped if `initialize` throws.
    public init(count: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(count > 0, "SecureBytes needs a positive size")
        let storage = unsafeDowncast(Storage.create(minimumCapacity: count) { _ in count }, to: Storage.self)
        try storage.withUnsafeMutablePointerToElements { bytes in
            let buffer = UnsafeMutableRawBufferPointer(start: bytes, count: count)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            // If this throws, `storage` is released here and its deinit wipes whatever was written.
            try initialize(buffer)
        }
        self.storage = storage
    }

    /// Copies `bytes` into a new buffer. The caller stays responsible for wiping its own copy.
    @inlinable
    public init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// The number of bytes held.
    @inlinable
    public var count: Int { self.storage.header }

    /// Gives `body` read access to the bytes. The pointer must not escape `body`.
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.storage.withUnsafeMutablePointers { count, bytes in
            try body(UnsafeRawBufferPointer(start: bytes, count: count.pointee))
        }
    }

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
