public import NATSProtocol
import NIOCore
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
        var encoder = RecordEncoder()
        encoder.encode(self, connection: self.connectionFields, microseconds: microseconds)
        encoder.bytes.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
    }

    /// The record's service, conn and peer, encoded.
    var connectionFields: ConnectionFields {
        ConnectionFields(service: self.service, conn: self.conn, peer: self.peer)
    }
}

/// What every record of one connection repeats, encoded once: `,"service":...,"conn":...,"peer":...`.
struct ConnectionFields {
    let service: String?
    let conn: UInt64
    let peer: String
    let json: [UInt8]

    init(service: String?, conn: UInt64, peer: String) {
        self.service = service
        self.conn = conn
        self.peer = peer
        let bound = 32 + RecordCursor.quotedBound(service?.utf8.count ?? 4) + 20 + RecordCursor.quotedBound(peer.utf8.count)
        self.json = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(buffer))
            cursor.write(#","service":"#)
            if let service { cursor.writeQuoted(service) } else { cursor.write("null") }
            cursor.write(#","conn":"#)
            cursor.writeInteger(conn)
            cursor.write(#","peer":"#)
            cursor.writeQuoted(peer)
            count = cursor.written
        }
    }

    func describe(_ record: DecisionRecord) -> Bool {
        record.conn == self.conn && record.service == self.service && record.peer == self.peer
    }
}

/// Encodes decision records into a buffer, one JSON object and a newline each.
///
/// A record is written in one pass into space reserved for the most it can take, so each piece is a
/// plain copy rather than a growth check on an array. What records repeat is encoded once: a
/// connection's own fields (`ConnectionFields`), the date and time of day (once a second), and the
/// text of each rule named (`RuleTexts`). The event loop's sessions share one encoder
/// (`RecordBatch`).
struct RecordEncoder {
    /// The records encoded and not yet handed to the log.
    private(set) var bytes: ByteBuffer
    private var timestamp = RFC3339.SecondCache()
    private var rules = RuleTexts()

    /// A buffer that grew past this in a burst is not kept once the log has taken it. A read cycle's
    /// records fill up to a few hundred KiB at bulk rates (a 64 KiB read of small messages is a
    /// thousand records or more); a loop's buffer keeps that size rather than grow again every cycle.
    static let largestKept = 1 << 20
    /// The most the fixed parts of a record take: every field name and punctuation (127 bytes), the
    /// timestamp (27), the enumerated values (19: `allow`, `connect`, `enforce`) and the size (20).
    static let fixedBound = 256

    init() {
        self.bytes = ByteBufferAllocator().buffer(capacity: 0)
    }

    var isEmpty: Bool { self.bytes.readableBytes == 0 }

    /// Forgets the records once the log has them, keeping the buffer unless a burst grew it.
    mutating func removeAll() {
        if self.bytes.capacity > Self.largestKept {
            self.bytes = ByteBufferAllocator().buffer(capacity: 0)
        } else {
            self.bytes.clear()
        }
    }

    mutating func encode(_ records: [DecisionRecord], connection: ConnectionFields, microseconds: Int64) {
        // Records are read in place: a `for in` would copy each, a retain and a release per field.
        records.withUnsafeBufferPointer { records in
            for index in records.indices { self.encode(records[index], connection: connection, microseconds: microseconds) }
        }
    }

