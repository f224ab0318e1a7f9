public import NIOCore

/// nats-server's limits, which Warden enforces the same way.
public enum NATSLimits {
    public static let maxControlLine = 4096
    public static let maxPayload = 1024 * 1024
}

extension NATSFrameParser where Operation == ClientOperation {
    /// Parses what a client sends: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.
    public static func client(
        maxControlLine: Int = NATSLimits.maxControlLine, maxPayload: Int = NATSLimits.maxPayload
    ) -> Self {
        Self(maxControlLine: maxControlLine, maxPayload: maxPayload, parseLine: { name, arguments, line, maxPayload throws(NATSProtocolError) in
            switch (name, arguments.count) {
            case ("CONNECT", _):
                return .complete(.connect(json: Arguments.rest(of: line, after: 7)))
            case ("PUB", 2), ("PUB", 3):
                let size = try Arguments.size(arguments.last!, max: maxPayload)
                let subject = arguments[0]
                let reply = arguments.count == 3 ? arguments[1] : nil
                return .payload(length: size) { .publish(Publish(subject: subject, reply: reply, headerLength: nil, payload: $0)) }
            case ("HPUB", 3), ("HPUB", 4):
                let (header, total) = try Arguments.headerSizes(arguments[arguments.count - 2], arguments.last!, max: maxPayload)
                let subject = arguments[0]
                let reply = arguments.count == 4 ? arguments[1] : nil
                return .payload(length: total) { .publish(Publish(subject: subject, reply: reply, headerLength: header, payload: $0)) }
            case ("SUB", 2):
                return .complete(.subscribe(subject: arguments[0], queue: nil, sid: arguments[1]))
            case ("SUB", 3):
                return .complete(.subscribe(subject: arguments[0], queue: arguments[1], sid: arguments[2]))
            case ("UNSUB", 1):
                return .complete(.unsubscribe(sid: arguments[0], max: nil))
            case ("UNSUB", 2):
                guard let max = Int(arguments[1]), max >= 0 else {
                    throw NATSProtocolError(.malformed, "bad UNSUB max '\(arguments[1])'")
                }
                return .complete(.unsubscribe(sid: arguments[0], max: max))
            case ("PING", 0):
                return .complete(.ping)
            case ("PONG", 0):
                return .complete(.pong)
            case ("PUB", _), ("HPUB", _), ("SUB", _), ("UNSUB", _), ("PING", _), ("PONG", _):
                throw NATSProtocolError(.malformed, "wrong number of arguments for \(name)")
            default:
                throw NATSProtocolError(.unknownOperation, "unknown operation '\(name.prefix(32))'")
            }
        })
    }
}

extension NATSFrameParser where Operation == ServerOperation {
    /// Parses what a server sends: INFO, MSG, HMSG, PING, PONG, +OK, -ERR.
    public static func server(
        maxControlLine: Int = NATSLimits.maxControlLine, maxPayload: Int = 64 * 1024 * 1024
    ) -> Self {
        Self(maxControlLine: maxControlLine, maxPayload: maxPayload, parseLine: { name, arguments, line, maxPayload throws(NATSProtocolError) in
            switch (name, arguments.count) {
            case ("INFO", _):
                return .complete(.info(json: Arguments.rest(of: line, after: 4)))
            case ("MSG", 3), ("MSG", 4):
                let size = try Arguments.size(arguments.last!, max: maxPayload)
                let (subject, sid) = (arguments[0], arguments[1])
                let reply = arguments.count == 4 ? arguments[2] : nil
                return .payload(length: size) {
                    .message(Delivery(subject: subject, sid: sid, reply: reply, headerLength: nil, payload: $0))
                }
            case ("HMSG", 4), ("HMSG", 5):
                let (header, total) = try Arguments.headerSizes(arguments[arguments.count - 2], arguments.last!, max: maxPayload)
                let (subject, sid) = (arguments[0], arguments[1])
                let reply = arguments.count == 5 ? arguments[2] : nil
                return .payload(length: total) {
                    .message(Delivery(subject: subject, sid: sid, reply: reply, headerLength: header, payload: $0))
                }
            case ("PING", 0):
                return .complete(.ping)
            case ("PONG", 0):
                return .complete(.pong)
            case ("+OK", 0):
                return .complete(.ok)
            case ("-ERR", _):
                var text = Arguments.rest(of: line, after: 4)
                if text.count >= 2 && text.hasPrefix("'") && text.hasSuffix("'") { text = String(text.dropFirst().dropLast()) }
                return .complete(.error(text))
            case ("MSG", _), ("HMSG", _), ("PING", _), ("PONG", _), ("+OK", _):
                throw NATSProtocolError(.malformed, "wrong number of arguments for \(name)")
            default:
                throw NATSProtocolError(.unknownOperation, "unknown operation '\(name.prefix(32))'")
            }
        })
    }
}

/// A NIO decoder around `NATSFrameParser`: the channel handler only forwards what the parser returns.
public struct NATSFrameDecoder<Operation: Hashable & Sendable>: ByteToMessageDecoder {
    public typealias InboundOut = Frame<Operation>

    private var parser: NATSFrameParser<Operation>

    public init(parser: NATSFrameParser<Operation>) {
        self.parser = parser
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try self.parser.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A frame cut off by the end of the connection is dropped: a half-received PUB never reaches NATS.
        try self.decode(context: context, buffer: &buffer)
    }
}
