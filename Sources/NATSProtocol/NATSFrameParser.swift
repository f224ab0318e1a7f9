public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming NATS protocol parser for one direction, free of I/O: `next` takes the bytes received so
/// far and returns the next complete frame, nil when more bytes are needed, or throws on a protocol
/// violation. Works the same however the stream is split.
///
/// The parsers read control lines in place, byte by byte, with no array of fields. The frames that
/// carry messages (PUB, HPUB, MSG, HMSG) come out without a single allocation: their subject, reply,
/// sid and payload are slices of the received buffer. The rare operations (SUB, UNSUB, CONNECT, INFO,
/// -ERR) carry `String`s.
public protocol NATSFrameParsing: Sendable {
    associatedtype Operation: Hashable & Sendable
    mutating func next(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> Frame<Operation>?
}

/// The fields of one control line (without its line ending), found in place: up to `maxFields` byte
/// ranges split on spaces and tabs. `count` keeps counting past that, so arity checks stay exact.
struct ControlLine {
    static let maxFields = 8

    let bytes: UnsafeRawBufferPointer
    private var starts = SIMD8<Int32>()
    private var ends = SIMD8<Int32>()
    private(set) var count = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        var index = 0
        let end = bytes.count
        while index < end {
            while index < end && Self.isSeparator(bytes[index]) { index += 1 }
            guard index < end else { break }
            let start = index
            while index < end && !Self.isSeparator(bytes[index]) { index += 1 }
            if self.count < Self.maxFields {
                self.starts[self.count] = Int32(start)
                self.ends[self.count] = Int32(index)
            }
            self.count += 1
        }
    }

    @inline(__always)
    private static func isSeparator(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    var argumentCount: Int { self.count - 1 }

    /// The operation name, upper-cased and packed into an integer (names are at most 7 bytes); 0 for a
    /// longer name, which no operation has.
    var nameKey: UInt64 {
        let length = Int(self.ends[0] - self.starts[0])
        guard length <= 7 else { return 0 }
        var key: UInt64 = 0
        for offset in 0..<length {
            var byte = self.bytes[Int(self.starts[0]) + offset]
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { byte -= 32 }
            key = key << 8 | UInt64(byte)
        }
        return key
    }

    static func key(_ name: StaticString) -> UInt64 {
        name.withUTF8Buffer { $0.reduce(0) { $0 << 8 | UInt64($1) } }
    }

    /// Field `index` (0 is the operation name) as bytes.
    func field(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self.bytes[Int(self.starts[index])..<Int(self.ends[index])])
    }

    /// Where argument `index` (0 is the first after the name) is in the line, to be sliced out of the
    /// frame's bytes once the frame is complete.
    func span(_ index: Int) -> FieldSpan {
        FieldSpan(start: self.starts[index + 1], end: self.ends[index + 1])
    }

    /// Argument `index` (0 is the first after the name) as text.
    func argument(_ index: Int) -> String {
        String(decoding: self.field(index + 1), as: UTF8.self)
    }

    /// The argument counted from the end (0 is the last).
    func argument(fromEnd index: Int) -> String { self.argument(self.argumentCount - 1 - index) }

    /// Everything after the operation name and its separators, as text: the JSON of CONNECT and INFO,
    /// the message of -ERR.
    var rest: String {
        guard self.count > 1 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[Int(self.starts[1])...]), as: UTF8.self)
    }

    /// The name as text, for error messages.
    var name: String { String(decoding: self.field(0).prefix(32), as: UTF8.self) }

    /// Argument `index` counted from the end as a payload size: decimal digits only, at most `max`.
    func size(fromEnd index: Int, max: Int) throws(NATSProtocolError) -> Int {
        let field = self.field(self.argumentCount - index)
        guard !field.isEmpty, field.count <= 10 else { throw self.badSize(field) }
        var value = 0
        for byte in field {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { throw self.badSize(field) }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard value <= max else {
            throw NATSProtocolError(.maxPayloadExceeded, "payload of \(value) bytes over the \(max) byte limit")
        }
        return value
    }

    /// The header and total sizes of HPUB and HMSG (the last two arguments).
    func headerSizes(max: Int) throws(NATSProtocolError) -> (header: Int, total: Int) {
        let header = try self.size(fromEnd: 1, max: max)
        let total = try self.size(fromEnd: 0, max: max)
        guard header <= total else {
            throw NATSProtocolError(.invalidArguments, "header size \(header) larger than total size \(total)")
        }
        return (header, total)
    }

    private func badSize(_ field: UnsafeRawBufferPointer) -> NATSProtocolError {
        NATSProtocolError(
            .invalidArguments, "bad or missing size '\(String(decoding: field.prefix(32), as: UTF8.self))'")
    }

    /// `operation`, for a line that must have no arguments (+OK).
    func withoutArguments<Operation>(_ operation: Operation) throws(NATSProtocolError) -> Operation {
        guard self.argumentCount == 0 else { throw self.wrongArity() }
        return operation
    }

    /// The wrong number of arguments: none at all is not the operation to nats-server's parser (`-ERR
    /// 'Unknown Protocol Operation'`); some, but not the right number, it closes for without a word.
    func wrongArity() -> NATSProtocolError {
        NATSProtocolError(
            self.argumentCount == 0 ? .malformed : .invalidArguments,
            "wrong number of arguments for \(self.name.uppercased())")
    }

    func unknown() -> NATSProtocolError {
        NATSProtocolError(.unknownOperation, "unknown operation '\(self.name)'")
    }
}

