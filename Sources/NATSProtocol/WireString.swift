public import NIOCore

/// A field of a control line (a subject, a reply subject, a sid) as the bytes it arrived in.
///
/// Messages carry these on every frame, so the parsers hand them out as slices of the received
/// buffer instead of `String`s: a `String` of more than 15 bytes is a heap allocation, and most real
/// subjects are longer than that. Make text of one with `string` only where text is needed (an error
/// message, a key kept after the frame is gone): a slice keeps the whole buffer it came from alive.
public struct WireString: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The bytes, and nothing else readable.
    public let bytes: ByteBuffer

    public init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    public init(_ string: String) {
        self.bytes = ByteBuffer(string: string)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The bytes as text (invalid UTF-8 repaired, as `String(decoding:as:)` does).
    public var string: String { String(buffer: self.bytes) }

    public var description: String { self.string }

    public var count: Int { self.bytes.readableBytes }

    /// Runs `body` over the bytes in place.
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try self.bytes.withUnsafeReadableBytes { try body($0.assumingMemoryBound(to: UInt8.self)) }
    }
}
