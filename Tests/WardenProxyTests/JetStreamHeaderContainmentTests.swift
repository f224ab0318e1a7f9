import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// The rest of the JetStream channels end to end (schedules, rollups, snapshots, subject listings),
/// with the same ACLs, nats-server and clients as `JetStreamContainmentTests`.
@Suite(.serialized)
struct JetStreamHeaderContainmentTests {
    typealias Setup = JetStreamContainmentTests

    /// `orders`' stream SCHED, which may hold messages on payments.completed (orders may read it), with
    /// message schedules and rollups allowed.
    static func scheduledStream(_ orders: NATSClient) throws {
        let created = try Setup.api(
            orders, "$JS.API.STREAM.CREATE.SCHED",
            #"{"name":"SCHED","subjects":["orders.sched.>","payments.completed"],"storage":"memory","allow_msg_schedules":true,"allow_rollup_hdrs":true}"#
        )
        #expect(Setup.error(created) == nil, "\(created)")
    }

    static func last(_ client: NATSClient, _ subject: String) throws -> String? {
        let answer = try Setup.api(client, "$JS.API.STREAM.MSG.GET.SCHED", #"{"last_by_subj":"\#(subject)"}"#)
        guard let message = answer["message"] as? [String: Any], let data = message["data"] as? String else {
            return nil
        }
        return Data(base64Encoded: data).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func aScheduleCannotStoreAMessageWhereTheServiceMayNotPublish() async throws {
        try await withWarden(acl: Setup.acl, services: Setup.services, jetStream: true) { warden in
            let orders = try warden.client("orders")
            try Self.scheduledStream(orders)
            let at = ISO8601DateFormatter().string(from: Date().addingTimeInterval(1))
            try orders.publish(
                "orders.sched.forge", #"{"paid":true}"#,
                headers: [
                    ("Nats-Schedule", "@at \(at)"), ("Nats-Schedule-Target", "payments.completed"),
                ])
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "payments.completed""#))
            // Beside it, a schedule onto orders' own subject fires.
            _ = try orders.request(
                "orders.sched.tick", "tick",
                headers: [
                    ("Nats-Schedule", "@at \(at)"), ("Nats-Schedule-Target", "orders.sched.fired"),
                ], timeoutMilliseconds: 5000)
            #expect(await eventually(timeout: .seconds(5)) { (try? Self.last(orders, "orders.sched.fired")) == "tick" })
            #expect(try Self.last(orders, "payments.completed") == nil)
            let record = try #require(
                try await warden.records(op: "pub", subject: "orders.sched.forge", atLeast: 1).first)
            #expect(record["reason"] as? String == #"Nats-Schedule-Target "payments.completed""#)
        }
    }

    @Test func aRollupOfTheWholeStreamNeedsPublishRightsOnEverySubject() async throws {
        try await withWarden(acl: Setup.acl, services: Setup.services, jetStream: true) { warden in
            let orders = try warden.client("orders")
            try Self.scheduledStream(orders)
            _ = try orders.request("orders.sched.keep", "kept", timeoutMilliseconds: 5000)
            try orders.publish("orders.sched.x", "wipe", headers: [("Nats-Rollup", "all")])
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to ">""#))
            #expect(try Self.last(orders, "orders.sched.keep") == "kept")
            // A rollup of its own subject is an ordinary publish there.
            _ = try orders.request(
                "orders.sched.keep", "rolled", headers: [("Nats-Rollup", "sub")], timeoutMilliseconds: 5000)
            #expect(try Self.last(orders, "orders.sched.keep") == "rolled")
        }
    }

    @Test func snapshotsAndSubjectListingsOfStreamsTheServiceMayNotReadAreRefused() async throws {
        try await withWarden(acl: Setup.acl, services: Setup.services, jetStream: true) { warden in
            let (_, orders) = try Setup.prepare(warden)
            let snapshot = try Setup.api(
                orders, "$JS.API.STREAM.SNAPSHOT.ORDERS", #"{"deliver_subject":"_INBOX.orders.snap","chunk_size":1024}"#
            )
            #expect(Setup.error(snapshot)?.code == 403)
            let listing = try Setup.api(orders, "$JS.API.STREAM.INFO.SECRET", #"{"subjects_filter":">"}"#)
            #expect(Setup.error(listing)?.code == 403)
            #expect(!"\(listing)".contains("secret.plans"))
            let own = try Setup.api(orders, "$JS.API.STREAM.INFO.ORDERS", #"{"subjects_filter":"orders.>"}"#)
            #expect(Setup.error(own) == nil, "\(own)")
            // Whether another subject holds messages is not told either.
            try orders.publish(
                "orders.probe", "?",
                headers: [
                    ("Nats-Expected-Last-Subject-Sequence", "0"),
                    ("Nats-Expected-Last-Subject-Sequence-Subject", "secret.plans"),
                ])
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Subscription to "secret.plans""#))
        }
    }
}
