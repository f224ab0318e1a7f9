import Foundation
import NATSClient
import NIOConcurrencyHelpers
import Testing
import WardenTestSupport

/// Reply subjects and trace headers, end to end: a real nats-server, real nats.c clients over TLS. The
/// attack yields nothing on the forbidden subject and a deny record; the legitimate use beside it works.
@Suite(.serialized)
struct ReplyContainmentTests {
    static let acl = """
        defaults:
          subscribe:
            allow: ["_INBOX.{{service}}.>"]
        services:
          orders:
            publish:
              allow: ["orders.>", "inventory.reserve"]
            subscribe:
              allow: ["payments.completed", "orders.>"]
          inventory:
            subscribe:
              allow: ["inventory.reserve"]
            allow_responses: true
          payments:
            publish:
              allow: ["payments.completed", "payments.failed"]
            subscribe:
              allow: ["payments.>"]
        """
    static let services = ["orders", "inventory", "payments"]

    /// inventory answers every request on inventory.reserve with `{"reserved":true}`, on a thread of its
    /// own, for as long as `running` holds.
    static func startResponder(_ inventory: NATSClient, running: NIOLockedValueBox<Bool>) throws {
        let requests = try inventory.subscribe("inventory.reserve")
        try inventory.flush()
        Thread {
            while running.withLockedValue({ $0 }) {
                guard let request = requests.next(timeoutMilliseconds: 100), let reply = request.reply else { continue }
                try? inventory.publish(reply, #"{"reserved":true}"#)
            }
        }.start()
    }

    @Test func aReplySubjectCannotMakeAResponderForgeMessagesOnASubjectTheRequesterMayNotPublishTo() async throws {
        try await withWarden(acl: Self.acl, services: Self.services) { warden in
            let running = NIOLockedValueBox(true)
            defer { running.withLockedValue { $0 = false } }
            let inventory = try warden.client("inventory")
            try Self.startResponder(inventory, running: running)
            let payments = try warden.client("payments")
            let completed = try payments.subscribe("payments.completed")
            try payments.flush()
            let orders = try warden.client("orders")

            // The confused deputy: orders may receive payments.completed but not publish it.
            try orders.publish("inventory.reserve", #"{"sku":1}"#, reply: "payments.completed")
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish with Reply of "payments.completed""#))
            #expect(completed.next(timeoutMilliseconds: 500) == nil)
            let record = try #require(
                try await warden.records(op: "pub", subject: "inventory.reserve", atLeast: 1).first)
            #expect(record["decision"] as? String == "deny")
            #expect(record["reply"] as? String == "payments.completed")
            #expect(record["rule"] as? String == "default deny (reply subject)")

            // Beside it, a request with orders' own inbox is answered.
            let answer = try orders.request("inventory.reserve", #"{"sku":2}"#, timeoutMilliseconds: 3000)
            #expect(answer.text == #"{"reserved":true}"#)
        }
    }

    @Test func aRefusedRequestFailsAtOnceWithNoResponders() async throws {
        try await withWarden(acl: Self.acl, services: Self.services) { warden in
            let orders = try warden.client("orders")
            // nats.c asks for headers and no_responders: the refusal comes back as its status, not a
            // timeout, and the connection goes on.
            #expect {
                _ = try orders.request("payments.completed", "forged", timeoutMilliseconds: 30_000)
            } throws: { error in
                "\(error)".contains("No responders")
            }
            #expect(await orders.reported(#"Permissions Violation for Publish to "payments.completed""#))
            try orders.publish("orders.created", "fine")
            try orders.flush()
        }
    }

    @Test func aClientWithoutNoRespondersGetsTheErrorAndNoStatusMessage() async throws {
        try await withWarden(acl: Self.acl, services: Self.services) { warden in
            let folder = warden.layout.serviceDirectory("orders")
            let client = try await WireClient.connect(
                port: warden.port, start: .infoFirst, certificate: folder + "/cert.pem", key: folder + "/key.pem",
                ca: folder + "/ca.pem", group: ProxyHarness.group)
            try await client.send(
                "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB _INBOX.orders.x.* 1\r\n"
                    + "PUB payments.completed _INBOX.orders.x.1 2\r\nhi\r\nPING\r\n")
            let text = try await client.waitFor("PONG\r\n")
            #expect(text.contains("-ERR 'Permissions Violation for Publish to \"payments.completed\"'\r\nPONG\r\n"))
            #expect(!text.contains("HMSG"))
            await client.close()
        }
    }

    @Test func aTraceDestinationIsOnlyWhereTheTracerMayPublish() async throws {
        try await withWarden(acl: Self.acl, services: Self.services) { warden in
            let payments = try warden.client("payments")
            let failed = try payments.subscribe("payments.failed")
            try payments.flush()
            let orders = try warden.client("orders")
            let traces = try orders.subscribe("orders.traces")
            let created = try orders.subscribe("orders.created")
            try orders.flush()

            try orders.publish("orders.created", "{}", headers: [("Nats-Trace-Dest", "payments.failed")])
            try orders.flush()
            #expect(await orders.reported(#"Permissions Violation for Publish to "payments.failed""#))
            #expect(failed.next(timeoutMilliseconds: 500) == nil)
            #expect(created.next(timeoutMilliseconds: 100) == nil)
            let record = try #require(try await warden.records(op: "pub", subject: "orders.created", atLeast: 1).first)
            #expect(record["decision"] as? String == "deny")
            #expect(record["reason"] as? String == #"Nats-Trace-Dest "payments.failed""#)

            // Traced to a subject orders may publish to: nats-server publishes its trace events there.
            try orders.publish("orders.created", "{}", headers: [("Nats-Trace-Dest", "orders.traces")])
            try orders.flush()
            #expect(created.next(timeoutMilliseconds: 3000)?.text == "{}")
            let trace = try #require(traces.next(timeoutMilliseconds: 3000))
            #expect(trace.text.contains("\"subj\":\"orders.created\""))
        }
    }
}
