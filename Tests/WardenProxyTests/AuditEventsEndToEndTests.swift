import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenPKI
import WardenTestSupport

@testable import WardenAudit

/// Audit events end to end: Warden publishes each denial to nats-server over its own TLS connection,
/// and a service allowed to subscribe to `warden.audit.>` receives them through Warden.
@Suite(.serialized)
struct AuditEventsEndToEndTests {
    static let acl = """
        services:
          orders:
            publish:
              allow: ["orders.>", "warden.>"]
              deny: ["orders.internal.>"]
          observer:
            mode: audit
            publish:
              allow: ["observer.>", "warden.>"]
          security:
            subscribe:
              allow: ["warden.audit.>"]
        """

    /// Waits for `count` events on `subscription`, then for any stragglers a little longer.
    static func events(_ subscription: NATSClient.Subscription, count: Int) -> [NATSClient.Message] {
        var events: [NATSClient.Message] = []
        while events.count < count, let event = subscription.next(timeoutMilliseconds: 5000) { events.append(event) }
        while let extra = subscription.next(timeoutMilliseconds: 300) { events.append(extra) }
        return events
    }

    /// Once Warden's audit connection is up, the `security` service subscribes to every event,
    /// through Warden (the subscription keeps its client open).
    static func watch(_ warden: ProxyHarness) async throws -> NATSClient.Subscription {
        let audit = try #require(warden.audit)
        #expect(await eventually(timeout: .seconds(10)) { audit.isConnected })
        let security = try warden.client("security")
        let subscription = try security.subscribe("warden.audit.>")
        try security.flush()
        return subscription
    }

    @Test func everyDenialIsPublishedOnTheAuditSubjectAsItsDecisionRecord() async throws {
        try await withWarden(acl: Self.acl, services: ["orders", "observer", "security"], auditEvents: true) { warden in
            let subscription = try await Self.watch(warden)

            let orders = try warden.client("orders")
            try orders.publish("orders.created", "allowed, so no event")
            try orders.publish("orders.internal.a", "denied")
            try orders.publish("orders.internal.b", "denied")
            _ = try orders.subscribe("payments.>")
            try orders.flush()
            let observer = try warden.client("observer")
            try observer.publish("orders.created", "audit mode: let through, and an event")
            try observer.flush()
            #expect(try warden.connectWithoutTLS())

            let events = Self.events(subscription, count: 5)
            #expect(
                events.map(\.subject).sorted() == [
                    "warden.audit.deny.connect.$unidentified", "warden.audit.deny.pub.observer",
                    "warden.audit.deny.pub.orders",
                    "warden.audit.deny.pub.orders", "warden.audit.deny.sub.orders",
                ])
            // Each event is its decision record, byte for byte as the log has it.
            let log = try String(contentsOfFile: warden.logPath, encoding: .utf8)
            let denials = log.split(separator: "\n").filter { $0.contains(#""decision":"deny""#) }.map(String.init)
            #expect(events.map(\.text).sorted() == denials.sorted())
            let observed = try #require(events.first { $0.subject.hasSuffix(".observer") })
            #expect(observed.text.contains(#""mode":"audit""#))
            #expect(warden.audit?.counts.published == 5)
            #expect(warden.audit?.counts.dropped == 0)
        }
    }

    @Test func noServiceCanPublishOnTheAuditSubjectsWhateverItsACLOrMode() async throws {
        try await withWarden(acl: Self.acl, services: ["orders", "observer", "security"], auditEvents: true) { warden in
            let subscription = try await Self.watch(warden)

            let orders = try warden.client("orders")
            try orders.publish("warden.audit.deny.pub.payments", "forged")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "warden.audit.deny.pub.payments""#))
            let observer = try warden.client("observer")
            try observer.publish("warden.audit.deny.pub.payments", "forged in audit mode")
            try observer.flush()
            #expect(await observer.reported(#"Permissions Violation for Publish to "warden.audit.deny.pub.payments""#))
            // Publishing next to the audit subjects is up to the ACLs.
            try orders.publish("warden.auditor", "fine")
            try orders.flush()

            // What arrives are Warden's own events about the attempts, never the forged messages.
            let events = Self.events(subscription, count: 2)
            #expect(
                events.map(\.subject).sorted() == ["warden.audit.deny.pub.observer", "warden.audit.deny.pub.orders"])
            #expect(!events.contains { $0.text.contains("forged") })
            for event in events {
                #expect(event.text.contains(#""rule":"reserved for Warden's audit events \"warden.audit.>\"""#))
                #expect(event.text.contains(#""mode":"enforce""#))
            }
            let pubs = try await warden.records(op: "pub", subject: "warden.auditor")
            #expect(pubs.first?["decision"] as? String == "allow")
        }
    }

