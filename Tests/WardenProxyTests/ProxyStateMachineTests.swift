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

/// The per-connection logic without any channel: frames in, effects out.
struct ProxyStateMachineTests {
    static let policy = try! ACLLoader.load(sources: [
        (
            "acl.yaml",
            """
            services:
              orders:
                publish:
                  allow: ["orders.>"]
                subscribe:
                  allow: ["orders.>"]
                  deny: ["orders.secret"]
              payments:
                mode: audit
                publish:
                  allow: ["payments.>"]
                allow_responses: true
            """
        )
    ])

    var machine: ProxyStateMachine
    var out = ProxyOutput()

    init(service: String = "orders") {
        self.machine = ProxyStateMachine(
            service: service, policy: Self.policy.policy(for: service), conn: 7, peer: "127.0.0.1:5000")
    }

    static func frames<Parser: NATSFrameParsing>(_ parser: Parser, _ text: String) throws -> [Frame<Parser.Operation>] {
        var parser = parser
        var buffer = ByteBuffer(string: text)
        var frames: [Frame<Parser.Operation>] = []
        while let frame = try parser.next(&buffer) { frames.append(frame) }
        return frames
    }

    mutating func client(_ text: String) throws {
        for frame in try Self.frames(NATSClientParser(), text) {
            self.machine.clientSent(frame, now: 0, into: &self.out)
        }
    }

    mutating func server(_ text: String) throws {
        for frame in try Self.frames(NATSServerParser(), text) {
            self.machine.upstreamSent(frame, now: 0, into: &self.out)
        }
    }

    var toClient: String { self.out.client.buffers.map { String(buffer: $0) }.joined() }
    var toUpstream: String { self.out.upstream.buffers.map { String(buffer: $0) }.joined() }

    @Test mutating func operationsWaitForTheUpstreamAndCONNECTGoesFirstWithoutCredentials() throws {
        try self.client(
            "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\",\"auth_token\":\"t\",\"name\":\"api\",\"echo\":false}\r\nPUB orders.a 1\r\nx\r\nPING\r\n"
        )
        #expect(self.out.upstream.isEmpty)
        self.machine.upstreamBecameReady(into: &self.out)
        let lines = self.toUpstream.split(separator: "\r\n")
        #expect(lines.count == 4)
        let connect = try #require(lines.first)
        #expect(connect.hasPrefix("CONNECT {"))
        #expect(!connect.contains("\"user\"") && !connect.contains("\"pass\"") && !connect.contains("auth_token"))
        #expect(connect.contains(#""name":"warden:orders:api""#))
        #expect(connect.contains(#""echo":false"#))
        #expect(connect.contains(#""verbose":false"#))
        #expect(Array(lines.dropFirst()) == ["PUB orders.a 1", "x", "PING"])
    }

    @Test mutating func anOperationBeforeCONNECTIsRecordedAndClosesTheConnection() throws {
        try self.client("PUB orders.a 1\r\nx\r\n")
        #expect(self.toClient == "-ERR 'Authorization Violation'\r\n")
        #expect(self.out.close != nil)
        #expect(self.out.records.map(\.op) == [.pub])
        #expect(self.out.records.first?.decision == .deny)
        #expect(self.out.upstream.isEmpty)
    }

    @Test mutating func aProtocolViolationIsAnsweredAsNATSServerDoesRecordedAndCloses() throws {
        self.machine.protocolViolation(
            NATSProtocolError(.unknownOperation, "FOO bar"), into: &self.out)
        #expect(self.toClient == "-ERR 'Unknown Protocol Operation'\r\n")
        #expect(self.out.close?.hasPrefix("protocol violation") == true)
        let record = try #require(self.out.records.first)
        #expect(self.out.records.count == 1)
        #expect(record.op == .connect && record.decision == .deny && record.rule == "protocol")
        #expect(record.reason == "Unknown Protocol Operation: FOO bar")
        // Arguments nats-server cannot use: closed without a word, still recorded; nothing after a close.
        var silent = ProxyStateMachineTests()
        silent.machine.protocolViolation(NATSProtocolError(.invalidArguments, "PUB a b c d"), into: &silent.out)
        #expect(silent.toClient == "")
        #expect(silent.out.records.map(\.rule) == ["protocol"])
        silent.machine.protocolViolation(NATSProtocolError(.malformed, "x"), into: &silent.out)
        #expect(silent.out.records.count == 1)
    }

