public import NIOCore

/// The streaming NATS protocol parser, one direction, as a state machine free of I/O: `next` takes
/// the bytes received so far and returns the next complete frame, nil when more bytes are needed, or
/// throws on a protocol violation. Works the same however the stream is split.
public struct NATSFrameParser<Operation: Hashable & Sendable>: Sendable {
    /// A control line that has been parsed and waits for its payload.
    struct Pending: Sendable {
        var lineLength: Int
        var payloadLength: Int
        var build: @Sendable (ByteBuffer) -> Operation
    }

    public let maxControlLine: Int
    public let maxPayload: Int
    let parseLine: @Sendable (_ name: String, _ arguments: [String], _ line: String, _ maxPayload: Int) throws(NATSProtocolError) -> LineResult
    var pending: Pending?

    enum LineResult {
        case complete(Operation)
        case payload(length: Int, build: @Sendable (ByteBuffer) -> Operation)
    }

    public mutating func next(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> Frame<Operation>? {
        if self.pending == nil {
            guard let (lineLength, line) = try self.controlLine(buffer) else { return nil }
            var arguments = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard !arguments.isEmpty else {
                // An empty line: nats-server skips it.
                buffer.moveReaderIndex(forwardBy: lineLength)
                return try self.next(&buffer)
            }
            let name = arguments.removeFirst().uppercased()
            switch try self.parseLine(name, arguments, line, self.maxPayload) {
            case .complete(let operation):
                let raw = buffer.readSlice(length: lineLength)!
                return Frame(operation: operation, raw: raw)
            case .payload(let length, let build):
                self.pending = Pending(lineLength: lineLength, payloadLength: length, build: build)
            }
        }
        let pending = self.pending!
        let total = pending.lineLength + pending.payloadLength + 2
        guard buffer.readableBytes >= total else { return nil }
        let terminator = buffer.getBytes(at: buffer.readerIndex + pending.lineLength + pending.payloadLength, length: 2)!
        guard terminator == [UInt8(ascii: "\r"), UInt8(ascii: "\n")] else {
            throw NATSProtocolError(.malformed, "payload not followed by CRLF (wrong size?)")
        }
        let raw = buffer.readSlice(length: total)!
        let payload = raw.getSlice(at: raw.readerIndex + pending.lineLength, length: pending.payloadLength)!
        self.pending = nil
        return Frame(operation: pending.build(payload), raw: raw)
    }

    /// The length of the next control line including its line ending, and its text; nil if incomplete.
    private func controlLine(_ buffer: ByteBuffer) throws(NATSProtocolError) -> (Int, String)? {
        let view = buffer.readableBytesView
        let limit = min(view.count, self.maxControlLine + 2)
        guard let newline = view.prefix(limit).firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > self.maxControlLine {
                throw NATSProtocolError(.maxControlLineExceeded, "no line end within \(self.maxControlLine) bytes")
            }
            return nil
        }
        var end = newline
        if end > view.startIndex && view[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let text = String(decoding: view[view.startIndex..<end], as: UTF8.self)
        return (newline - view.startIndex + 1, text)
    }
}

/// Helpers shared by the two directions.
enum Arguments {
    static func size(_ text: String, max: Int) throws(NATSProtocolError) -> Int {
        guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text) else {
            throw NATSProtocolError(.malformed, "bad or missing size '\(text)'")
        }
        guard value <= max else {
            throw NATSProtocolError(.maxPayloadExceeded, "payload of \(value) bytes over the \(max) byte limit")
        }
        return value
    }

    static func headerSizes(_ headerText: String, _ totalText: String, max: Int) throws(NATSProtocolError) -> (Int, Int) {
        let header = try self.size(headerText, max: max)
        let total = try self.size(totalText, max: max)
        guard header <= total else {
            throw NATSProtocolError(.malformed, "header size \(header) larger than total size \(total)")
        }
        return (header, total)
    }

    /// The text after the operation name, for CONNECT, INFO and -ERR.
    static func rest(of line: String, after name: Int) -> String {
        String(line.dropFirst(name).drop(while: { $0 == " " || $0 == "\t" }))
    }
}
