import NATSProtocol
import NIOCore

/// Gathers what one side of a session sends and hands out the complete frames in it.
///
/// The proxy handlers decode in place with this instead of a `ByteToMessageHandler`, so a frame goes
/// straight to the session as a value, never through the pipeline as a boxed `NIOAny` with a dynamic
/// cast at the other end.
struct FrameReader<Parser: NATSFrameParsing> {
    private var parser: Parser
    /// Bytes received but not yet part of a complete frame; nil when there are none, so that no buffer
    /// is held between reads on an idle connection.
    private var unread: ByteBuffer?

    init(_ parser: Parser) {
        self.parser = parser
    }

    /// Whether bytes of an incomplete frame are waiting.
    var hasUnreadBytes: Bool { self.unread != nil }

    /// Adds `bytes` to what was received and calls `body` with each complete frame, in order, while it
    /// returns true. Bytes after the last complete frame (or after `body` said stop) are kept.
    mutating func read(
        _ bytes: ByteBuffer, _ body: (Frame<Parser.Operation>) -> Bool
    ) throws(NATSProtocolError) {
        var buffer: ByteBuffer
        if var unread = self.unread {
            // Taken out first, so the buffer is uniquely referenced and grows in place.
            self.unread = nil
            unread.discardReadBytes()
            unread.writeImmutableBuffer(bytes)
            buffer = unread
        } else {
            buffer = bytes
        }
        defer { self.unread = buffer.readableBytes > 0 ? buffer : nil }
        while let frame = try self.parser.next(&buffer) {
            guard body(frame) else { return }
        }
    }
}
