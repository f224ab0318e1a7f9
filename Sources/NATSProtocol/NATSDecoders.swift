public import NIOCore

/// nats-server's limits, which Warden enforces the same way.
public enum NATSLimits {
    public static let maxControlLine = 4096
    public static let maxPayload = 1024 * 1024
}

/// Operation names as `ControlLine.nameKey` values.
private enum Name {
    static let connect = ControlLine.key("CONNECT")
    static let pub = ControlLine.key("PUB")
    static let hpub = ControlLine.key("HPUB")
    static let sub = ControlLine.key("SUB")
    static let unsub = ControlLine.key("UNSUB")
    static let ping = ControlLine.key("PING")
    static let pong = ControlLine.key("PONG")
    static let info = ControlLine.key("INFO")
    static let msg = ControlLine.key("MSG")
    static let hmsg = ControlLine.key("HMSG")
    static let ok = ControlLine.key("+OK")
    static let err = ControlLine.key("-ERR")
}

/// Parses what a client sends: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.
public struct NATSClientParser: NATSFrameParsing {
    struct PublishHeader: Sendable {
        var subject: FieldSpan
        var reply: FieldSpan?
        var headerLength: Int?
    }

    private let scanner: FrameScanner
    private var pending: PendingPayload<PublishHeader>?

    public init(maxControlLine: Int = NATSLimits.maxControlLine, maxPayload: Int = NATSLimits.maxPayload) {
        self.scanner = FrameScanner(maxControlLine: maxControlLine, maxPayload: maxPayload)
    }

    public mutating func next(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> Frame<ClientOperation>? {
        try self.scanner.next(&buffer, pending: &self.pending, parse: Self.parse) { header, frame, payload in
            .publish(
                Publish(
                    subject: header.subject.slice(of: frame), reply: header.reply?.slice(of: frame),
                    headerLength: header.headerLength,
                    payload: payload))
        }
    }

    private static func parse(_ line: ControlLine, maxPayload: Int) throws(NATSProtocolError) -> LineResult<
        ClientOperation, PublishHeader
    > {
        let arguments = line.argumentCount
        switch line.nameKey {
        case Name.pub:
            guard arguments == 2 || arguments == 3 else { throw line.wrongArity() }
            let size = try line.size(fromEnd: 0, max: maxPayload)
            return .payload(
                PublishHeader(subject: line.span(0), reply: arguments == 3 ? line.span(1) : nil), length: size)
        case Name.hpub:
            guard arguments == 3 || arguments == 4 else { throw line.wrongArity() }
            let (header, total) = try line.headerSizes(max: maxPayload)
            return .payload(
                PublishHeader(subject: line.span(0), reply: arguments == 4 ? line.span(1) : nil, headerLength: header),
                length: total)
        case Name.sub:
            guard arguments == 2 || arguments == 3 else { throw line.wrongArity() }
            return .complete(
                .subscribe(
                    subject: line.argument(0), queue: arguments == 3 ? line.argument(1) : nil,
                    sid: line.argument(fromEnd: 0)))
        case Name.unsub:
            guard arguments == 1 || arguments == 2 else { throw line.wrongArity() }
            guard arguments == 2 else { return .complete(.unsubscribe(sid: line.argument(0), max: nil)) }
            // A max that is not a number unsubscribes at once, as nats-server reads it (parseSize gives -1).
            let max = Int(line.argument(1)).flatMap { $0 > 0 ? $0 : nil }
            return .complete(.unsubscribe(sid: line.argument(0), max: max))
        case Name.ping:
            // nats-server reads up to the line's end after PING and PONG: `PING x` is a PING.
            return .complete(.ping)
        case Name.pong:
            return .complete(.pong)
        case Name.connect:
            return .complete(.connect(json: line.rest))
        default:
            throw line.unknown()
        }
    }
}

/// Parses what a server sends: INFO, MSG, HMSG, PING, PONG, +OK, -ERR.
public struct NATSServerParser: NATSFrameParsing {
    struct MessageHeader: Sendable {
        var subject: FieldSpan
        var sid: FieldSpan
        var reply: FieldSpan?
        var headerLength: Int?
    }

    private let scanner: FrameScanner
    private var pending: PendingPayload<MessageHeader>?

    public init(maxControlLine: Int = NATSLimits.maxControlLine, maxPayload: Int = 64 * 1024 * 1024) {
        self.scanner = FrameScanner(maxControlLine: maxControlLine, maxPayload: maxPayload)
    }

    public mutating func next(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> Frame<ServerOperation>? {
        try self.scanner.next(&buffer, pending: &self.pending, parse: Self.parse) { header, frame, payload in
            .message(
                Delivery(
                    subject: header.subject.slice(of: frame), sid: header.sid.slice(of: frame),
                    reply: header.reply?.slice(of: frame),
                    headerLength: header.headerLength, payload: payload))
        }
    }

    private static func parse(_ line: ControlLine, maxPayload: Int) throws(NATSProtocolError) -> LineResult<
        ServerOperation, MessageHeader
    > {
        let arguments = line.argumentCount
        switch line.nameKey {
        case Name.msg:
            guard arguments == 3 || arguments == 4 else { throw line.wrongArity() }
            let size = try line.size(fromEnd: 0, max: maxPayload)
            return .payload(
                MessageHeader(subject: line.span(0), sid: line.span(1), reply: arguments == 4 ? line.span(2) : nil),
                length: size)
        case Name.hmsg:
            guard arguments == 4 || arguments == 5 else { throw line.wrongArity() }
            let (header, total) = try line.headerSizes(max: maxPayload)
            return .payload(
                MessageHeader(
                    subject: line.span(0), sid: line.span(1), reply: arguments == 5 ? line.span(2) : nil,
                    headerLength: header),
                length: total)
        case Name.ping:
            return .complete(try line.withoutArguments(.ping))
        case Name.pong:
            return .complete(try line.withoutArguments(.pong))
        case Name.ok:
            return .complete(try line.withoutArguments(.ok))
        case Name.info:
            return .complete(.info(json: line.rest))
        case Name.err:
            var text = Substring(line.rest)
            if text.count >= 2 && text.hasPrefix("'") && text.hasSuffix("'") { text = text.dropFirst().dropLast() }
            return .complete(.error(String(text)))
        default:
            throw line.unknown()
        }
    }
}

/// A NIO decoder around a parser, for pipelines that want frames as channel reads.
public struct NATSFrameDecoder<Parser: NATSFrameParsing>: ByteToMessageDecoder {
    public typealias InboundOut = Frame<Parser.Operation>

    private var parser: Parser

    public init(parser: Parser) {
        self.parser = parser
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try self.parser.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A frame cut off by the end of the connection is dropped: a half-received PUB never reaches NATS.
        try self.decode(context: context, buffer: &buffer)
    }
}