    mutating func encode(_ record: DecisionRecord, connection: ConnectionFields, microseconds: Int64) {
        // Records of the connection (all but the odd one in tests) use its fields as encoded already.
        let fields = connection.describe(record) ? connection : record.connectionFields
        let rule = self.rules.json(for: record.rule)
        var bound = Self.fixedBound + fields.json.count + rule.count
        bound += RecordCursor.quotedBound(record.subject?.count)
        bound += RecordCursor.quotedBound(record.queue?.utf8.count)
        bound += RecordCursor.quotedBound(record.reply?.count)
        bound += RecordCursor.quotedBound(record.sid?.count)
        bound += RecordCursor.quotedBound(record.reason?.utf8.count)
        bound += RecordCursor.quotedBound(record.identity?.utf8.count)
        bound += RecordCursor.quotedBound(record.serial?.utf8.count)
        var timestamp = self.timestamp
        self.bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { space in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(start: space.baseAddress, count: bound))
            cursor.write(#"{"ts":""#)
            timestamp.write(microseconds: microseconds, to: &cursor)
            cursor.write(#"","decision":""#)
            cursor.write(record.decision.rawValue)
            cursor.write(#"","op":""#)
            cursor.write(record.op.rawValue)
            cursor.write(byte: UInt8(ascii: "\""))
            cursor.write(fields.json)
            cursor.write(#","mode":""#)
            cursor.write(record.mode.rawValue)
            cursor.write(#"","rule":"#)
            cursor.write(rule)
            cursor.writeField(#","subject":"#, wire: record.subject)
            cursor.writeField(#","queue":"#, record.queue)
            cursor.writeField(#","reply":"#, wire: record.reply)
            if let size = record.size {
                cursor.write(#","size":"#)
                cursor.writeInteger(UInt64(max(0, size)))
            }
            cursor.writeField(#","sid":"#, wire: record.sid)
            cursor.writeField(#","reason":"#, record.reason)
            cursor.writeField(#","identity":"#, record.identity)
            cursor.writeField(#","serial":"#, record.serial)
            cursor.write("}\n")
            return cursor.written
        }
        self.timestamp = timestamp
    }
}

/// The JSON text (quoted and escaped) of the rules records name. A loop's records name few rules,
/// most of them many times, so each is escaped once; the last one found is tried first.
struct RuleTexts {
    /// How many rules are remembered; past this, the oldest is replaced.
    static let capacity = 32

    private var rules: [String] = []
    private var texts: [[UInt8]] = []
    private var last = 0
    private var oldest = 0

    mutating func json(for rule: String) -> [UInt8] {
        if self.last < self.rules.count, self.rules[self.last] == rule { return self.texts[self.last] }
        if let index = self.rules.firstIndex(of: rule) {
            self.last = index
            return self.texts[index]
        }
        let text = [UInt8](unsafeUninitializedCapacity: RecordCursor.quotedBound(rule.utf8.count)) { buffer, count in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(buffer))
            cursor.writeQuoted(rule)
            count = cursor.written
        }
        if self.rules.count < Self.capacity {
            self.rules.append(rule)
            self.texts.append(text)
            self.last = self.rules.count - 1
        } else {
            self.rules[self.oldest] = rule
            self.texts[self.oldest] = text
            self.last = self.oldest
            self.oldest = (self.oldest + 1) % Self.capacity
        }
        return text
    }
}

/// A write position in memory reserved beforehand. Writes are plain copies; each still checks the
/// reservation, and stops the process rather than write past it.
struct RecordCursor {
    private let start: UnsafeMutableRawPointer
    private var position: UnsafeMutableRawPointer
    private let end: UnsafeMutableRawPointer

    init(_ space: UnsafeMutableRawBufferPointer) {
        // Every reservation holds at least a field's quotes, so it has an address.
        let start = space.baseAddress!
        self.start = start
        self.position = start
        self.end = start + space.count
    }

    /// Bytes written so far.
    var written: Int { self.start.distance(to: self.position) }

    /// The most `writeQuoted` takes for text of `count` bytes: quotes, and six bytes (`\u00XX`) for a
    /// byte at worst. Invalid UTF-8 from the wire becomes U+FFFD, three bytes for at least one.
    static func quotedBound(_ count: Int?) -> Int {
        guard let count else { return 0 }
        return 6 * count + 2
    }

    @inline(__always)
    private mutating func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        precondition(count <= self.position.distance(to: self.end), "decision record larger than the space reserved")
        defer { self.position += count }
        return self.position
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        self.reserve(bytes.count).copyMemory(from: source, byteCount: bytes.count)
    }

    @inline(__always)
    mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { self.write(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.write($0) }
    }

    /// Text that needs no escaping (the raw values of the record's enumerations).
    @inline(__always)
    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { self.write(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func write(byte: UInt8) {
        self.reserve(1).storeBytes(of: byte, as: UInt8.self)
    }

    /// The field's name and its value quoted, or nothing when there is no value.
    @inline(__always)
    mutating func writeField(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        self.write(name)
        self.writeQuoted(value)
    }

    /// `writeField` for a value from the wire.
    @inline(__always)
    mutating func writeField(_ name: StaticString, wire value: WireString?) {
        guard let value else { return }
        self.write(name)
        value.withUnsafeBytes { self.writeQuoted(wire: $0) }
    }

    /// `"text"`, escaped for JSON.
    mutating func writeQuoted(_ text: String) {
        var text = text
        text.withUTF8 { _ = self.writeQuoted(utf8: $0) }
    }

    /// `"text"` for bytes from the wire, which need not be UTF-8 while the log must be: ASCII (all but
    /// exotic subjects) is escaped as it is; anything else goes through `String`, which replaces
    /// invalid sequences with U+FFFD.
    mutating func writeQuoted(wire bytes: UnsafeBufferPointer<UInt8>) {
        let rewind = self.position
        if !self.writeQuoted(utf8: bytes, asciiOnly: true) {
            self.position = rewind
            self.writeQuoted(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// `"text"` for valid UTF-8, escaped: runs of bytes that need no escaping (nearly always the whole
    /// text) are copied at once, and found eight bytes at a time. With `asciiOnly`, stops at the first
    /// byte that is not ASCII and returns false, leaving what it wrote for the caller to take back.
    @discardableResult
    private mutating func writeQuoted(utf8: UnsafeBufferPointer<UInt8>, asciiOnly: Bool = false) -> Bool {
        self.write(byte: UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < utf8.count {
            if index + 8 <= utf8.count,
                !Self.anyNeedsAttention(UnsafeRawPointer(utf8.baseAddress! + index).loadUnaligned(as: UInt64.self))
            {
                index += 8
                continue
            }
            let byte = utf8[index]
            // UTF-8 is carried as it is; only quotes, backslashes and control characters are escaped.
            if Self.needsAttention(byte) {
                if byte >= 0x80 {
                    if asciiOnly { return false }
                } else {
                    self.write(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<index])))
                    self.writeEscaped(byte)
                    runStart = index + 1
                }
            }
            index += 1
        }
        self.write(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart...])))
        self.write(byte: UInt8(ascii: "\""))
        return true
    }

    /// A byte JSON escapes (below 0x20, a quote, a backslash, 0x7F) or one that is not ASCII.
    @inline(__always)
    static func needsAttention(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x7F
    }

    /// Whether any of the eight bytes in `word` `needsAttention`. Each test sets a byte's high bit
    /// where that byte matches; a borrow or carry can set it wrongly only in a byte above one that
    /// matched, so the answer for the whole word is exact.
    @inline(__always)
    static func anyNeedsAttention(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        func anyBelow(_ value: UInt64, _ limit: UInt64) -> UInt64 { (value &- ones &* limit) & ~value & high }
        let control = anyBelow(word, 0x20)
        let quote = anyBelow(word ^ (ones &* UInt64(UInt8(ascii: "\""))), 1)
        let backslash = anyBelow(word ^ (ones &* UInt64(UInt8(ascii: "\\"))), 1)
        // 0x7F becomes 0x80; bytes from 0x80 up have the bit already.
        let deleteOrHigh = ((word &+ ones) | word) & high
        return (control | quote | backslash | deleteOrHigh) != 0
    }

    private mutating func writeEscaped(_ byte: UInt8) {
        self.write(byte: UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): self.write(byte: byte)
        case UInt8(ascii: "\n"): self.write(byte: UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): self.write(byte: UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): self.write(byte: UInt8(ascii: "t"))
        default:
            self.write("u00")
            self.write(byte: Self.hexDigit(byte >> 4))
            self.write(byte: Self.hexDigit(byte & 0xF))
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    mutating func writeInteger(_ value: UInt64) {
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20 && value >= scale {
            digits += 1
            scale = scale &* 10
        }
        self.writeDigits(value, count: digits)
    }

    /// `value` in exactly `count` decimal digits, zero-padded (the caller makes sure it fits).
    mutating func writeDigits(_ value: UInt64, count: Int) {
        let digits = self.reserve(count)
        var rest = value
        for offset in stride(from: count - 1, through: 0, by: -1) {
            digits.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: offset, as: UInt8.self)
            rest /= 10
        }
    }
}
