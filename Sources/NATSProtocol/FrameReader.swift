public import NIOCore

/// Gathers what one side of a session sends and hands out the complete frames in it, one `next()` at
/// a time.
///
/// The proxy decodes in place with this instead of a `ByteToMessageHandler`, so a frame goes straight
/// to the state machine as a value, never through the pipeline as a boxed `NIOAny` with a dynamic cast
/// at the other end. Inlinable: it runs for every frame, and specialized for its parser in the
/// caller's module it costs no generic dispatch.
public struct FrameReader<Parser: NATSFrameParsing> {
    @usableFromInline var parser: Parser
    /// Bytes received but not yet handed out as frames; nil when there are none, so that no buffer is
    /// held between reads on an idle connection.
    @usableFromInline var unread: ByteBuffer?

    @inlinable
    public init(_ parser: Parser) {
        self.parser = parser
    }

    /// Whether bytes are waiting that `next()` has not handed out (an incomplete frame, or frames
    /// not asked for yet).
    @inlinable
    public var hasUnreadBytes: Bool { self.unread != nil }

    /// Adds bytes received to those not yet handed out.
    @inlinable
    public mutating func receive(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        guard self.unread != nil else {
            self.unread = bytes
            return
        }
        self.unread!.discardReadBytes()
        self.unread!.writeImmutableBuffer(bytes)
    }

    /// The next complete frame, or nil until more bytes are received.
    @inlinable
    public mutating func next() throws(NATSProtocolError) -> Frame<Parser.Operation>? {
        guard self.unread != nil else { return nil }
        let frame = try self.parser.next(&self.unread!)
        if self.unread!.readableBytes == 0 { self.unread = nil }
        return frame
    }
}
