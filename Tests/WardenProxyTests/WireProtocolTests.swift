import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// What Warden puts on the wire, byte for byte: INFO, the -ERR texts, ordering, and how it treats a
/// client that misbehaves.
@Suite(.serialized)
struct WireProtocolTests {
    func connect(_ warden: ProxyHarness, _ service: String, start: WireClient.Start = .infoFirst) async throws
        -> WireClient
    {
        let folder = warden.layout.serviceDirectory(service)
        return try await WireClient.connect(
            port: warden.port, start: start, certificate: folder + "/cert.pem", key: folder + "/key.pem",
            ca: folder + "/ca.pem", group: ProxyHarness.group)
    }

    /// The JSON of the first INFO line in `text`.
    func info(_ text: String) throws -> [String: Any] {
        let line = try #require(text.split(separator: "\r\n").first { $0.hasPrefix("INFO ") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(5).utf8)) as? [String: Any])
    }

    @Test(arguments: [WireClient.Start.infoFirst, .handshakeFirst])
    func bothTLSOrdersWorkAndINFOHidesTheUpstream(start: WireClient.Start) async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders", start: start)
            try await client.send(
                "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"headers\":true,\"user\":\"x\",\"pass\":\"y\"}\r\nPING\r\n"
            )
            let text = try await client.waitFor("PONG\r\n")
            #expect(text.contains("PONG\r\n"))
            let info = try self.info(text)
            #expect(info["tls_required"] as? Bool == true)
            #expect(info["headers"] as? Bool == true)
            #expect(info["max_payload"] as? Int == 1024 * 1024)
            #expect(info["connect_urls"] == nil)
            #expect(info["nonce"] == nil)
            // No line Warden sent names nats-server's port.
            #expect(!text.contains(String(warden.nats.port)))
            await client.close()
        }
    }

    @Test func deniedOperationsGetNATSServersExactErrorsInOrderWithPONG() async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders")
            try await client.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
            try await client.waitFor("PONG\r\n")
            try await client.send(
                "PING\r\nPUB orders.internal.x 1\r\nx\r\nSUB jobs.* others 1\r\nSUB inventory.stock 2\r\n"
                    + "PUB orders.created _R_.abc 1\r\nx\r\nPING\r\n")
            let text = try await client.waitFor("Reply of")
            let expected = [
                "PONG",
                #"-ERR 'Permissions Violation for Publish to "orders.internal.x"'"#,
                #"-ERR 'Permissions Violation for Subscription to "jobs.*" using queue "others"'"#,
                #"-ERR 'Permissions Violation for Subscription to "inventory.stock"'"#,
                #"-ERR 'Permissions Violation for Publish with Reply of "_R_.abc"'"#,
                "PONG",
            ]
            let lines = try await client.waitFor("PONG\r\n", timeout: .seconds(1))
            _ = text
            let tail = lines.split(separator: "\r\n").map(String.init).drop { !$0.hasPrefix("PONG") }.dropFirst()
            #expect(Array(tail.prefix(expected.count)) == expected)
            #expect(!client.isClosed)
            await client.close()
        }
    }

    @Test func verboseClientsGetOKForEveryOperationAsFromNATSServer() async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders")
            try await client.send("CONNECT {}\r\nSUB orders.> 1\r\nPUB orders.a 1\r\nx\r\nUNSUB 1\r\nPING\r\n")
            let text = try await client.waitFor("PONG\r\n")
            let lines = text.split(separator: "\r\n").filter {
                !$0.hasPrefix("INFO") && !$0.hasPrefix("MSG") && $0 != "x"
            }
            #expect(lines == ["+OK", "+OK", "+OK", "+OK", "PONG"])
            await client.close()
        }
    }

    @Test func aSidFreedByAnAutoUnsubscribeCannotLiftTheNextSubscriptionsFilter() async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders")
            let payments = try warden.client("payments")
            try await client.send("CONNECT {\"verbose\":false}\r\nSUB payments.open 1\r\nPING\r\n")
            try await client.waitFor("PONG\r\n")
            try payments.publish("payments.open", "first")
            try payments.flush()
            try await client.waitFor("first")
            // Sid 1 has had its one delivery, so nats-server ends it at this UNSUB and the next SUB
            // makes a new subscription with sid 1, filtered for `payments.secret`.
            try await client.send("UNSUB 1 1\r\nSUB payments.> 1\r\nPING\r\n")
            try await client.waitFor("PONG\r\n", times: 2)
            try payments.publish("payments.open", "second")
            try payments.publish("payments.secret", "hidden")
            try payments.publish("payments.open", "last")
            try payments.flush()
            let text = try await client.waitFor("last")
            #expect(text.contains("MSG payments.open 1 6\r\nsecond") && text.contains("MSG payments.open 1 4\r\nlast"))
            #expect(!text.contains("hidden"))
            let drops = try await warden.records(op: "deliver", subject: "payments.secret", atLeast: 1)
            #expect(drops.count == 1 && drops.first?["decision"] as? String == "deny")
            await client.close()
        }
    }

    @Test func wardensOwnPINGsAfterAnUNSUBNeverAnswerTheClient() async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders")
            // `payments.>` has a delivery filter, so each UNSUB makes Warden PING nats-server itself.
            try await client.send(
                "CONNECT {\"verbose\":false}\r\nSUB payments.> 1\r\nUNSUB 1\r\nSUB payments.> 2\r\nUNSUB 2\r\nPING\r\n")
            // nats-server answers in order: Warden's PONG came before this one.
            try await client.waitFor("PONG\r\n")
            try await client.send("SUB payments.> 3\r\nUNSUB 3\r\nPING\r\n")
            let text = try await client.waitFor("PONG\r\n", times: 2)
            #expect(text.components(separatedBy: "PONG\r\n").count - 1 == 2)
            // The sid is free again and works as nats-server's.
            try await client.send("SUB payments.> 1\r\nPING\r\n")
            try await client.waitFor("PONG\r\n", times: 3)
            let payments = try warden.client("payments")
            try payments.publish("payments.secret", "hidden")
            try payments.publish("payments.open", "shown")
            try payments.flush()
            let delivered = try await client.waitFor("shown")
            #expect(delivered.contains("MSG payments.open 1 5\r\nshown"))
            #expect(!delivered.contains("hidden") && !delivered.contains("-ERR"))
            #expect(delivered.components(separatedBy: "PONG\r\n").count - 1 == 3)
            #expect(!client.isClosed)
            await client.close()
        }
    }

    @Test func garbageOversizedPayloadsAndHalfMessagesCloseOnlyThatClient() async throws {
        try await withWarden { warden in
            let payments = try warden.client("payments")
            let subscription = try payments.subscribe("orders.>")
            try payments.flush()

            let garbage = try await self.connect(warden, "orders")
            try await garbage.send("CONNECT {\"verbose\":false}\r\nHELLO THERE\r\n")
            #expect(try await garbage.waitFor("-ERR").contains("-ERR 'Unknown Protocol Operation'"))
            #expect(try await garbage.waitUntilClosed())

            let oversized = try await self.connect(warden, "orders")
            try await oversized.send("CONNECT {\"verbose\":false}\r\nPUB orders.big 2000000\r\n")
            #expect(try await oversized.waitFor("-ERR").contains("-ERR 'Maximum Payload Violation'"))
            #expect(try await oversized.waitUntilClosed())

            let half = try await self.connect(warden, "orders")
            try await half.send("CONNECT {\"verbose\":false}\r\nPUB orders.half 100\r\nonly part of it")
            try await Task.sleep(for: .milliseconds(100))
            await half.close()

            let noResponders = try await self.connect(warden, "orders")
            try await noResponders.send("CONNECT {\"no_responders\":true,\"headers\":false}\r\n")
            #expect(try await noResponders.waitFor("-ERR").contains("-ERR 'no responders requires headers support'"))
            #expect(try await noResponders.waitUntilClosed())

            // Everyone else carries on.
            let orders = try warden.client("orders")
            try orders.publish("orders.created", "fine")
            try orders.flush()
            #expect(subscription.next(timeoutMilliseconds: 3000)?.subject == "orders.created")
            #expect(subscription.next(timeoutMilliseconds: 200) == nil)
            #expect(try await warden.records(op: "pub", subject: "orders.half").isEmpty)
        }
    }

    @Test func repeatingALiveSidCannotLiftADeliveryFilter() async throws {
        try await withWarden { warden in
            let client = try await self.connect(warden, "orders")
            // `payments.>` overlaps the deny entry `payments.secret`; nats-server keeps it for sid 1 and
            // ignores the second SUB, so its deliveries must still be filtered.
            try await client.send("CONNECT {\"verbose\":false}\r\nSUB payments.> 1\r\nSUB payments.open 1\r\nPING\r\n")
            try await client.waitFor("PONG\r\n")
            let payments = try warden.client("payments")
            try payments.publish("payments.secret", "hidden")
            try payments.publish("payments.open", "shown")
            try payments.flush()
            let text = try await client.waitFor("shown")
            #expect(text.contains("MSG payments.open 1 5\r\nshown"))
            #expect(!text.contains("hidden"))
            let drops = try await warden.records(op: "deliver", subject: "payments.secret", atLeast: 1)
            #expect(drops.count == 1 && drops.first?["decision"] as? String == "deny")
            await client.close()
        }
    }
}
