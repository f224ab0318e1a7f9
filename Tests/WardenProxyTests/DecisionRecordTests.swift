import Foundation
import Logging
import NATSProtocol
import NIOCore
import NIOEmbedded
import Testing
import WardenACL
import WardenPolicy
import WardenTestSupport

@testable import WardenAudit
@testable import WardenMetrics
@testable import WardenProxy

struct DecisionRecordTests {
    @Test func encodesOneJSONObjectPerLineWithTheContractFields() throws {
        let record = DecisionRecord(
            decision: .deny, op: .pub, service: "orders", conn: 42, peer: "[::1]:5000", mode: .enforce,
            rule: #"acl.yaml:3 publish.deny "a.\"b""#, subject: "a.\"b\\\u{1}é", reply: "_INBOX.x", size: 12)
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: 1_764_000_000_123_456)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        #expect(object["ts"] as? String == "2025-11-24T16:00:00.123456Z")
        #expect(object["decision"] as? String == "deny")
        #expect(object["op"] as? String == "pub")
        #expect(object["service"] as? String == "orders")
        #expect(object["conn"] as? Int == 42)
        #expect(object["peer"] as? String == "[::1]:5000")
        #expect(object["mode"] as? String == "enforce")
        #expect(object["rule"] as? String == #"acl.yaml:3 publish.deny "a.\"b""#)
        #expect(object["subject"] as? String == "a.\"b\\\u{1}é")
        #expect(object["reply"] as? String == "_INBOX.x")
        #expect(object["size"] as? Int == 12)
        #expect(object["queue"] == nil)
    }

    /// Subjects arrive as bytes, which need not be UTF-8; the log line must still be valid JSON, and say
    /// which bytes they were.
    @Test func wireBytesThatAreNotUTF8AreLoggedEscapedAndFlagged() throws {
        let record = DecisionRecord(
            decision: .deny, op: .pub, service: "orders", conn: 1, peer: "127.0.0.1:1", mode: .enforce,
            rule: "default deny",
            subject: WireString(ByteBuffer(bytes: Array("a.\"".utf8) + [0xFF, 0xE2, 0x82])), size: 0)
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        #expect(object["subject"] as? String == #"a."\xff\xe2\x82"#)
        #expect(object["subject_escaped"] as? Bool == true)
    }

