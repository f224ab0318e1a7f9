import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// Reloading the ACL files while clients are connected (what SIGHUP does): live connections are
/// decided by the new ACLs, subscriptions no longer allowed are removed as nats-server removes them,
/// and ACLs with errors change nothing.
@Suite(.serialized)
struct ACLReloadTests {
    /// The default ACL with orders' publish rules changed: `jobs.run` gone, `billing.>` added.
    static let ordersPublishChanged = ProxyHarness.defaultACL.replacingOccurrences(
        of: #"allow: ["orders.>", "jobs.run", "rpc.>"]"#, with: #"allow: ["orders.>", "rpc.>", "billing.>"]"#)

    /// The default ACL with payments' subscribe rules changed: `orders.>` gone.
    static let paymentsSubscribeChanged = ProxyHarness.defaultACL.replacingOccurrences(
        of: #"allow: ["orders.>", "rpc.>"]"#, with: #"allow: ["rpc.>"]"#)

    @Test func aLiveConnectionIsDecidedByTheReloadedACLs() async throws {
        #expect(Self.ordersPublishChanged != ProxyHarness.defaultACL)
        try await withWarden { warden in
            let orders = try warden.client("orders")
            // Both decided once before the reload, so the connection has them cached.
            try orders.publish("jobs.run", "1")
            try orders.publish("billing.due", "1")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "billing.due""#))

            #expect(try await warden.reload(acl: Self.ordersPublishChanged))
            try orders.publish("jobs.run", "2")
            try orders.publish("billing.due", "2")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "jobs.run""#))

            let jobs = try await warden.records(op: "pub", subject: "jobs.run").map { $0["decision"] as? String }
            #expect(jobs == ["allow", "deny"])
            let billing = try await warden.records(op: "pub", subject: "billing.due")
            #expect(billing.map { $0["decision"] as? String } == ["deny", "allow"])
            #expect((billing.last?["rule"] as? String)?.hasSuffix(#"publish.allow "billing.>""#) == true)
            // The same connection throughout.
            #expect(Set(billing.compactMap { $0["conn"] as? Int }).count == 1)
        }
    }

    @Test func aSubscriptionNoLongerAllowedIsRemovedAsNATSServerRemovesIt() async throws {
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let removed = try payments.subscribe("orders.>")
            let kept = try payments.subscribe("rpc.>")
            try payments.flush()

            #expect(try await warden.reload(acl: Self.paymentsSubscribeChanged))
            #expect(await payments.reported(#"Permissions Violation for Subscription to "orders.>" (sid "#))
            // Its PONG comes after nats-server had the UNSUB Warden sent for the subscription.
            try payments.flush()

            let orders = try warden.client("orders")
            try orders.publish("orders.created", "not any more")
            try orders.publish("rpc.ping", "still")
            try orders.flush()
            #expect(kept.next(timeoutMilliseconds: 3000)?.text == "still")
            #expect(removed.next(timeoutMilliseconds: 200) == nil)
            // nats-server no longer delivers it: nothing reached Warden to drop.
            #expect(try await warden.records(op: "deliver").isEmpty)

            let subs = try await warden.records(op: "sub", subject: "orders.>")
            #expect(subs.map { $0["decision"] as? String } == ["allow", "deny"])
            let removal = try #require(subs.last)
            #expect(removal["reason"] as? String == "acl reload")
            #expect(removal["sid"] as? String != nil)
            #expect(removal["rule"] as? String == "default deny")
            #expect(removal["service"] as? String == "payments")
            // The subscription still allowed is not recorded again.
            #expect(try await warden.records(op: "sub", subject: "rpc.>").count == 1)
        }
    }

    @Test func aNewDenyEntryFiltersTheDeliveriesOfALiveSubscription() async throws {
        let acl = ProxyHarness.defaultACL.replacingOccurrences(
            of: #"allow: ["orders.>", "rpc.>"]"#,
            with: #"allow: ["orders.>", "rpc.>"]"# + "\n      deny: [\"orders.secret\"]")
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()
            #expect(try await warden.reload(acl: acl))
            let orders = try warden.client("orders")
            try orders.publish("orders.secret", "hidden")
            try orders.publish("orders.open", "shown")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.text == "shown")
            #expect(subscription.next(timeoutMilliseconds: 200) == nil)
            let drops = try await warden.records(op: "deliver", subject: "orders.secret")
            #expect(drops.count == 1)
            #expect((drops.first?["rule"] as? String)?.hasSuffix(#"subscribe.deny "orders.secret""#) == true)
            #expect(payments.asyncErrors.isEmpty)
        }
    }

