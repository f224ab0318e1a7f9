import NATSProtocol
import NIOCore
import Testing
import WardenACL
import WardenPolicy

@testable import WardenProxy

/// What nats-server would do on the client's behalf, decided by the state machine without a network:
/// reply subjects, trace headers, JetStream calls, deliveries off the subscription's subject, and the
/// answers that make a refused request fail at once.
struct ContainmentStateMachineTests {
    static let policy = try! ACLLoader.load(sources: [
        (
            "acl.yaml",
            """
            defaults:
              subscribe:
                allow: ["_INBOX.{{service}}.>"]
            services:
              orders:
                publish:
                  allow: ["orders.>", "inventory.reserve", "$JS.API.>"]
                subscribe:
                  allow: ["payments.completed", "orders.>"]
                  deny: ["orders.internal workers"]
              notifications:
                mode: audit
                publish:
                  allow: ["notifications.>"]
            """
        )
    ])

    var machine: ProxyStateMachine
    var out = ProxyOutput()

    init() {
        self.machine = ProxyStateMachine(
            service: "orders", policy: Self.policy.policy(for: "orders"), conn: 3, peer: "127.0.0.1:1")
    }

    mutating func client(_ text: String) throws {
        for frame in try ProxyStateMachineTests.frames(NATSClientParser(), text) {
            self.machine.clientSent(frame, now: 0, into: &self.out)
        }
    }

    mutating func server(_ text: String) throws {
        for frame in try ProxyStateMachineTests.frames(NATSServerParser(), text) {
            self.machine.upstreamSent(frame, now: 0, into: &self.out)
        }
    }

    mutating func connect(_ options: String = #"{"verbose":false,"headers":true,"no_responders":true}"#) throws {
        try self.client("CONNECT \(options)\r\nSUB _INBOX.orders.abc.* 1\r\n")
        self.machine.upstreamBecameReady(into: &self.out)
        self.out.reset()
    }

    var toClient: String { self.out.client.buffers.map { String(buffer: $0) }.joined() }
    var toUpstream: String { self.out.upstream.buffers.map { String(buffer: $0) }.joined() }