    @Test mutating func probesOfAStalledClientsUpstreamAreWardensOwnPINGsWhosePONGsStayWithWarden() throws {
        // Nothing before the upstream is ready.
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.probeUpstream(into: &self.out)
        self.machine.upstreamBecameReady(into: &self.out)
        #expect(self.toUpstream.components(separatedBy: "PING").count == 1)
        self.out = ProxyOutput()
        // Two probes, then the client's own PING: only the client's PONG reaches it.
        self.machine.probeUpstream(into: &self.out)
        self.machine.probeUpstream(into: &self.out)
        try self.client("PING\r\n")
        #expect(self.toUpstream == "PING\r\nPING\r\nPING\r\n")
        try self.server("PONG\r\nPONG\r\n")
        #expect(self.toClient == "")
        try self.server("PONG\r\n")
        #expect(self.toClient == "PONG\r\n")
        // At most `maxProbes` outstanding.
        self.out = ProxyOutput()
        for _ in 0..<(ProxyStateMachine.maxProbes + 5) { self.machine.probeUpstream(into: &self.out) }
        #expect(self.toUpstream == String(repeating: "PING\r\n", count: ProxyStateMachine.maxProbes))
        // None after the close.
        self.machine.closed()
        self.out = ProxyOutput()
        try self.server(String(repeating: "PONG\r\n", count: ProxyStateMachine.maxProbes))
        self.machine.probeUpstream(into: &self.out)
        #expect(self.out.upstream.isEmpty)
    }

    @Test mutating func aDenyWaitsForThePONGOfAnEarlierPING() throws {
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        try self.client("PING\r\nPUB billing.x 1\r\nx\r\n")
        #expect(self.toClient.isEmpty)
        #expect(self.toUpstream == "PING\r\n")
        try self.server("PONG\r\n")
        #expect(self.toClient == "PONG\r\n-ERR 'Permissions Violation for Publish to \"billing.x\"'\r\n")
    }

