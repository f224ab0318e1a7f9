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