    @Test mutating func aRequestWhoseAnswerWouldLandOnAnotherServicesSubjectIsRefusedAndFailsAtOnce() throws {
        try self.connect()
        // orders may receive payments.completed, not publish it: the answer would be its forgery.
        try self.client("PUB inventory.reserve payments.completed 2\r\n{}\r\n")
        #expect(self.toUpstream.isEmpty)
        #expect(self.toClient == "-ERR 'Permissions Violation for Publish with Reply of \"payments.completed\"'\r\n")
        let record = try #require(self.out.records.first)
        #expect(
            record.decision == .deny && record.rule == "default deny (reply subject)"
                && record.reply == "payments.completed")
    }

    @Test mutating func aRefusedRequestIsAnsweredWithTheNoRespondersStatusOnItsInbox() throws {
        try self.connect()
        try self.client("PUB payments.completed _INBOX.orders.abc.7 2\r\nhi\r\n")
        let error = "Permissions Violation for Publish to \"payments.completed\""
        let status = "NATS/1.0 503 \(error)\r\n\r\n"
        #expect(
            self.toClient
                == "-ERR '\(error)'\r\nHMSG _INBOX.orders.abc.7 1 \(status.utf8.count) \(status.utf8.count)\r\n\(status)\r\n"
        )
        #expect(self.out.records.count == 1)
    }

    @Test mutating func aClientWithoutHeadersOrNoRespondersGetsOnlyTheError() throws {
        for options in [#"{"verbose":false}"#, #"{"verbose":false,"headers":true}"#] {
            self.machine = ProxyStateMachine(
                service: "orders", policy: Self.policy.policy(for: "orders"), conn: 3, peer: "p")
            try self.connect(options)
            try self.client("PUB payments.completed _INBOX.orders.abc.7 2\r\nhi\r\n")
            #expect(self.toClient == "-ERR 'Permissions Violation for Publish to \"payments.completed\"'\r\n")
            self.out.reset()
        }
    }

    @Test mutating func theStatusWaitsBehindThePONGsOwedToTheClientLikeTheError() throws {
        try self.connect()
        try self.client("PING\r\nPUB payments.completed _INBOX.orders.abc.7 0\r\n\r\n")
        #expect(self.toClient.isEmpty)
        try self.server("PONG\r\n")
        #expect(
            self.toClient.hasPrefix(
                "PONG\r\n-ERR 'Permissions Violation for Publish to \"payments.completed\"'\r\nHMSG _INBOX.orders.abc.7 1 "
            ))
    }

    @Test mutating func aTraceDestinationTheServiceMayNotPublishToRefusesTheMessage() throws {
        try self.connect()
        let headers = "NATS/1.0\r\nNats-Trace-Dest: payments.failed\r\n\r\n"
        try self.client("HPUB orders.created \(headers.utf8.count) \(headers.utf8.count + 2)\r\n\(headers)hi\r\n")
        #expect(self.toUpstream.isEmpty)
        #expect(self.toClient == "-ERR 'Permissions Violation for Publish to \"payments.failed\"'\r\n")
        let record = try #require(self.out.records.first)
        #expect(
            record.subject == "orders.created" && record.reason == "Nats-Trace-Dest \"payments.failed\""
                && record.rule == "default deny")
        self.out.reset()
        let allowed = "NATS/1.0\r\nNats-Trace-Dest: orders.traces\r\n\r\n"
        try self.client("HPUB orders.created \(allowed.utf8.count) \(allowed.utf8.count)\r\n\(allowed)\r\n")
        #expect(self.toUpstream.hasPrefix("HPUB orders.created"))
    }

    @Test mutating func aRefusedJetStreamCallIsAnsweredAsTheAPIAnswersErrorsWithoutAnERR() throws {
        try self.connect()
        let body = #"{"stream_name":"S","config":{"filter_subject":"orders.x","deliver_subject":"payments.completed"}}"#
        try self.client("PUB $JS.API.CONSUMER.CREATE.S _INBOX.orders.abc.8 \(body.utf8.count)\r\n\(body)\r\n")
        #expect(self.toUpstream.isEmpty)
        #expect(!self.toClient.contains("-ERR"))
        #expect(self.toClient.hasPrefix("MSG _INBOX.orders.abc.8 1 "))
        #expect(
            self.toClient.contains(#""type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":403"#))
        let record = try #require(self.out.records.first)
        #expect(record.decision == .deny && record.reason == #"consumer config.deliver_subject "payments.completed""#)
    }

    @Test mutating func aConsumerFilterInTheAPISubjectIsNotAWildcardPublish() throws {
        try self.connect()
        let body = #"{"stream_name":"S","config":{"name":"C","filter_subject":"orders.>"}}"#
        try self.client(
            "PUB $JS.API.CONSUMER.CREATE.S.C.orders.> _INBOX.orders.abc.9 \(body.utf8.count)\r\n\(body)\r\n")
        #expect(self.toUpstream.hasPrefix("PUB $JS.API.CONSUMER.CREATE.S.C.orders.>"))
        #expect(self.out.records.first?.decision == .allow)
        self.out.reset()
        // A wildcard before the filter part is a wildcard publish, as anywhere else.
        try self.client("PUB $JS.API.CONSUMER.CREATE.*.C.orders.> 0\r\n\r\n")
        #expect(self.out.records.first?.rule == "publish subject must be literal")
    }

    @Test mutating func aJetStreamDeliveryOnAnInboxIsCheckedByTheSubjectItWasStoredOn() throws {
        try self.connect()
        try self.server(
            "MSG orders.created 1 $JS.ACK.S.C.1.1.1.1.0 2\r\nok\r\nMSG secret.plans 1 $JS.ACK.S.C.1.2.2.1.0 2\r\nno\r\n"
        )
        #expect(self.toClient == "MSG orders.created 1 $JS.ACK.S.C.1.1.1.1.0 2\r\nok\r\n")
        let drop = try #require(self.out.records.first)
        #expect(drop.op == .deliver && drop.subject == "secret.plans" && drop.sid == "1" && drop.rule == "default deny")
        #expect(self.out.records.count == 1)
    }

    @Test mutating func storedMessagesCarriedInAnswersAreCheckedByTheirSubject() throws {
        try self.connect()
        let direct = "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: secret.plans\r\nNats-Sequence: 1\r\n\r\n"
        try self.server("HMSG _INBOX.orders.abc.1 1 \(direct.utf8.count) \(direct.utf8.count + 2)\r\n\(direct)no\r\n")
        let get =
            #"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"secret.plans","seq":1,"data":"bm8="}}"#
        try self.server("MSG _INBOX.orders.abc.2 1 \(get.utf8.count)\r\n\(get)\r\n")
        #expect(self.toClient.isEmpty)
        #expect(self.out.records.map(\.subject) == ["secret.plans", "secret.plans"])
        #expect(
            self.out.records.allSatisfy {
                $0.reason?.hasPrefix("stored message carried on \"_INBOX.orders.abc.") == true
            })
        self.out.reset()
        let allowed = direct.replacingOccurrences(of: "secret.plans", with: "orders.created")
        try self.server(
            "HMSG _INBOX.orders.abc.3 1 \(allowed.utf8.count) \(allowed.utf8.count + 2)\r\n\(allowed)ok\r\n")
        #expect(self.toClient.hasPrefix("HMSG _INBOX.orders.abc.3 1"))
        #expect(self.out.records.isEmpty)
    }

    @Test mutating func aCarriedMessageIsCheckedWithTheQueueOfTheSubscriptionThatReceivesIt() throws {
        try self.connect()
        try self.client("SUB orders.> workers 2\r\n")
        self.out.reset()
        let republished = "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: orders.internal\r\nNats-Sequence: 1\r\n\r\n"
        let size = republished.utf8.count
        try self.server("HMSG orders.republished 2 \(size) \(size + 2)\r\n\(republished)no\r\n")
        #expect(self.toClient.isEmpty)
        let drop = try #require(self.out.records.first)
        #expect(drop.op == .deliver && drop.subject == "orders.internal")
        #expect(drop.rule == #"acl.yaml:10 subscribe.deny "orders.internal workers""#)
    }

    @Test mutating func deliveriesThatMatchTheirSubscriptionNeedNoRecord() throws {
        try self.connect()
        try self.client("SUB orders.> 2\r\n")
        self.out.reset()
        try self.server(
            "MSG orders.a 2 1\r\nx\r\nMSG _INBOX.orders.abc.1 1 1\r\ny\r\nHMSG orders.b 2 12 13\r\nNATS/1.0\r\n\r\nz\r\n"
        )
        #expect(self.toClient.components(separatedBy: "MSG ").count - 1 == 3)
        #expect(self.out.records.isEmpty)
    }

    @Test mutating func auditModeRecordsARefusedReplyAndLetsItThrough() throws {
        self.machine = ProxyStateMachine(
            service: "notifications", policy: Self.policy.policy(for: "notifications"), conn: 4, peer: "p")
        try self.connect()
        try self.client("PUB notifications.sent payments.completed 0\r\n\r\n")
        #expect(self.toUpstream.hasPrefix("PUB notifications.sent payments.completed"))
        #expect(self.out.records.first?.decision == .deny && self.out.records.first?.mode == .audit)
        #expect(self.toClient.isEmpty)
    }
}

