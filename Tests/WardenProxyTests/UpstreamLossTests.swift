import Foundation
import NATSClient
import Testing
import WardenDevelopment
import WardenTestSupport

/// nats-server crashes (SIGKILL) and comes back: the services behind Warden must reconnect and work
/// again by themselves. Warden closes them without an `-ERR`, which NATS clients answer by reconnecting;
/// an `-ERR` they do not know would make them close for good.
@Suite(.serialized)
struct UpstreamLossTests {
    func persistent(_ warden: ProxyHarness, _ service: String, _ events: ConnectionEvents) throws -> NATSClient {
        var options = warden.options(service)
        options.persistent = true
        options.onConnectionEvent = { events.record($0) }
        return try NATSClient(options)
    }

    @Test func natsCServicesReconnectAndWorkAgainAfterNATSServerIsKilledAndRestarted() async throws {
        try await withWarden { warden in
            let subscriberEvents = ConnectionEvents()
            let publisherEvents = ConnectionEvents()
            let payments = try self.persistent(warden, "payments", subscriberEvents)
            let created = try payments.subscribe("orders.created")
            try payments.flush()
            let orders = try self.persistent(warden, "orders", publisherEvents)
            try orders.publish("orders.created", "before")
            try orders.flush()
            #expect(created.next(timeoutMilliseconds: 3000)?.text == "before")

            warden.nats.kill()
            #expect(
                await eventually(timeout: .seconds(5)) {
                    subscriberEvents.count("disconnected") > 0 && publisherEvents.count("disconnected") > 0
                })
            // While nats-server is down, Warden refuses reconnecting clients the same way, and they
            // keep trying.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(!payments.isClosed && !orders.isClosed)

            try warden.nats.start()
            let back = ContinuousClock.now
            #expect(await eventually(timeout: .seconds(10)) { payments.isConnected && orders.isConnected })
            let downtime = ContinuousClock.now - back
            // The subscription is restored by nats.c itself: a publish after the restart arrives.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try? orders.publish("orders.created", "after")
                    try? orders.flush(timeoutMilliseconds: 500)
                    return created.next(timeoutMilliseconds: 200)?.text == "after"
                }, "reconnected \(downtime) after the restart")
            #expect(subscriberEvents.count("reconnected") >= 1 && publisherEvents.count("reconnected") >= 1)
            #expect(!(orders.lastError ?? "").contains("Warden"))
        }
    }

    @Test func natsPyServicesReconnectAndWorkAgainAfterNATSServerIsKilledAndRestarted() async throws {
        try await withWarden { warden in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", OtherClientsTests.script("nats_py_reconnect.py"), warden.url, warden.layout.root,
            ]
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            let lines = LineReader(out.fileHandleForReading)
            #expect(lines.next(timeout: 20) == "ready")
            warden.nats.kill()
            #expect(lines.next(timeout: 10) == "disconnected")
            try await Task.sleep(for: .milliseconds(1500))
            try warden.nats.start()
            let result = try #require(lines.next(timeout: 25))
            process.waitUntilExit()
            let seen = try #require(try JSONSerialization.jsonObject(with: Data(result.utf8)) as? [String: Any])
            #expect(seen["closed"] as? Bool == false, "\(seen)")
            #expect((seen["reconnects"] as? Int ?? 0) >= 1, "\(seen)")
            #expect(seen["received_after_restart"] as? Bool == true, "\(seen)")
            #expect((seen["errors"] as? [String])?.contains { $0.contains("Warden") } == false, "\(seen)")
        }
    }
}
