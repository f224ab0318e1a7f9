import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenTestSupport

/// A subscriber that stops reading is closed after the write deadline, as nats-server closes a slow
/// consumer, and nobody else waits for it meanwhile.
@Suite(.serialized)
struct SlowConsumerTests {
    @Test func aSubscriberThatStopsReadingIsClosedAfterTheWriteDeadlineAndNobodyElseWaits() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        #expect(try warden(["enroll", "inventory"], in: directory.path).status == 0)
        let port = try Loopback.freePort()
        let metricsPort = try Loopback.freePort()
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--no-audit-events", "--no-peers",
                "--write-deadline", "1s", "--metrics", "127.0.0.1:\(metricsPort)",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")

        let stalled = Process()
        stalled.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Clients/stalled_subscriber.py").path
        stalled.arguments = ["python3", script, "\(port)", directory.appending("certs"), "payments", "orders.created"]
        let out = Pipe()
        stalled.standardOutput = out
        stalled.standardError = FileHandle.nullDevice
        try stalled.run()
        defer { if stalled.isRunning { stalled.terminate() } }
        let lines = LineReader(out.fileHandleForReading)
        #expect(lines.next(timeout: 20) == "subscribed")

        // 40 MiB at the subscriber that reads nothing: the publisher is never held up by it.
        let orders = try ServeCommandTests.connect("orders", port: port, in: directory)
        let chunk = String(repeating: "x", count: 8192)
        for _ in 0..<5120 { try orders.publish("orders.created", chunk) }
        try orders.flush(timeoutMilliseconds: 20_000)
        // Nor is a request and its reply between two other services.
        let inventory = try ServeCommandTests.connect("inventory", port: port, in: directory)
        let requests = try inventory.subscribe("inventory.reserve", queue: "inventory-workers")
        try inventory.flush()
        let responder = Thread {
            if let request = requests.next(timeoutMilliseconds: 10_000), let reply = request.reply {
                try? inventory.publish(reply, "reserved")
                try? inventory.flush()
            }
        }
        responder.start()
        var requester = NATSClient.Options(
            url: "tls://127.0.0.1:\(port)", caFile: directory.appending("certs/services/orders/ca.pem"),
            certificateFile: directory.appending("certs/services/orders/cert.pem"),
            keyFile: directory.appending("certs/services/orders/key.pem"))
        requester.inboxPrefix = "_INBOX.orders"
        let asking = try NATSClient(requester)
        #expect(try asking.request("inventory.reserve", "1 widget", timeoutMilliseconds: 5000).text == "reserved")

        #expect(
            await eventually(timeout: .seconds(10)) {
                ServeCommandTests.read(stderr).contains("Slow Consumer Detected")
            }, "\(ServeCommandTests.read(stderr))")
        #expect(lines.next(timeout: 30) == "closed")
        let log = try String(contentsOfFile: directory.appending("logs/decisions.jsonl"), encoding: .utf8)
        #expect(
            log.contains(#""rule":"write_deadline""#) && log.contains("slow consumer: write deadline of 1.0 s exceeded")
        )
        let metrics = try HTTPProbe.request(port: metricsPort, path: "/metrics")
        #expect(metrics.body.contains("warden_slow_consumers_total 1"), "\(metrics.body)")
        for client in [orders, inventory, asking] { client.close() }
    }

    /// nats-server closes Warden's upstream leg of a subscriber that reads nothing (its own slow-consumer
    /// limits, here 1 s and 2 MB): Warden closes the client at once rather than at its own write deadline,
    /// though it was reading nothing from that leg, and nobody else waits meanwhile.
    @Test func whenNATSServerDropsTheUpstreamLegOfASlowConsumerWardenClosesTheClientPromptly() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        #expect(try warden(["enroll", "inventory"], in: directory.path).status == 0)
        let natsPort = try Loopback.freePort()
        let generated = try warden(
            [
                "nats-config", "--listen", "127.0.0.1:\(natsPort)", "--no-jetstream", "--max-pending", "2MB",
                "--write-deadline", "1s",
            ], in: directory.path)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout.contains("max_pending: 2MB\nwrite_deadline: \"1s\""), "\(generated.stdout)")
        #expect(
            try warden(["nats-config", "--listen", "127.0.0.1:1", "--max-pending", "lots"], in: directory.path).status
                != 0)
        let nats = try NATSServerProcess(
            configuration: generated.stdout, port: natsPort, folder: directory.appending("nats"))
        defer { nats.stop() }
        let port = try Loopback.freePort()
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--upstream",
                "tls://127.0.0.1:\(natsPort)", "--no-audit-events", "--no-peers", "--write-deadline", "120s",
            ], in: directory)
        defer { if process.isRunning { process.terminate() } }
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")

        let stalled = Process()
        stalled.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Clients/stalled_subscriber.py").path
        stalled.arguments = ["python3", script, "\(port)", directory.appending("certs"), "payments", "orders.created"]
        let out = Pipe()
        stalled.standardOutput = out
        stalled.standardError = FileHandle.nullDevice
        try stalled.run()
        defer { if stalled.isRunning { stalled.terminate() } }
        let lines = LineReader(out.fileHandleForReading)
        #expect(lines.next(timeout: 20) == "subscribed")

        let orders = try ServeCommandTests.connect("orders", port: port, in: directory)
        let chunk = String(repeating: "x", count: 8192)
        for _ in 0..<2560 { try orders.publish("orders.created", chunk) }
        try orders.flush(timeoutMilliseconds: 20_000)
        #expect(
            await eventually(timeout: .seconds(15)) { nats.log.contains("Slow Consumer Detected") }, "\(nats.logTail)")
        // Within a probe or two of nats-server's close: before the stalled client reads again (12 s).
        #expect(
            await eventually(timeout: .seconds(8)) {
                ServeCommandTests.read(stderr).contains("closing the client, which will reconnect")
            }, "\(ServeCommandTests.read(stderr))")
        // Closed within the script's 22 s, long before Warden's own 120 s deadline.
        #expect(lines.next(timeout: 30) == "closed")
        #expect(!ServeCommandTests.read(stderr).contains("write deadline"))
        // The publisher's connection is untouched.
        try orders.publish("orders.created", "still here")
        try orders.flush(timeoutMilliseconds: 5000)
        orders.close()
    }
}
