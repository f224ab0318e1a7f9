public import NATSProtocol
public import WardenPolicy

/// One line of the decision log: who did what, allowed or denied, and which rule said so.
///
/// Records are encoded by hand into bytes (`encode(into:)`): one is written for every operation a
/// client sends, so this stays off Foundation's `JSONEncoder`.
public struct DecisionRecord: Sendable {
    /// What the client tried to do.
    public enum Op: String, Sendable {
        case connect
        case pub
        case sub
        case deliver
    }

    public var decision: PolicyDecision.Verdict
    public var op: Op
    /// The service, or nil when the client could not be identified.
    public var service: String?
    public var conn: UInt64
    public var peer: String
    public var mode: PolicyMode
    /// The rule that decided with its `file:line`, or what decided instead (`default deny`, `mtls`).
    public var rule: String
    /// Subject, reply and sid are the bytes the client or nats-server sent (see `WireString`).
    public var subject: WireString?
    public var queue: String?
    public var reply: WireString?
    /// Payload bytes of a publish (headers excluded).
    public var size: Int?
    /// Why a connection was refused.
    public var reason: String?
    /// The subscription id a dropped delivery was addressed to.
    public var sid: WireString?
    /// The verified identity (URI SAN) and certificate serial of an admitted connection.
    public var identity: String?
    public var serial: String?

    public init(
        decision: PolicyDecision.Verdict, op: Op, service: String?, conn: UInt64, peer: String, mode: PolicyMode,
        rule: String, subject: WireString? = nil, queue: String? = nil, reply: WireString? = nil, size: Int? = nil,
        reason: String? = nil, sid: WireString? = nil, identity: String? = nil, serial: String? = nil
    ) {
        self.decision = decision
        self.op = op
        self.service = service
        self.conn = conn
        self.peer = peer
        self.mode = mode
        self.rule = rule
        self.subject = subject
        self.queue = queue
        self.reply = reply
        self.size = size
        self.reason = reason
        self.sid = sid
        self.identity = identity
        self.serial = serial
    }

    /// Appends the record as one JSON object and a newline, stamped with `microseconds` since the epoch.
    public func encode(into bytes: inout [UInt8], microseconds: Int64) {
        var encoder = RecordEncoder(service: self.service, conn: self.conn, peer: self.peer)
        encoder.encode(self, microseconds: microseconds, into: &bytes)
    }
}

/// Encodes the records of one connection. What every record of the connection repeats (service, conn,
/// peer) is encoded once, and the timestamp's date and time of day once a second; the rest is copied
/// in runs, so a record costs a few `memcpy`s rather than a byte-by-byte walk.
struct RecordEncoder {
    private let service: String?
    private let conn: UInt64
    private let peer: String
    /// `,"service":...,"conn":...,"peer":...` for this connection.
    private let connectionFields: [UInt8]
    private var timestamp = RFC3339.SecondCache()

    init(service: String?, conn: UInt64, peer: String) {
        self.service = service
        self.conn = conn
        self.peer = peer
        self.connectionFields = Self.connectionFields(service: service, conn: conn, peer: peer)
    }

    private static func connectionFields(service: String?, conn: UInt64, peer: String) -> [UInt8] {
        var bytes: [UInt8] = []
        JSONText.append(#","service":"#, to: &bytes)
        if let service { JSONText.appendString(service, to: &bytes) } else { JSONText.append("null", to: &bytes) }
        JSONText.append(#","conn":"#, to: &bytes)
        JSONText.appendInteger(conn, to: &bytes)
        JSONText.append(#","peer":"#, to: &bytes)
        JSONText.appendString(peer, to: &bytes)
        return bytes
    }

    mutating func encode(_ record: DecisionRecord, microseconds: Int64, into bytes: inout [UInt8]) {
        JSONText.append(#"{"ts":""#, to: &bytes)
        self.timestamp.append(microseconds: microseconds, to: &bytes)
        JSONText.append(#"","decision":""#, to: &bytes)
        JSONText.append(record.decision.rawValue, to: &bytes)
        JSONText.append(#"","op":""#, to: &bytes)
        JSONText.append(record.op.rawValue, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        if record.conn == self.conn && record.service == self.service && record.peer == self.peer {
            bytes.append(contentsOf: self.connectionFields)
        } else {
            bytes.append(contentsOf: Self.connectionFields(service: record.service, conn: record.conn, peer: record.peer))
        }
        JSONText.append(#","mode":""#, to: &bytes)
        JSONText.append(record.mode.rawValue, to: &bytes)
        JSONText.append(#"","rule":"#, to: &bytes)
        JSONText.appendString(record.rule, to: &bytes)
        func field(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            JSONText.append(name, to: &bytes)
            JSONText.appendString(value, to: &bytes)
        }
        func field(_ name: StaticString, _ value: WireString?) {
            guard let value else { return }
            JSONText.append(name, to: &bytes)
            value.withUnsafeBytes { JSONText.appendString(utf8: $0, to: &bytes) }
        }
        field(#","subject":"#, record.subject)
        field(#","queue":"#, record.queue)
        field(#","reply":"#, record.reply)
        if let size = record.size {
            JSONText.append(#","size":"#, to: &bytes)
            JSONText.appendInteger(UInt64(max(0, size)), to: &bytes)
        }
        field(#","sid":"#, record.sid)
        field(#","reason":"#, record.reason)
        field(#","identity":"#, record.identity)
        field(#","serial":"#, record.serial)
        JSONText.append("}\n", to: &bytes)
    }
}

/// JSON string and number text, appended to a byte array.
enum JSONText {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends text that needs no escaping, in one copy.
    @inline(__always)
    static func append(_ text: StaticString, to bytes: inout [UInt8]) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends a raw value of a field's enumeration (plain ASCII words), in one copy.
    @inline(__always)
    static func append(_ text: String, to bytes: inout [UInt8]) {
        if text.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: text.utf8)
        }
    }

    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { Self.appendEscapingRuns($0, to: &bytes) }
        if copied == nil {
            for byte in text.utf8 {
                if Self.needsEscape(byte) { self.appendEscaped(byte, to: &bytes) } else { bytes.append(byte) }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `appendString` for bytes from the wire, which need not be UTF-8 while the log must be: ASCII (all
    /// but exotic subjects) is copied in runs; anything else goes through `String`, which replaces
    /// invalid sequences with U+FFFD.
    static func appendString(utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        guard utf8.allSatisfy({ $0 < 0x80 }) else {
            self.appendString(String(decoding: utf8, as: UTF8.self), to: &bytes)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        self.appendEscapingRuns(utf8, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends valid UTF-8, escaped: runs of bytes that need no escaping (nearly always the whole
    /// string) are appended at once.
    private static func appendEscapingRuns(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        var runStart = 0
        for index in utf8.indices where Self.needsEscape(utf8[index]) {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            self.appendEscaped(utf8[index], to: &bytes)
            runStart = index + 1
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        // String.utf8 is always valid UTF-8, which JSON carries as is; only quotes, backslashes and
        // control characters are escaped.
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0x7F
    }

    private static func appendEscaped(_ byte: UInt8, to bytes: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        default:
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            bytes.append(self.hex[Int(byte >> 4)])
            bytes.append(self.hex[Int(byte & 0xF)])
        }
    }

    static func appendInteger(_ value: UInt64, to bytes: inout [UInt8]) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[index]) }
        }
    }
}