    @Test func aServiceMovedToAuditModeIsLetThroughAndRecordedAsAudit() async throws {
        let acl = ProxyHarness.defaultACL.replacingOccurrences(
            of: "  orders:\n    publish:", with: "  orders:\n    mode: audit\n    publish:")
        #expect(acl != ProxyHarness.defaultACL)
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()
            let orders = try warden.client("orders")
            #expect(try await warden.reload(acl: acl))
            try orders.publish("orders.internal.x", "through")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.text == "through")
            let record = try #require(try await warden.records(op: "pub", subject: "orders.internal.x").first)
            #expect(record["decision"] as? String == "deny")
            #expect(record["mode"] as? String == "audit")
            let metrics = String(decoding: warden.server.metricsExposition(), as: UTF8.self)
            #expect(
                metrics.contains(#"warden_decisions_total{service="orders",op="pub",decision="deny",mode="audit"} 1"#))
        }
    }

    @Test func aServiceRemovedFromTheACLsIsDeniedEverythingAndLosesItsSubscriptions() async throws {
        let acl = """
            services:
              payments:
                publish:
                  allow: ["payments.>"]
            """
        try await withWarden { warden in
            let orders = try warden.client("orders")
            let subscription = try orders.subscribe("orders.>")
            try orders.flush()
            #expect(try await warden.reload(acl: acl))
            #expect(await orders.reported(#"Permissions Violation for Subscription to "orders.>""#))
            let removal = try #require(try await warden.records(op: "sub", subject: "orders.>").last)
            #expect(removal["reason"] as? String == "acl reload")
            #expect(removal["rule"] as? String == "default deny (service not defined in any ACL file)")
            withExtendedLifetime(subscription) {}
            try orders.publish("orders.created", "x")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "orders.created""#))
            let record = try #require(try await warden.records(op: "pub", subject: "orders.created").first)
            #expect(record["rule"] as? String == "default deny (service not defined in any ACL file)")
        }
    }

    @Test func ACLsWithErrorsAreReportedAndTheACLsInForceStay() async throws {
        try await withWarden { warden in
            let orders = try warden.client("orders")
            #expect(
                try await !warden.reload(acl: "services:\n  orders:\n    publish:\n      allow: [\"bad..subject\"]\n"))
            #expect(try await !warden.reload(acl: "services: [unclosed\n"))
            try orders.publish("jobs.run", "still allowed")
            try orders.flush()
            let record = try #require(try await warden.records(op: "pub", subject: "jobs.run").first)
            #expect(record["decision"] as? String == "allow")
            let metrics = String(decoding: warden.server.metricsExposition(), as: UTF8.self)
            #expect(metrics.contains(#"warden_acl_reloads_total{result="failure"} 2"#))
            #expect(metrics.contains("warden_acl_last_reload_successful 0"))

            #expect(try await warden.reload(acl: Self.ordersPublishChanged))
            let after = String(decoding: warden.server.metricsExposition(), as: UTF8.self)
            #expect(after.contains(#"warden_acl_reloads_total{result="success"} 1"#))
            #expect(after.contains("warden_acl_last_reload_successful 1"))
        }
    }

    @Test func aConnectionMadeAfterTheReloadIsDecidedByTheNewACLs() async throws {
        try await withWarden { warden in
            #expect(try await warden.reload(acl: Self.ordersPublishChanged))
            let orders = try warden.client("orders")
            try orders.publish("billing.due", "1")
            try orders.flush()
            let record = try #require(try await warden.records(op: "pub", subject: "billing.due").first)
            #expect(record["decision"] as? String == "allow")
        }
    }
}