/// Where a field is in its control line: byte offsets from the start of the line, which is also the
/// start of the frame.
struct FieldSpan: Sendable {
    var start: Int32
    var end: Int32

    /// The field, sliced out of the frame's bytes (no copy).
    func slice(of frame: ByteBuffer) -> WireString {
        WireString(frame.getSlice(at: frame.readerIndex + Int(self.start), length: Int(self.end - self.start))!)
    }
}

/// What a control line parser makes of a line: a whole operation, or the start of one whose payload
/// follows (`Header` holds what the line said).
enum LineResult<Operation, Header> {
    case complete(Operation)
    case payload(Header, length: Int)
}

/// A control line whose payload has not fully arrived yet.
struct PendingPayload<Header: Sendable>: Sendable {
    var header: Header
    var lineLength: Int
    var payloadLength: Int
}

/// Line finding and payload framing, shared by the client and server parsers.
struct FrameScanner: Sendable {
    let maxControlLine: Int
    let maxPayload: Int

    /// The next frame in `buffer`: a whole operation from its control line, or, for a line with a
    /// payload (kept in `pending` while the payload arrives), the operation `build` makes of the line
    /// and its payload (`build` gets the line's header, the whole frame and the payload) once all of it
    /// is there.
    func next<Operation, Header>(
        _ buffer: inout ByteBuffer,
        pending: inout PendingPayload<Header>?,
        parse: (ControlLine, Int) throws(NATSProtocolError) -> LineResult<Operation, Header>,
        build: (Header, _ frame: ByteBuffer, _ payload: ByteBuffer) -> Operation
    ) throws(NATSProtocolError) -> Frame<Operation>? {
        if pending == nil {
            let (frame, started) = try self.line(&buffer, parse)
            if let frame { return frame }
            guard let started else { return nil }
            pending = started
        }
        guard let waiting = pending, let (raw, payload) = try self.payload(&buffer, waiting) else { return nil }
        pending = nil
        return Frame(operation: build(waiting.header, raw, payload), raw: raw)
    }

    /// Finds the next non-empty control line and parses it. A complete operation is consumed from
    /// `buffer` and returned with its bytes; a line with a payload is left in `buffer` and returned
    /// as pending. Empty lines are skipped, as nats-server does.
    func line<Operation, Header>(
        _ buffer: inout ByteBuffer,
        _ parse: (ControlLine, Int) throws(NATSProtocolError) -> LineResult<Operation, Header>
    ) throws(NATSProtocolError) -> (Frame<Operation>?, PendingPayload<Header>?) {
        while true {
            // What the line holds is set in place rather than returned through a `Result`: operations
            // carry slices (retained references), and every layer of wrapping copied and released them.
            var lineLength = 0
            var parsed: LineResult<Operation, Header>?
            var failure: NATSProtocolError?
            buffer.withUnsafeReadableBytes { bytes in
                let limit = min(bytes.count, self.maxControlLine + 2)
                guard let base = bytes.baseAddress, limit > 0,
                    let newline = memchr(base, Int32(UInt8(ascii: "\n")), limit)
                else {
                    if bytes.count > self.maxControlLine {
                        failure = NATSProtocolError(
                            .maxControlLineExceeded, "no line end within \(self.maxControlLine) bytes")
                    }
                    return
                }
                lineLength = base.distance(to: UnsafeRawPointer(newline)) + 1
                var end = lineLength - 1
                if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = ControlLine(UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
                guard line.count > 0 else { return }
                do throws(NATSProtocolError) {
                    parsed = try parse(line, self.maxPayload)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            guard lineLength > 0 else { return (nil, nil) }
            switch consume parsed {
            case nil:
                buffer.moveReaderIndex(forwardBy: lineLength)
            case .complete(let operation):
                return (Frame(operation: operation, raw: buffer.readSlice(length: lineLength)!), nil)
            case .payload(let header, let length):
                return (nil, PendingPayload(header: header, lineLength: lineLength, payloadLength: length))
            }
        }
    }

    /// The whole frame of `pending` (line, payload, CRLF) and its payload, consumed from `buffer`; nil
    /// until all of it has arrived.
    func payload<Header>(
        _ buffer: inout ByteBuffer, _ pending: PendingPayload<Header>
    ) throws(NATSProtocolError) -> (raw: ByteBuffer, payload: ByteBuffer)? {
        let total = pending.lineLength + pending.payloadLength + 2
        guard buffer.readableBytes >= total else { return nil }
        let end = buffer.readerIndex + pending.lineLength + pending.payloadLength
        guard buffer.getInteger(at: end, as: UInt16.self) == UInt16(0x0D0A) else {
            throw NATSProtocolError(.malformed, "payload not followed by CRLF (wrong size?)")
        }
        let raw = buffer.readSlice(length: total)!
        let payload = raw.getSlice(at: raw.readerIndex + pending.lineLength, length: pending.payloadLength)!
        return (raw, payload)
    }
}