    @Test func aSharedEncoderWritesWhatEachRecordWouldAlone() {
        var encoder = RecordEncoder()
        let connection = ConnectionFields(service: "orders", conn: 42, peer: "[::1]:5000")
        let records = [
            DecisionRecord(
                decision: .allow, op: .pub, service: "orders", conn: 42, peer: "[::1]:5000", mode: .enforce,
                rule: "a:1", subject: "x", size: 1),
            DecisionRecord(
                decision: .deny, op: .sub, service: "orders", conn: 42, peer: "[::1]:5000", mode: .audit,
                rule: "b:2 \"q\"", subject: "y", queue: "q"),
            // Not this connection's: encoded with its own fields, not the connection's.
            DecisionRecord(
                decision: .deny, op: .connect, service: nil, conn: 43, peer: "127.0.0.1:1", mode: .enforce,
                rule: "mtls", reason: "r"),
        ]
        // The same second twice, then the next second and the next day; the rules come back after others.
        let times: [Int64] = [
            1_764_000_000_123_456, 1_764_000_000_999_999, 1_764_000_001_000_000, 1_764_086_400_000_001,
            1_764_086_400_000_002,
        ]
        var expected: [UInt8] = []
        for (index, time) in times.enumerated() {
            let record = records[index % records.count]
            record.encode(into: &expected, microseconds: time)
            encoder.encode(record, connection: connection, microseconds: time)
            #expect(String(buffer: encoder.bytes) == String(decoding: expected, as: UTF8.self))
        }
        encoder.removeAll()
        #expect(encoder.isEmpty)
        encoder.encode(records[0], connection: connection, microseconds: 1_764_086_400_000_001)
        #expect(
            String(buffer: encoder.bytes).hasPrefix(
                #"{"ts":"2025-11-25T16:00:00.000001Z","decision":"allow","op":"pub","service":"orders","conn":42,"#))
    }

    /// Every field present, at lengths and contents that take the most room: escapes throughout, and
    /// wire bytes that are not UTF-8. The record must fit the space the encoder reserves (or the
    /// process would stop) and still read back as what was encoded.
    @Test func theLargestRecordsFitTheirReservation() throws {
        let controls = String(decoding: (0..<0x20).map { UInt8($0) } + [0x7F], as: UTF8.self)
        let wire = WireString(ByteBuffer(bytes: (0..<0x20).map { UInt8($0) } + [0x22, 0x5C, 0xFF, 0xC3, 0x28]))
        let record = DecisionRecord(
            decision: .allow, op: .connect, service: controls, conn: .max, peer: controls, mode: .enforce,
            rule: controls + "\"\\", subject: wire, queue: controls, reply: wire, size: .max, reason: controls,
            sid: wire,
            identity: controls, serial: controls)
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: 4_107_542_399_999_999)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        let wireText =
            String(decoding: (0..<0x20).map { UInt8($0) } + [0x22], as: UTF8.self) + #"\\\xff\xc3("#
        #expect(object["service"] as? String == controls)
        #expect(object["conn"] as? UInt64 == .max)
        #expect(object["rule"] as? String == controls + "\"\\")
        #expect(object["subject"] as? String == wireText)
        #expect(object["reply"] as? String == wireText)
        #expect(object["sid"] as? String == wireText)
        #expect(object["size"] as? Int == .max)
        #expect(object["serial"] as? String == controls)
        #expect(object["ts"] as? String == "2100-02-28T23:59:59.999999Z")
        #expect(String(decoding: bytes, as: UTF8.self).contains(#"\u0001"#))
        #expect(String(decoding: bytes, as: UTF8.self).contains(#"\u007f"#))
    }