    @Test mutating func verboseIsAnsweredByWardenAndOffUpstream() throws {
        try self.client("CONNECT {}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        #expect(self.toUpstream.contains(#""verbose":false"#))
        try self.client("SUB orders.> 1\r\nPUB orders.a 1\r\nx\r\nPUB nope 1\r\nx\r\nUNSUB 1\r\n")
        #expect(self.toClient == "+OK\r\n+OK\r\n+OK\r\n-ERR 'Permissions Violation for Publish to \"nope\"'\r\n+OK\r\n")
    }

    @Test mutating func deliveriesOnADeniedOverlapAreDroppedAndRecorded() throws {
        try self.client("CONNECT {\"verbose\":false}\r\nSUB orders.* 9\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        try self.server("MSG orders.secret 9 2\r\nno\r\nMSG orders.open 9 3\r\nyes\r\n")
        #expect(self.toClient == "MSG orders.open 9 3\r\nyes\r\n")
        #expect(self.out.records.count == 1)
        let drop = try #require(self.out.records.first)
        #expect(drop.op == .deliver && drop.decision == .deny && drop.subject == "orders.secret" && drop.sid == "9")
    }

    @Test mutating func aRepeatedSidDoesNotLiftTheFirstSubscriptionsFilter() throws {
        // nats-server keeps `orders.*` for sid 9 and ignores the second SUB; its filter must stay.
        try self.client("CONNECT {\"verbose\":false}\r\nSUB orders.* 9\r\nSUB orders.open 9\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        try self.server("MSG orders.secret 9 2\r\nno\r\nMSG orders.open 9 3\r\nyes\r\n")
        #expect(self.toClient == "MSG orders.open 9 3\r\nyes\r\n")
        #expect(self.out.records.map(\.op) == [.deliver])
    }

    @Test mutating func deliveriesStillOnTheirWayAfterUNSUBAreFilteredUntilThePONGOfWardensOwnPING() throws {
        try self.client("CONNECT {\"verbose\":false}\r\nSUB orders.* 9\r\nUNSUB 9\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        // The client sent no PING after the UNSUB: Warden sends one of its own.
        #expect(self.toUpstream.hasSuffix("\r\nSUB orders.* 9\r\nUNSUB 9\r\nPING\r\n"))
        self.out.reset()
        // Sent by nats-server before it had the UNSUB: the filter still applies.
        try self.server("MSG orders.secret 9 2\r\nno\r\n")
        #expect(self.toClient.isEmpty)
        #expect(self.out.records.map(\.op) == [.deliver])
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 1)
        // Its PONG: nats-server has nothing more for sid 9. The client never asked for it.
        try self.server("MSG orders.secret 9 2\r\nno\r\nPONG\r\n")
        #expect(self.toClient.isEmpty)
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 0)
        #expect(self.toUpstream.isEmpty)
        self.out.reset()
        // The sid is free again: a new subscription with it has only its own filter.
        try self.client("SUB orders.secret.> 9\r\n")
        try self.server("MSG orders.secret.a 9 3\r\nyes\r\n")
        #expect(self.toClient == "MSG orders.secret.a 9 3\r\nyes\r\n")
    }

    @Test mutating func wardensPINGsGoOneAtATimeAndOnlyTheClientsPONGsReachIt() throws {
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        try self.client("PING\r\nSUB orders.* 1\r\nUNSUB 1\r\nSUB orders.* 2\r\nUNSUB 2\r\nPUB billing.x 1\r\nx\r\n")
        // The client's PING came before the UNSUBs, so Warden sends one after the first; sid 2 waits for it.
        #expect(self.toUpstream == "PING\r\nSUB orders.* 1\r\nUNSUB 1\r\nPING\r\nSUB orders.* 2\r\nUNSUB 2\r\n")
        // The -ERR waits for the client's PONG, not for Warden's.
        #expect(self.toClient.isEmpty)
        self.out.reset()
        try self.server("PONG\r\n")
        #expect(self.toClient == "PONG\r\n-ERR 'Permissions Violation for Publish to \"billing.x\"'\r\n")
        #expect(self.toUpstream.isEmpty)
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 2)
        self.out.reset()
        // Warden's: sid 1 is over. Sid 2 ended after that PING was sent, so Warden sends another.
        try self.server("PONG\r\n")
        #expect(self.toClient.isEmpty)
        #expect(self.toUpstream == "PING\r\n")
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 1)
        self.out.reset()
        try self.server("PONG\r\n")
        #expect(self.toClient.isEmpty && self.toUpstream.isEmpty)
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 0)
        // The client's own PINGs are answered as before.
        try self.client("PING\r\n")
        try self.server("PONG\r\n")
        #expect(self.toClient == "PONG\r\n")
    }

    @Test mutating func aClientPINGAfterTheUNSUBIsEnoughAndAnUnfilteredSubscriptionNeedsNone() throws {
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        // orders.a overlaps no deny entry: nothing is checked for it, before or after its UNSUB.
        try self.client("SUB orders.a 1\r\nUNSUB 1\r\n")
        #expect(self.toUpstream == "SUB orders.a 1\r\nUNSUB 1\r\n")
        self.out.reset()
        try self.client("SUB orders.* 2\r\nUNSUB 2\r\nSUB orders.* 3\r\nUNSUB 3\r\nPING\r\n")
        #expect(self.toUpstream == "SUB orders.* 2\r\nUNSUB 2\r\nPING\r\nSUB orders.* 3\r\nUNSUB 3\r\nPING\r\n")
        self.out.reset()
        // Warden's PONG, then the client's: its PING came after sid 3's UNSUB, so no third PING is needed.
        try self.server("PONG\r\n")
        #expect(self.toClient.isEmpty && self.toUpstream.isEmpty)
        try self.server("PONG\r\n")
        #expect(self.toClient == "PONG\r\n" && self.toUpstream.isEmpty)
        #expect(self.machine.endedSubscriptionsAwaitingPONG == 0)
    }

    @Test mutating func endedSubscriptionsDoNotPileUpForAClientThatNeverPINGs() throws {
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        var pingsUnanswered = 0
        for sid in 1...1_000 {
            try self.client("SUB orders.* \(sid)\r\nUNSUB \(sid)\r\n")
            pingsUnanswered += self.toUpstream.components(separatedBy: "PING\r\n").count - 1
            self.out.reset()
            // nats-server answers each PING a little later: every tenth subscription.
            if sid % 10 == 0 {
                #expect(pingsUnanswered <= 1)
                #expect(self.machine.endedSubscriptionsAwaitingPONG <= 10)
                while pingsUnanswered > 0 {
                    try self.server("PONG\r\n")
                    pingsUnanswered -= 1
                    pingsUnanswered += self.toUpstream.components(separatedBy: "PING\r\n").count - 1
                    #expect(self.toClient.isEmpty)
                    self.out.reset()
                }
                #expect(self.machine.endedSubscriptionsAwaitingPONG == 0)
            }
        }
    }

    @Test func anAutoUnsubscribeEndsTheSubscriptionAfterItsLastDelivery() {
        let policy = ProxyStateMachineTests.policy.policy(for: "orders")!
        let filter = policy.decideSubscribe(subject: "orders.*").deliveryFilter
        #expect(!filter.isEmpty)
        var table = SubscriptionTable()
        table.subscribed(sid: "1", .init(subject: "orders.*", filter: filter))
        table.unsubscribed(sid: "1", max: 2, pingsForwarded: 0)
        #expect(table.delivery(sid: "1", subject: "orders.secret", policy: policy)?.verdict == .deny)
        #expect(table.live["1"] != nil)
        #expect(table.delivery(sid: "1", subject: "orders.a", policy: policy) == nil)
        // That was the second: nats-server has ended it, and nothing is left to check.
        #expect(table.live["1"] == nil)
        #expect(!table.needsChecks)
    }

    @Test func theEndOfAnAutoUnsubscribeKeepsTheFilterOfALaterSubscriptionWithTheSid() {
        let policy = ProxyStateMachineTests.policy.policy(for: "orders")!
        var table = SubscriptionTable()
        table.subscribed(sid: "1", .init(subject: "orders.a"))
        // nats-server counts from the SUB: if orders.a had a delivery already, it ended here, and the
        // next SUB is the subscription it holds for sid 1.
        table.unsubscribed(sid: "1", max: 1, pingsForwarded: 0)
        table.subscribed(
            sid: "1", .init(subject: "orders.*", filter: policy.decideSubscribe(subject: "orders.*").deliveryFilter))
        // The delivery that ends Warden's count; orders.* stays, with its filter.
        #expect(table.delivery(sid: "1", subject: "orders.a", policy: policy) == nil)
        #expect(table.live["1"]?.map(\.subject) == ["orders.*"])
        #expect(table.delivery(sid: "1", subject: "orders.secret", policy: policy)?.verdict == .deny)
        #expect(table.delivery(sid: "1", subject: "orders.secret", policy: policy)?.verdict == .deny)
    }

    static func reloaded(_ yaml: String, _ service: String) throws -> ServicePolicy? {
        try ACLLoader.load(sources: [("acl.yaml", yaml)]).policy(for: service)
    }

    @Test mutating func aReloadRemovesSubscriptionsNoLongerAllowedAsNATSServerDoes() throws {
        try self.client("CONNECT {\"verbose\":false}\r\nSUB orders.* 4\r\nSUB orders.a.> q 5\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        let policy = try Self.reloaded("services:\n  orders:\n    subscribe:\n      allow: [\"orders.*\"]\n", "orders")
        let removed = self.machine.policyChanged(to: policy, now: 0, into: &self.out)
        #expect(removed == 1)
        // Warden's own PING: its PONG says nothing more comes for sid 5.
        #expect(self.toUpstream == "UNSUB 5\r\nPING\r\n")
        #expect(self.toClient == "-ERR 'Permissions Violation for Subscription to \"orders.a.>\" (sid \"5\")'\r\n")
        let removal = try #require(self.out.records.first)
        #expect(self.out.records.count == 1)
        #expect(removal.op == .sub && removal.decision == .deny && removal.mode == .enforce)
        #expect(removal.subject == "orders.a.>" && removal.queue == "q" && removal.sid == "5")
        #expect(removal.reason == "acl reload" && removal.rule == "default deny")
        self.out.reset()
        // Sent by nats-server before it had the UNSUB: dropped. The kept subscription lost its filter
        // (the new ACLs deny nothing), so orders.secret is delivered on it now.
        try self.server("MSG orders.a.b 5 1\r\nx\r\nMSG orders.secret 4 1\r\nx\r\n")
        #expect(self.toClient == "MSG orders.secret 4 1\r\nx\r\n")
        #expect(self.out.records.map(\.op) == [.deliver])
        #expect(self.out.records.first?.sid == "5")
    }

    @Test func aReloadRecordsWhatAnAuditModeServiceKeepsAlthoughItIsNowDenied() throws {
        var test = ProxyStateMachineTests(service: "payments")
        try test.client("CONNECT {\"verbose\":false}\r\nSUB payments.x 1\r\n")
        test.machine.upstreamBecameReady(into: &test.out)
        test.out.reset()
        let policy = try Self.reloaded("services:\n  payments:\n    mode: audit\n", "payments")
        let removed = test.machine.policyChanged(to: policy, now: 0, into: &test.out)
        #expect(removed == 0)
        #expect(test.toUpstream.isEmpty && test.toClient.isEmpty)
        #expect(test.out.records.map(\.mode) == [.audit])
        #expect(test.out.records.first?.reason == "acl reload")
    }

    @Test mutating func aReloadBeforeCONNECTOnlyChangesThePolicy() throws {
        let policy = try Self.reloaded("services:\n  orders:\n    publish:\n      allow: [\"billing.>\"]\n", "orders")
        let removed = self.machine.policyChanged(to: policy, now: 0, into: &self.out)
        #expect(removed == 0)
        try self.client("CONNECT {\"verbose\":false}\r\nPUB billing.x 1\r\nx\r\nPUB orders.a 1\r\nx\r\n")
        #expect(self.out.records.map(\.decision) == [.allow, .deny])
    }

    @Test func auditModeRecordsTheDenyAndLetsItThrough() throws {
        var test = ProxyStateMachineTests(service: "payments")
        try test.client("CONNECT {\"verbose\":false}\r\n")
        test.machine.upstreamBecameReady(into: &test.out)
        test.out.reset()
        try test.client("PUB orders.a 1\r\nx\r\n")
        #expect(test.toUpstream == "PUB orders.a 1\r\nx\r\n")
        #expect(test.toClient.isEmpty)
        #expect(test.out.records.first?.decision == .deny)
        #expect(test.out.records.first?.mode == .audit)
    }

    @Test mutating func upstreamINFOUpdatesLoseAddressesAndNonces() throws {
        try self.client("CONNECT {\"verbose\":false}\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
        try self.server(
            #"INFO {"server_id":"N1","version":"2.15.1","connect_urls":["10.0.0.1:4222"],"ws_connect_urls":["x"],"nonce":"abc","host":"10.0.0.1","port":4222,"client_ip":"10.9.9.9","ldm":true,"headers":true}"#
                + "\r\n")
        let line = self.toClient
        #expect(line.hasPrefix("INFO {"))
        for leak in ["connect_urls", "10.0.0.1", "nonce", "4222", "ws_connect_urls", "10.9.9.9"] {
            #expect(!line.contains(leak), "\(leak) leaked")
        }
        #expect(line.contains(#""ldm":true"#))
        #expect(line.contains(#""client_id":7"#))
    }

    @Test mutating func noRespondersWithoutHeadersClosesWithNATSServersError() throws {
        try self.client("CONNECT {\"no_responders\":true}\r\n")
        #expect(self.toClient == "-ERR 'no responders requires headers support'\r\n")
        #expect(self.out.close != nil)
    }

    @Test mutating func anUnknownServiceIsDeniedEverything() throws {
        var test = ProxyStateMachineTests(service: "ghost")
        try test.client("CONNECT {\"verbose\":false}\r\nPUB orders.a 1\r\nx\r\nSUB orders.a 1\r\n")
        #expect(test.out.records.map(\.decision) == [.deny, .deny])
        #expect(test.out.records.first?.rule == "default deny (service not defined in any ACL file)")
        test.machine.upstreamBecameReady(into: &test.out)
        #expect(!test.toUpstream.contains("PUB") && !test.toUpstream.contains("SUB"))
    }
}

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

@Suite struct OutboundBatchTests {
    @Test func smallFramesBecomeOneBufferAndLargeOnesStaySlicesInOrder() {
        var batch = OutboundBatch()
        let large = ByteBuffer(repeating: UInt8(ascii: "L"), count: OutboundBatch.sliceThreshold)
        batch.append(ByteBuffer(string: "PUB a 1\r\nx\r\n"))
        batch.append(ByteBuffer(string: "PING\r\n"))
        batch.append(large)
        batch.append(ByteBuffer(string: "PONG\r\n"))

        #expect(batch.buffers.count == 3)
        #expect(
            batch.buffers.map { String(buffer: $0) } == ["PUB a 1\r\nx\r\nPING\r\n", String(buffer: large), "PONG\r\n"])
        #expect(batch.buffers[1] == large)

        batch.removeAll()
        #expect(batch.isEmpty)
        batch.append(ByteBuffer(string: "+OK\r\n"))
        #expect(batch.buffers.map { String(buffer: $0) } == ["+OK\r\n"])
    }
}

