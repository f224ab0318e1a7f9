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

@Suite struct FrameReaderTests {
    @Test func framesSplitAcrossReadsComeOutWholeAndNothingIsHeldWhenAllIsRead() throws {
        var reader = FrameReader(NATSClientParser())
        reader.receive(ByteBuffer(string: "PUB a 5\r\nhel"))
        #expect(try reader.next() == nil)
        #expect(reader.hasUnreadBytes)

        reader.receive(ByteBuffer(string: "lo\r\nPING\r\nPONG\r\n"))
        #expect(try reader.next().map { String(buffer: $0.raw) } == "PUB a 5\r\nhello\r\n")
        #expect(try reader.next().map { String(buffer: $0.raw) } == "PING\r\n")
        #expect(reader.hasUnreadBytes)
        #expect(try reader.next().map { String(buffer: $0.raw) } == "PONG\r\n")
        #expect(!reader.hasUnreadBytes)
        #expect(try reader.next() == nil)

        reader.receive(ByteBuffer())
        #expect(!reader.hasUnreadBytes)
    }

    @Test func aViolationIsThrownAfterTheFramesBeforeIt() throws {
        var reader = FrameReader(NATSClientParser())
        reader.receive(ByteBuffer(string: "PING\r\nBOGUS\r\n"))
        #expect(try reader.next()?.operation == .ping)
        let error = #expect(throws: NATSProtocolError.self) { try reader.next() }
        #expect(error?.wireText == "Unknown Protocol Operation")
    }
}

@Suite struct SessionCoreTests {
    /// A sink whose log is never handed a batch: the records stay in the core's batch to be read.
    static let folder = try! TemporaryDirectory()
    static let sink = DecisionSink(
        log: try! DecisionLog(path: folder.appending("decisions.jsonl"), logger: Logger(label: "test")),
        metrics: BrokerMetrics(), audit: nil)

    static func core() -> SessionCore {
        let machine = ProxyStateMachine(
            service: "orders", policy: ProxyStateMachineTests.policy.policy(for: "orders"), conn: 9,
            peer: "127.0.0.1:6000")
        return SessionCore(
            machine: machine, maxPayload: 1024, records: RecordBatch(),
            counters: Self.sink.metrics.decisionCounters(service: "orders", mode: .enforce), sink: Self.sink)
    }

    static func records(_ core: SessionCore) throws -> [DecisionLogEntry] {
        try String(buffer: core.records.encoder.bytes).split(separator: "\n").map {
            try DecisionLogEntry(line: Data($0.utf8))
        }
    }

    @Test func bytesSplitAnywhereAreDecidedRecordedAndAnsweredInOrder() throws {
        var core = Self.core()
        try core.clientReceived(ByteBuffer(string: "CONNECT {\"verbose\":false}\r\nPUB orders.a 1\r\nx\r\nPUB no"))
        try core.clientReceived(ByteBuffer(string: "pe 1\r\ny\r\n"))
        core.upstreamBecameReady(proxySignature: nil)
        #expect(core.out.upstream.buffers.map { String(buffer: $0) }.joined().hasSuffix("PUB orders.a 1\r\nx\r\n"))
        #expect(
            core.out.client.buffers.map { String(buffer: $0) } == [
                "-ERR 'Permissions Violation for Publish to \"nope\"'\r\n"
            ])

        let records = try Self.records(core)
        #expect(records.map { $0["subject"] as? String } == ["orders.a", "nope"])
        #expect(records.map { $0["decision"] as? String } == ["allow", "deny"])
        #expect(records.allSatisfy { $0["conn"] as? Int == 9 && $0["peer"] as? String == "127.0.0.1:6000" })
    }

    @Test func framesAfterOneThatClosesAreNotDecided() throws {
        var core = Self.core()
        // An operation before CONNECT closes the connection; the publish after it is never decided.
        try core.clientReceived(ByteBuffer(string: "SUB orders.a 1\r\nPUB orders.b 1\r\nx\r\n"))
        #expect(core.out.close != nil)
        #expect(try Self.records(core).map { $0["op"] as? String } == ["sub"])
    }

    @Test func aViolationIsThrownAfterTheFramesBeforeItWereDecided() throws {
        var core = Self.core()
        let error = #expect(throws: NATSProtocolError.self) {
            try core.clientReceived(ByteBuffer(string: "CONNECT {}\r\nPUB orders.a 1\r\nx\r\nPUB orders.a 2000\r\n"))
        }
        #expect(error?.code == .maxPayloadExceeded)
        #expect(try Self.records(core).map { $0["subject"] as? String } == ["orders.a"])
    }
}
