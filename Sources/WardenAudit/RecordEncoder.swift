import NATSProtocol
package import NIOCore
import WardenPolicy

/// Encodes decision records into a buffer, one JSON object and a newline each.
///
/// A record is written in one pass into space reserved for the most it can take, so each piece is a
/// plain copy rather than a growth check on an array. What records repeat is encoded once: a
/// connection's own fields (`ConnectionFields`), the date and time of day (once a second), and the
/// text of each rule named (`RuleTexts`). The event loop's sessions share one encoder
/// (`RecordBatch`).
package struct RecordEncoder {
    /// The records encoded and not yet handed to the log.
    package private(set) var bytes: ByteBuffer
    private var timestamp = RFC3339.SecondCache()
    private var rules = RuleTexts()

    /// A buffer that grew past this in a burst is not kept once the log has taken it. A read cycle's
    /// records fill up to a few hundred KiB at bulk rates (a 64 KiB read of small messages is a
    /// thousand records or more); a loop's buffer keeps that size rather than grow again every cycle.
    static let largestKept = 1 << 20
    /// The most the fixed parts of a record take: every field name and punctuation (127 bytes), the
    /// timestamp (27), the enumerated values (19: `allow`, `connect`, `enforce`) and the size (20).
    static let fixedBound = 256

    package init() {
        self.bytes = ByteBufferAllocator().buffer(capacity: 0)
    }

    package var isEmpty: Bool { self.bytes.readableBytes == 0 }

    /// Forgets the records once the log has them, keeping the buffer unless a burst grew it.
    package mutating func removeAll() {
        if self.bytes.capacity > Self.largestKept {
            self.bytes = ByteBufferAllocator().buffer(capacity: 0)
        } else {
            self.bytes.clear()
        }
    }

    package mutating func encode(_ records: [DecisionRecord], connection: ConnectionFields, microseconds: Int64) {
        // Records are read in place: a `for in` would copy each, a retain and a release per field.
        records.withUnsafeBufferPointer { records in
            for index in records.indices {
                self.encode(records[index], connection: connection, microseconds: microseconds)
            }
        }
    }

    package mutating func encode(_ record: DecisionRecord, connection: ConnectionFields, microseconds: Int64) {
        // Records of the connection (all but the odd one in tests) use its fields as encoded already.
        let fields = connection.describe(record) ? connection : record.connectionFields
        let rule = self.rules.json(for: record.rule)
        var bound = Self.fixedBound + fields.json.count + rule.count
        bound += 3 * RecordCursor.escapedFlagBound
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
            cursor.writeField(#","subject":"#, wire: record.subject, escapedFlag: #","subject_escaped":true"#)
            cursor.writeField(#","queue":"#, record.queue)
            cursor.writeField(#","reply":"#, wire: record.reply, escapedFlag: #","reply_escaped":true"#)
            if let size = record.size {
                cursor.write(#","size":"#)
                cursor.writeInteger(UInt64(max(0, size)))
            }
            cursor.writeField(#","sid":"#, wire: record.sid, escapedFlag: #","sid_escaped":true"#)
            cursor.writeField(#","reason":"#, record.reason)
            cursor.writeField(#","identity":"#, record.identity)
            cursor.writeField(#","serial":"#, record.serial)
            cursor.write("}\n")
            return cursor.written
        }
        self.timestamp = timestamp
    }
}