extension OutboundBatchTests {
    static func pooledBatch() -> OutboundBatch {
        var batch = OutboundBatch()
        batch.pool = BatchBufferPool()
        return batch
    }

    static func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { $0.baseAddress }
    }

    /// Written batches go back to the loop's pool; once the channel has let go of a buffer, the next
    /// batch writes into the same memory instead of allocating.
    @Test func aBufferTheChannelHasWrittenIsFilledAgain() throws {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(string: "PUB a 1\r\nx\r\n"))
        let first = Self.address(batch.buffers[0])
        batch.write(to: channel)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "PUB a 1\r\nx\r\n")
        #expect(batch.pool!.count == 1)

        batch.append(ByteBuffer(string: "PING\r\n"))
        #expect(Self.address(batch.buffers[0]) == first)
        #expect(batch.buffers.map { String(buffer: $0) } == ["PING\r\n"])
        #expect(batch.pool!.count == 0)
    }

    /// A buffer the channel still holds (a write waiting for a slow peer) is never written into:
    /// the next batch gets other memory and the waiting bytes go out as they were.
    @Test func aBufferStillWaitingToBeWrittenIsNeverReused() throws {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(string: "MSG a 1 1\r\nx\r\n"))
        let waiting = Self.address(batch.buffers[0])
        batch.write(to: channel)  // not flushed: the channel still holds it
        #expect(batch.pool!.count == 1)
        #expect(batch.pool!.take() == nil)

        batch.append(ByteBuffer(string: "MSG b 1 1\r\ny\r\n"))
        #expect(Self.address(batch.buffers[0]) != waiting)
        batch.write(to: channel)
        channel.flush()
        let written = try [channel.readOutbound(as: ByteBuffer.self), channel.readOutbound(as: ByteBuffer.self)]
        #expect(written.map { $0.map { String(buffer: $0) } } == ["MSG a 1 1\r\nx\r\n", "MSG b 1 1\r\ny\r\n"])
    }

    /// Slices of received bytes passed on whole are not the batch's to reuse.
    @Test func slicesPassedOnAreNotKept() {
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(repeating: UInt8(ascii: "L"), count: OutboundBatch.sliceThreshold))
        batch.removeAll()
        #expect(batch.pool!.count == 0)
    }
}

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
