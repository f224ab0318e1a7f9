import NATSProtocol
import NIOCore
import Testing

@testable import WardenAudit
@testable import WardenProxy

/// A subject is bytes; Warden's parser reads SUB's as text. A SUB whose subject or queue is not UTF-8 is
/// refused rather than decided by the text made of it, and recorded with its own bytes.
struct NonUTF8SubjectTests {
    var states = ProxyStateMachineTests()

    mutating func send(_ bytes: [UInt8]) throws {
        var parser = NATSClientParser()
        var buffer = ByteBuffer(bytes: bytes)
        while let frame = try parser.next(&buffer) {
            self.states.machine.clientSent(frame, now: 0, into: &self.states.out)
        }
    }

    @Test mutating func aSubscriptionToBytesThatAreNotUTF8IsRefusedAndRecordedAsTheyAre() throws {
        try self.states.client("CONNECT {\"verbose\":false}\r\n")
        self.states.machine.upstreamBecameReady(into: &self.states.out)
        // `orders.>` is allowed: decided by its text, `orders.<U+FFFD>` would be too.
        try self.send(Array("SUB orders.".utf8) + [0xff] + Array(" 1\r\n".utf8))
        try self.send(Array("SUB orders.".utf8) + [0xfe] + Array(" 2\r\n".utf8))
        try self.send(Array("SUB orders.a work".utf8) + [0xff] + Array(" 3\r\n".utf8))
        try self.send(Array("SUB orders.\u{FFFD} 4\r\n".utf8))
        // Only the SUB whose subject really is U+FFFD goes upstream.
        #expect(self.states.toUpstream.components(separatedBy: "SUB ").count == 2)
        #expect(self.states.toUpstream.contains("SUB orders.\u{FFFD} 4\r\n"))
        let errors = self.states.toClient.components(separatedBy: "Permissions Violation for Subscription").count - 1
        #expect(errors == 3)
        let records = self.states.out.records.filter { $0.op == .sub }
        #expect(records.count == 4)
        var lines: [String] = []
        for record in records {
            var bytes: [UInt8] = []
            record.encode(into: &bytes, microseconds: 0)
            lines.append(String(decoding: bytes, as: UTF8.self))
        }
        #expect(Set(lines).count == 4)
        #expect(lines[0].contains(#""subject":"orders.\\xff","subject_escaped":true"#), "\(lines[0])")
        #expect(lines[1].contains(#""subject":"orders.\\xfe","subject_escaped":true"#), "\(lines[1])")
        #expect(lines[2].contains(#""reason":"queue group is not UTF-8: work\\xff""#), "\(lines[2])")
        #expect(lines[0].contains(#""decision":"deny""#) && lines[0].contains(#""rule":"invalid subject""#))
        #expect(lines[3].contains(#""decision":"allow""#) && !lines[3].contains("escaped"))
    }
}