    /// The encoder remembers the text of the rules it has written; a loop with more rules than it
    /// keeps still writes each record's own.
    @Test func moreRulesThanTheEncoderKeepsAreEachWrittenRight() throws {
        var encoder = RecordEncoder()
        let connection = ConnectionFields(service: "orders", conn: 1, peer: "127.0.0.1:1")
        let rules = (0..<(RuleTexts.capacity * 2 + 3)).map { "acl.yaml:\($0) publish.allow \"orders.\($0)\"" }
        for rule in rules + rules.reversed() {
            let record = DecisionRecord(
                decision: .allow, op: .pub, service: "orders", conn: 1, peer: "127.0.0.1:1", mode: .enforce, rule: rule,
                subject: "orders.x", size: 0)
            encoder.encode(record, connection: connection, microseconds: 0)
        }
        let written = try String(buffer: encoder.bytes).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["rule"] as? String
        }
        #expect(written == rules + rules.reversed())
    }

    /// The sessions of a loop share one batch; handing it to the log empties it, and a batch that a
    /// burst grew is not kept at that size.
    @Test func aBatchGoesToTheLogWhole() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("decisions.jsonl")
        let log = try DecisionLog(path: path, logger: Logger(label: "test"))
        let batch = RecordBatch()
        #expect(batch.submit(to: log))
        var expected: [UInt8] = []
        for conn in 1...3 {
            let connection = ConnectionFields(service: "s\(conn)", conn: UInt64(conn), peer: "127.0.0.1:\(conn)")
            let record = DecisionRecord(
                decision: .allow, op: .pub, service: "s\(conn)", conn: UInt64(conn), peer: "127.0.0.1:\(conn)",
                mode: .enforce,
                rule: "r", subject: WireString(String(repeating: "x", count: 1000)), size: 1)
            // The last connection's burst grows the batch past what is kept.
            repeat {
                batch.encoder.encode(record, connection: connection, microseconds: 0)
                record.encode(into: &expected, microseconds: 0)
            } while conn == 3 && batch.encoder.bytes.readableBytes <= RecordEncoder.largestKept
        }
        #expect(batch.encoder.bytes.capacity > RecordEncoder.largestKept)
        #expect(batch.submit(to: log))
        #expect(batch.isEmpty)
        #expect(batch.encoder.bytes.capacity <= RecordEncoder.largestKept)
        await log.stop()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(decoding: expected, as: UTF8.self))
    }

    /// Escapes and bytes that are not ASCII anywhere in longer text, on either side of each eight-byte
    /// boundary: every subject reads back as it was sent.
    @Test func escapesAnywhereInLongTextReadBack() throws {
        for special in ["\"", "\\", "\n", "\u{7F}", "é", "\u{1}"] {
            for place in 0..<40 {
                var subject = String(repeating: "a", count: 40)
                subject.replaceSubrange(
                    subject.index(
                        subject.startIndex, offsetBy: place)...subject.index(subject.startIndex, offsetBy: place),
                    with: special)
                let record = DecisionRecord(
                    decision: .allow, op: .pub, service: "s", conn: 1, peer: "p", mode: .enforce, rule: subject,
                    subject: WireString(subject), queue: subject, size: 1)
                var bytes: [UInt8] = []
                record.encode(into: &bytes, microseconds: 0)
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
                #expect(object["subject"] as? String == subject)
                #expect(object["rule"] as? String == subject)
                #expect(object["queue"] as? String == subject)
            }
        }
    }

    /// The eight-bytes-at-a-time test agrees with the byte test for every byte value at every place
    /// in a word, and for words mixing bytes of both kinds.
    @Test func wordsAreCheckedForEscapesExactlyAsTheirBytesAre() {
        let plain = UInt64(0x6161_6161_6161_6161)  // "aaaaaaaa"
        #expect(!RecordCursor.anyNeedsAttention(plain))
        for byte in 0...255 {
            for place in 0..<8 {
                let word = plain & ~(UInt64(0xFF) << (8 * place)) | UInt64(byte) << (8 * place)
                #expect(RecordCursor.anyNeedsAttention(word) == RecordCursor.needsAttention(UInt8(byte)))
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            // Mostly bytes next to the edges of the escaped ranges, where a borrow or carry would show.
            let edges: [UInt8] = [
                0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xFE, 0xFF, 0x61,
            ]
            let bytes = (0..<8).map { _ in edges.randomElement(using: &generator)! }
            let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
            #expect(RecordCursor.anyNeedsAttention(word) == bytes.contains(where: RecordCursor.needsAttention))
        }
    }

    @Test func anUnidentifiedClientHasANullService() throws {
        let record = DecisionRecord(
            decision: .deny, op: .connect, service: nil, conn: 1, peer: "127.0.0.1:1", mode: .enforce, rule: "mtls",
            reason: "no client certificate")
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        #expect(object["service"] is NSNull)
        #expect(object["ts"] as? String == "1970-01-01T00:00:00.000000Z")
        #expect(object["reason"] as? String == "no client certificate")
    }

    @Test(arguments: [
        (Int64(951_782_400_000_000), "2000-02-29T00:00:00.000000Z"),
        (Int64(4_107_542_399_999_999), "2100-02-28T23:59:59.999999Z"),
        (Int64(-1), "1969-12-31T23:59:59.999999Z"),
    ])
    func timestampsAreRFC3339UTCWithMicroseconds(microseconds: Int64, expected: String) throws {
        let record = DecisionRecord(
            decision: .allow, op: .pub, service: "s", conn: 1, peer: "p", mode: .enforce, rule: "r")
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: microseconds)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        #expect(object["ts"] as? String == expected)
    }
}
