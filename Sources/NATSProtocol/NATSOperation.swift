public import NIOCore

/// A PUB or HPUB from a client. Subject and reply are slices of the frame's bytes.
public struct Publish: Hashable, Sendable {
    public var subject: WireString
    public var reply: WireString?
    /// Length of the header block for HPUB (it starts the payload), nil for PUB.
    public var headerLength: Int?
    /// Headers (HPUB) and body, without the trailing CRLF.
    public var payload: ByteBuffer

    public init(subject: WireString, reply: WireString?, headerLength: Int?, payload: ByteBuffer) {
        self.subject = subject
        self.reply = reply
        self.headerLength = headerLength
        self.payload = payload
    }

    /// Size of the body alone, without headers: the `size` of a decision record.
    public var bodySize: Int { self.payload.readableBytes - (self.headerLength ?? 0) }
}

/// A MSG or HMSG from the server. Subject, sid and reply are slices of the frame's bytes.
public struct Delivery: Hashable, Sendable {
    public var subject: WireString
    public var sid: WireString
    public var reply: WireString?
    public var headerLength: Int?
    public var payload: ByteBuffer

    public init(subject: WireString, sid: WireString, reply: WireString?, headerLength: Int?, payload: ByteBuffer) {
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.headerLength = headerLength
        self.payload = payload
    }
}

/// What a client sends.
public enum ClientOperation: Hashable, Sendable {
    case connect(json: String)
    case publish(Publish)
    case subscribe(subject: String, queue: String?, sid: String)
    case unsubscribe(sid: String, max: Int?)
    case ping
    case pong
}

/// What a server sends.
public enum ServerOperation: Hashable, Sendable {
    case info(json: String)
    case message(Delivery)
    case ping
    case pong
    case ok
    case error(String)
}

/// A decoded operation together with the exact bytes it came in, so an allowed operation can be
/// forwarded as it was received, without re-encoding or copying.
public struct Frame<Operation: Hashable & Sendable>: Hashable, Sendable {
    public var operation: Operation
    public var raw: ByteBuffer

    public init(operation: Operation, raw: ByteBuffer) {
        self.operation = operation
        self.raw = raw
    }
}