    /// A service that floods denials gets its burst of events and then a summary of how many were
    /// left out, while another service's event still arrives; the decision log has every record.
    @Test func aServiceFloodingDenialsIsHeldToItsAuditBudgetAndCannotCrowdOthersOut() async throws {
        try await withWarden(
            acl: Self.acl, services: ["orders", "observer", "security"], auditEvents: true,
            auditBudget: .init(perSecond: 1, burst: 5)
        ) { warden in
            let subscription = try await Self.watch(warden)
            let orders = try warden.client("orders")
            let flood = 300
            for index in 0..<flood { try orders.publish("orders.internal.\(index)", "denied") }
            try orders.flush()
            let observer = try warden.client("observer")
            try observer.publish("orders.created", "audit mode: an event of its own")
            try observer.flush()

            // Until every denial of orders is accounted for: an event each, or counted in a summary.
            var events: [NATSClient.Message] = []
            var summarised = 0
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            // Summaries come at most once a second: a wait of 3 s for the next event outlasts that.
            while clock.now < deadline, let event = subscription.next(timeoutMilliseconds: 3000) {
                events.append(event)
                if event.subject == "warden.audit.suppressed.orders" {
                    let summary = try #require(
                        try JSONSerialization.jsonObject(with: Data(event.payload)) as? [String: Any])
                    #expect(summary["service"] as? String == "orders")
                    #expect(summary["per_second"] as? Int == 1)
                    #expect(summary["burst"] as? Int == 5)
                    summarised += try #require(summary["suppressed"] as? Int)
                }
                let published = events.filter { $0.subject == "warden.audit.deny.pub.orders" }.count
                if published + summarised == flood && events.contains(where: { $0.subject.hasSuffix(".observer") }) {
                    break
                }
            }
            let published = events.filter { $0.subject == "warden.audit.deny.pub.orders" }.count
            // The burst, and at most what the budget gave back while the flood and the wait went on.
            #expect(published >= 5 && published <= 5 + 16)
            #expect(published + summarised == flood)
            #expect(events.contains { $0.subject == "warden.audit.deny.pub.observer" })
            #expect(warden.audit?.counts.suppressed == summarised)
            #expect(warden.audit?.counts.dropped == 0)
            let metrics = String(decoding: warden.server.metricsExposition(), as: UTF8.self).split(separator: "\n")
            #expect(metrics.contains("warden_audit_events_suppressed_total \(summarised)"))
            let denials = try await warden.records(op: "pub").filter {
                $0["service"] as? String == "orders" && $0["decision"] as? String == "deny"
            }
            #expect(denials.count == flood)
        }
    }

    /// A watcher whose delivery filter drops some audit events: each drop is logged, and publishes
    /// nothing, or the event about the drop would be dropped in turn, for ever.
    @Test func aDroppedAuditEventIsLoggedButNotPublishedAgain() async throws {
        let acl = """
            services:
              orders:
                subscribe:
                  allow: ["payments.>"]
                  deny: ["payments.secret"]
              payments:
                publish:
                  allow: ["payments.>"]
              security:
                subscribe:
                  allow: ["warden.audit.>"]
                  deny: ["warden.audit.deny.deliver.>"]
            """
        try await withWarden(acl: acl, services: ["orders", "payments", "security"], auditEvents: true) { warden in
            let watched = try await Self.watch(warden)
            let orders = try warden.client("orders")
            // Kept: a subscription that is released unsubscribes.
            let filtered = try orders.subscribe("payments.>")
            try orders.flush()
            let payments = try warden.client("payments")
            try payments.publish("payments.secret", "dropped for orders")
            try payments.flush()

            // orders' drop is an event; security's filter drops that event, once.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    (try? await warden.records(op: "deliver").count) == 2
                })
            try await Task.sleep(for: .milliseconds(500))
            let drops = try await warden.records(op: "deliver")
            #expect(drops.count == 2)
            #expect(Set(drops.compactMap { $0["service"] as? String }) == ["orders", "security"])
            #expect(
                drops.first { $0["service"] as? String == "security" }?["subject"] as? String
                    == "warden.audit.deny.deliver.orders")
            #expect(watched.next(timeoutMilliseconds: 300) == nil)
            #expect(filtered.next(timeoutMilliseconds: 100) == nil)
            #expect(warden.audit?.counts.published == 1)
        }
    }

    /// The audit connection outlives nats-server going away: metrics show it down, and it comes
    /// back on its own, publishing again.
    @Test func theWardenConnectionReconnectsAndMetricsShowItsState() async throws {
        try await withWarden(acl: Self.acl, services: ["orders", "observer", "security"], auditEvents: true) { warden in
            func connected() -> Double? {
                String(decoding: warden.server.metricsExposition(), as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix("warden_audit_connected ") }.flatMap { Double($0.split(separator: " ")[1]) }
            }
            #expect(await eventually(timeout: .seconds(10)) { connected() == 1 })
            let port = warden.nats.port
            warden.nats.stop()
            #expect(await eventually(timeout: .seconds(10)) { connected() == 0 })

            let restarted = try NATSServerProcess(
                config: NATSServerConfig.render(authority: warden.authority, host: "127.0.0.1", port: port), port: port,
                directory: warden.directory)
            defer { restarted.stop() }
            #expect(await eventually(timeout: .seconds(10)) { connected() == 1 })
            let security = try warden.client("security")
            let subscription = try security.subscribe("warden.audit.>")
            try security.flush()
            let orders = try warden.client("orders")
            try orders.publish("orders.internal.x", "denied after the restart")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 5000)?.subject == "warden.audit.deny.pub.orders")
        }
    }

    /// As Warden's data path: a name is checked against the certificate's DNS names, an address
    /// against its IP addresses.
    @Test(arguments: [
        ("localhost", ["localhost"], true), ("127.0.0.1", ["127.0.0.1"], true),
        ("localhost", ["127.0.0.1"], false), ("127.0.0.1", ["localhost"], false),
    ])
    func theWardenConnectionChecksTheHostItDials(upstreamHost: String, certificateHosts: [String], connects: Bool)
        async throws
    {
        try await withWarden(upstreamHost: upstreamHost, natsCertificateHosts: certificateHosts, auditEvents: true) {
            warden in
            let audit = try #require(warden.audit)
            let connected = await eventually(timeout: .seconds(connects ? 10 : 3)) { audit.isConnected }
            #expect(connected == connects)
        }
    }
}
