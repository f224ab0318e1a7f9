import Foundation
import NATSClient
import NIOConcurrencyHelpers
import Testing
import WardenPKI
import WardenTestSupport

/// Warden end to end: a real nats-server locked to Warden's identity, real nats.c clients with enrolled
/// certificates, real TLS on loopback, and the decision log read back from its file.
@Suite(.serialized)
struct ProxyEndToEndTests {
    @Test func allowedPublishIsDeliveredAndRecorded() async throws {
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.created")
            try payments.flush()
            let orders = try warden.client("orders")
            try orders.publish("orders.created", "hello")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.text == "hello")

            let connects = try await warden.records(op: "connect")
            #expect(connects.count == 2)
            for record in connects {
                #expect(record["decision"] as? String == "allow")
                #expect(record["rule"] as? String == "mtls")
                #expect((record["identity"] as? String)?.hasPrefix("spiffe://test.warden/service/") == true)
            }
            let subs = try await warden.records(op: "sub", subject: "orders.created")
            #expect(subs.count == 1)
            #expect(subs.first?["service"] as? String == "payments")
            #expect(subs.first?["decision"] as? String == "allow")

            let pubs = try await warden.records(op: "pub", subject: "orders.created")
            #expect(pubs.count == 1)
            let pub = try #require(pubs.first)
            #expect(pub["decision"] as? String == "allow")
            #expect(pub["service"] as? String == "orders")
            #expect(pub["mode"] as? String == "enforce")
            #expect(pub["size"] as? Int == 5)
            #expect((pub["rule"] as? String)?.hasSuffix(#"publish.allow "orders.>""#) == true)
            #expect((pub["rule"] as? String)?.contains("services.yaml:") == true)
            #expect(pub["conn"] is Int)
            let peer = try #require(pub["peer"] as? String)
            #expect(peer.hasPrefix("127.0.0.1:"))
            let ts = try #require(pub["ts"] as? String)
            #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil)
        }
    }

    @Test func deniedPublishGetsTheNATSErrorIsNotDeliveredAndTheConnectionStaysUsable() async throws {
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()
            let orders = try warden.client("orders")
            try orders.publish("orders.internal.audit", "secret")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "orders.internal.audit""#))
            #expect(subscription.next(timeoutMilliseconds: 300) == nil)

            try orders.publish("orders.created", "after")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.subject == "orders.created")
            #expect(!orders.isClosed)

            let denied = try await warden.records(op: "pub", subject: "orders.internal.audit")
            #expect(denied.count == 1)
            #expect(denied.first?["decision"] as? String == "deny")
            #expect((denied.first?["rule"] as? String)?.hasSuffix(#"publish.deny "orders.internal.>""#) == true)
        }
    }

    @Test func deniedSubscribeGetsTheNATSErrorAndTheConnectionStaysUsable() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let denied = try orders.subscribe("inventory.stock")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Subscription to "inventory.stock""#))

            let payments = try warden.client("payments")
            try payments.publish("payments.completed", "x")
            try payments.flush()
            #expect(denied.next(timeoutMilliseconds: 200) == nil)
            let allowed = try orders.subscribe("payments.completed")
            try orders.flush()
            try payments.publish("payments.completed", "y")
            try payments.flush()
            #expect(allowed.next(timeoutMilliseconds: 3000)?.text == "y")

            let records = try await warden.records(op: "sub", subject: "inventory.stock")
            #expect(records.count == 1)
            #expect(records.first?["decision"] as? String == "deny")
            #expect(records.first?["rule"] as? String == "default deny")
        }
    }

    @Test func aSingleTokenWildcardDoesNotAdmitAFullWildcard() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let wide = try orders.subscribe("foo.>")
            let narrow = try orders.subscribe("foo.*")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Subscription to "foo.>""#))
            // The audit-mode observer may publish anywhere (denied, recorded, let through).
            let observer = try warden.client("observer")
            try observer.publish("foo.a", "one")
            try observer.publish("foo.a.b", "two")
            try observer.flush()
            #expect(narrow.next(timeoutMilliseconds: 3000)?.subject == "foo.a")
            #expect(narrow.next(timeoutMilliseconds: 200) == nil)
            #expect(wide.next(timeoutMilliseconds: 200) == nil)

            let audit = try await warden.records(op: "pub", subject: "foo.a.b")
            #expect(audit.first?["decision"] as? String == "deny")
            #expect(audit.first?["mode"] as? String == "audit")
        }
    }

    @Test func aWildcardSubscriptionOverADenyDropsTheDeniedSubjectAndLogsTheDrop() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let subscription = try orders.subscribe("payments.>")
            try orders.flush()
            #expect(orders.asyncErrors.isEmpty)
            let payments = try warden.client("payments")
            try payments.publish("payments.secret", "hidden")
            try payments.publish("payments.completed", "visible")
            try payments.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.subject == "payments.completed")
            #expect(subscription.next(timeoutMilliseconds: 300) == nil)

            let drops = try await warden.records(op: "deliver")
            #expect(drops.count == 1)
            let drop = try #require(drops.first)
            #expect(drop["decision"] as? String == "deny")
            #expect(drop["subject"] as? String == "payments.secret")
            #expect(drop["service"] as? String == "orders")
            #expect((drop["rule"] as? String)?.hasSuffix(#"subscribe.deny "payments.secret""#) == true)
        }
    }

    @Test func queueGroupEntriesAdmitOnlyTheirGroup() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let workers = try orders.subscribe("jobs.*", queue: "workers")
            _ = try orders.subscribe("jobs.*", queue: "others")
            _ = try orders.subscribe("jobs.*")
            try orders.flush()
            // nats.c reports refusals by subject only, and may fold repeats; the exact wire texts, with
            // the queue, are checked in WireProtocolTests.
            #expect(await orders.reported(#"Permissions Violation for Subscription to "jobs.*""#))
            try orders.publish("jobs.run", "go")
            try orders.flush()
            #expect(workers.next(timeoutMilliseconds: 3000)?.text == "go")

            let subs = try await warden.records(op: "sub", subject: "jobs.*")
            #expect(subs.map { $0["decision"] as? String } == ["allow", "deny", "deny"])
            #expect(subs.first?["queue"] as? String == "workers")
        }
    }

    @Test func requestReplyUsesAllowResponsesOnceWhenMaxIsOne() async throws {
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let requests = try payments.subscribe("rpc.charge")
            try payments.flush()
            let orders = try warden.client("orders")
            // nats.c's request blocks its thread: run it on a thread of its own, started here and now
            // (a Task could wait for a cooperative thread while other suites block theirs).
            let reply = NIOLockedValueBox<Result<String, NATSClient.Failure>?>(nil)
            Thread {
                let result = Result { () throws(NATSClient.Failure) in
                    try orders.request("rpc.charge", "42", timeoutMilliseconds: 3000).text
                }
                reply.withLockedValue { $0 = result }
            }.start()
            guard let request = requests.next(timeoutMilliseconds: 5000) else {
                let records = try await warden.records()
                Issue.record(
                    "no request arrived; requester: \(String(describing: reply.withLockedValue { $0 })); records: \(records)"
                )
                return
            }
            let inbox = try #require(request.reply)
            #expect(inbox.hasPrefix("_INBOX.orders."))
            try payments.publish(inbox, "charged")
            try payments.publish(inbox, "again")
            try payments.flush()
            #expect(await payments.reported("Permissions Violation for Publish to \"\(inbox)\""))
            _ = await eventually(timeout: .seconds(5)) { reply.withLockedValue { $0 } != nil }
            #expect(try reply.withLockedValue { $0 }?.get() == "charged")

            let replies = try await warden.records(op: "pub", subject: inbox)
            #expect(replies.map { $0["decision"] as? String } == ["allow", "deny"])
            #expect((replies.first?["rule"] as? String)?.hasSuffix("allow_responses") == true)
        }
    }

    @Test func headersPassThroughAndNoRespondersWorks() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let subscription = try orders.subscribe("hdr.>")
            try orders.flush()
            let payments = try warden.client("payments")
            try payments.publish("hdr.in", "body", headers: [("X-Trace", "abc123")])
            try payments.flush()
            let message = try #require(subscription.next(timeoutMilliseconds: 3000))
            #expect(message.text == "body")
            #expect(message.headers["X-Trace"] == "abc123")
            let pub = try await warden.records(op: "pub", subject: "hdr.in")
            #expect(pub.first?["size"] as? Int == 4)

            // Nobody listens on rpc.nobody: nats-server answers with a 503 status, which nats.c
            // turns into "no responders" at once rather than a timeout.
            let clock = ContinuousClock()
            let start = clock.now
            #expect {
                _ = try orders.request("rpc.nobody", "ping", timeoutMilliseconds: 5000)
            } throws: { error in
                "\(error)".contains("No responders")
            }
            #expect(clock.now - start < .seconds(4))
        }
    }

    @Test func everyPublishGetsExactlyOneRecord() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let count = 500
            for index in 0..<count {
                try orders.publish(index % 5 == 0 ? "orders.internal.x" : "orders.n", "payload-\(index % 10)")
            }
            try orders.flush()
            let pubs = try await warden.waitForRecords { $0.filter { $0["op"] as? String == "pub" }.count >= count }
                .filter { $0["op"] as? String == "pub" }
            #expect(pubs.count == count)
            #expect(pubs.filter { $0["decision"] as? String == "deny" }.count == count / 5)
            for record in pubs {
                for field in ["ts", "decision", "op", "service", "conn", "peer", "mode", "rule", "subject", "size"] {
                    #expect(record[field] != nil, "missing \(field)")
                }
                #expect(record["size"] as? Int == 9)
            }
        }
    }

    /// The sessions of an event loop encode their records into one batch per loop. Clients publishing
    /// at once, several to a loop, each still get exactly their own records: every record of a
    /// client's subjects names that client's connection, and none is lost or written twice.
    @Test func concurrentClientsSharingEventLoopsEachGetTheirOwnRecords() async throws {
        try await withWarden { warden in
            let clients = try (0..<6).map { _ in try warden.client("orders") }
            let perClient = 300
            DispatchQueue.concurrentPerform(iterations: clients.count) { index in
                for message in 0..<perClient {
                    // Every fifth is denied, so records of denials interleave with the rest.
                    try? clients[index].publish(
                        message % 5 == 0 ? "orders.internal.c\(index)" : "orders.c\(index)", "m")
                }
                try? clients[index].flush()
            }
            let expected = clients.count * perClient
            let pubs = try await warden.waitForRecords { $0.filter { $0["op"] as? String == "pub" }.count >= expected }
                .filter { $0["op"] as? String == "pub" }
            #expect(pubs.count == expected)
            var connOfClient: [Int: Int] = [:]
            for index in clients.indices {
                let mine = pubs.filter { ($0["subject"] as? String)?.hasSuffix(".c\(index)") == true }
                #expect(mine.count == perClient)
                #expect(mine.filter { $0["decision"] as? String == "deny" }.count == perClient / 5)
                let conns = Set(mine.compactMap { $0["conn"] as? Int })
                #expect(conns.count == 1)
                connOfClient[index] = conns.first
            }
            #expect(Set(connOfClient.values).count == clients.count)
        }
    }

    /// With a decision log that is always behind (a back-pressure mark of one byte), every session
    /// pauses after every read that made records, until the writer has taken them: every message
    /// still arrives, in order, and every publish still gets exactly one record.
    @Test func aLogThatIsBehindSlowsClientsAndLosesNothing() async throws {
        try await withWarden(logHighWater: 1) { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()
            let publishers = try (0..<3).map { _ in try warden.client("orders") }
            let perClient = 200
            DispatchQueue.concurrentPerform(iterations: publishers.count) { index in
                // A flush every few messages: the pauses fall between reads of one client's stream. A
                // client that is never resumed stops at its first flush that times out.
                for message in 0..<perClient {
                    try? publishers[index].publish("orders.p\(index)", "\(message)")
                    if message % 4 == 3, (try? publishers[index].flush(timeoutMilliseconds: 5000)) == nil { break }
                }
            }
            var received: [String: [String]] = [:]
            for _ in 0..<(publishers.count * perClient) {
                guard let message = subscription.next(timeoutMilliseconds: 5000) else { break }
                received[message.subject, default: []].append(message.text)
            }
            for index in publishers.indices {
                #expect(received["orders.p\(index)"] == (0..<perClient).map { "\($0)" })
            }
            let pubs = try await warden.waitForRecords {
                $0.filter { $0["op"] as? String == "pub" }.count >= publishers.count * perClient
            }
            .filter { $0["op"] as? String == "pub" }
            #expect(pubs.count == publishers.count * perClient)
        }
    }

    /// `--upstream` may name nats-server by host name: Warden resolves it for each connection (an
    /// address, as in the other tests, is parsed once) and checks it against the certificate.
    @Test func anUpstreamNamedByHostIsResolvedAndCheckedByName() async throws {
        try await withWarden(upstreamHost: "localhost", natsCertificateHosts: ["localhost"]) { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.created")
            try payments.flush()
            let orders = try warden.client("orders")
            try orders.publish("orders.created", "by name")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.text == "by name")
        }
    }

    /// Warden fails closed on nats-server's identity: a certificate that does not name the host
    /// Warden dials, an address or a name, ends the client's connection (as any upstream failure does:
    /// closed without an `-ERR` a client would take as fatal).
    @Test(arguments: [("127.0.0.1", ["localhost"]), ("localhost", ["127.0.0.1"])])
    func anUpstreamWhoseCertificateDoesNotNameItIsRefused(upstreamHost: String, certificateHosts: [String]) async throws
    {
        try await withWarden(upstreamHost: upstreamHost, natsCertificateHosts: certificateHosts) { warden in
            let error = #expect(throws: NATSClient.Failure.self) {
                let client = try warden.client("orders")
                try client.publish("orders.created", "x")
                try client.flush()
            }
            #expect(error != nil)
            #expect(error?.description.contains("Warden") == false, "\(String(describing: error))")
            let metrics = String(decoding: warden.server.metricsExposition(), as: UTF8.self)
            #expect(metrics.contains("warden_upstream_failures_total 1"), "\(metrics)")
        }
    }
}
