import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// nats-server's connection and subscription limits, with its names and texts, on `warden serve`.
@Suite(.serialized)
struct LimitsTests {
    @Test func connectionsAndSubscriptionsPastTheirLimitsGetNATSServersErrors() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let port = try Loopback.freePort()
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--no-audit-events", "--no-peers",
                "--max-connections", "2", "--max-subscriptions", "1",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")

        let payments = try ServeCommandTests.connect("payments", port: port, in: directory)
        let orders = try ServeCommandTests.connect("orders", port: port, in: directory)
        // The third client is refused as nats-server refuses past max_connections.
        #expect {
            _ = try ServeCommandTests.connect("orders", port: port, in: directory)
        } throws: { error in
            "\(error)".contains("maximum connections exceeded")
        }

        // One subscription allowed; the next SUB gets nats-server's text (which nats.c, as with
        // nats-server itself, answers by closing; Warden keeps the connection: ProxyLimitsTests).
        let created = try payments.subscribe("orders.created")
        try payments.flush()
        try orders.publish("orders.created", "within the limit")
        try orders.flush()
        #expect(created.next(timeoutMilliseconds: 5000)?.text == "within the limit")
        _ = try? payments.subscribe("payments.completed")
        _ = try? payments.flush()
        #expect(
            await eventually(timeout: .seconds(5)) {
                payments.lastError?.contains("maximum subscriptions exceeded") == true
                    || payments.asyncErrors.contains { $0.contains("maximum subscriptions exceeded") }
            }, "\(String(describing: payments.lastError)) \(payments.asyncErrors)")

        // A place is free again once a client leaves.
        payments.close()
        #expect(
            await eventually(timeout: .seconds(5)) {
                (try? ServeCommandTests.connect("payments", port: port, in: directory))?.isConnected == true
            })
        let log = try String(contentsOfFile: directory.appending("logs/decisions.jsonl"), encoding: .utf8)
        #expect(log.contains(#""reason":"maximum connections exceeded""#))
        #expect(log.contains(#""reason":"maximum subscriptions exceeded""#))
        orders.close()
    }
}