/// A consumer without a filter reads every subject of its stream: Warden asks nats-server for them first,
/// and holds what the client sends after it until the answer.
extension ContainmentStateMachineTests {
    static let unfiltered = #"{"stream_name":"S","config":{"durable_name":"D"}}"#

    /// The lookup's inbox, from what went upstream.
    func lookupInbox() throws -> String {
        let line = try #require(
            self.toUpstream.split(separator: "\r\n").first { $0.hasPrefix("PUB $JS.API.STREAM.INFO.S ") })
        return String(line.split(separator: " ")[2])
    }

    @Test mutating func aConsumerWithoutFilterWaitsForItsStreamsSubjectsAndWhatFollowsWaitsBehindIt() throws {
        try self.connect()
        let body = Self.unfiltered
        try self.client(
            "PUB $JS.API.CONSUMER.DURABLE.CREATE.S.D _INBOX.orders.abc.1 \(body.utf8.count)\r\n\(body)\r\nPUB orders.after 0\r\n\r\nPING\r\n"
        )
        #expect(self.toUpstream.hasPrefix("SUB _WARDEN."))
        #expect(
            !self.toUpstream.contains("CONSUMER") && !self.toUpstream.contains("orders.after")
                && !self.toUpstream.contains("PING"))
        #expect(self.out.records.isEmpty)
        let inbox = try self.lookupInbox()
        self.out.reset()
        let info =
            #"{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"S","subjects":["orders.>"]}}"#
        try self.server("MSG \(inbox) _warden_lookup \(info.utf8.count)\r\n\(info)\r\n")
        // The answer is Warden's: the client sees nothing of it; then everything goes, in order.
        #expect(self.toClient.isEmpty)
        #expect(
            self.toUpstream
                == "PUB $JS.API.CONSUMER.DURABLE.CREATE.S.D _INBOX.orders.abc.1 \(body.utf8.count)\r\n\(body)\r\nPUB orders.after 0\r\n\r\nPING\r\n"
        )
        #expect(self.out.records.map(\.decision) == [.allow, .allow])
        #expect(self.out.records.first?.subject == "$JS.API.CONSUMER.DURABLE.CREATE.S.D")
    }

    @Test mutating func aConsumerWithoutFilterOnAStreamWithSubjectsTheServiceMayNotReadIsRefused() throws {
        try self.connect()
        let body = Self.unfiltered
        try self.client("PUB $JS.API.CONSUMER.DURABLE.CREATE.S.D _INBOX.orders.abc.1 \(body.utf8.count)\r\n\(body)\r\n")
        let inbox = try self.lookupInbox()
        self.out.reset()
        let info = #"{"config":{"name":"S","subjects":["orders.>","secret.>"]}}"#
        try self.server("MSG \(inbox) _warden_lookup \(info.utf8.count)\r\n\(info)\r\n")
        #expect(self.toUpstream.isEmpty)
        #expect(self.toClient.contains(#""error":{"code":403"#) && self.toClient.contains(#"secret.>"#))
        #expect(
            self.out.records.first?.reason
                == #"consumer config without filter_subject: the stream's subject "secret.>""#)
    }

    @Test mutating func aLookupThatTimesOutDecidesTheConsumerAsReadingEverySubject() throws {
        try self.connect()
        let body = Self.unfiltered
        try self.client(
            "PUB $JS.API.CONSUMER.DURABLE.CREATE.S.D _INBOX.orders.abc.1 \(body.utf8.count)\r\n\(body)\r\nPUB orders.after 0\r\n\r\n"
        )
        let number = try #require(self.out.lookupStarted)
        self.out.reset()
        self.machine.streamLookupTimedOut(number, now: 0, into: &self.out)
        #expect(self.toClient.contains(#""error":{"code":403"#))
        #expect(self.toUpstream == "PUB orders.after 0\r\n\r\n")
        // An answer that comes after is for no pending lookup, and changes nothing.
        self.out.reset()
        try self.server("MSG _WARDEN.x.\(number) _warden_lookup 2\r\n{}\r\n")
        #expect(self.toClient.isEmpty && self.toUpstream.isEmpty && self.out.records.isEmpty)
    }
}
