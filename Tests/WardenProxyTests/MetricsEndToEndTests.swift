import Foundation
import Logging
import NATSClient
import Testing
import WardenMetrics
import WardenProxy
import WardenTestSupport

/// The metrics endpoint end to end: real clients through a real Warden, scraped over HTTP the way
/// Prometheus scrapes, every figure checked against what the clients did and the decision log holds.
@Suite(.serialized)
struct MetricsEndToEndTests {
    /// Scrapes `/metrics`: each sample line as series (name and labels, as written) → value.
    static func scrape(_ port: Int) throws -> [String: Double] {
        let response = try HTTPProbe.request(port: port, path: "/metrics")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        var samples: [String: Double] = [:]
        for line in response.body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                Issue.record("not a sample line: \(line)")
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static func decisions(_ service: String, _ op: String, _ decision: String, mode: String = "enforce") -> String {
        #"warden_decisions_total{service="\#(service)",op="\#(op)",decision="\#(decision)",mode="\#(mode)"}"#
    }

    static func withMetrics(_ warden: ProxyHarness, _ body: (Int) async throws -> Void) async throws {
        let metrics = MetricsServer(
            host: "127.0.0.1", port: 0, group: ProxyHarness.group, logger: Logger(label: "metrics-test")
        ) {
            [server = warden.server] in server.metricsExposition()
        }
        let port = try #require(try await metrics.start().port)
        do {
            try await body(port)
        } catch {
            await metrics.shutdown()
            throw error
        }
        await metrics.shutdown()
    }

    @Test func decisionsAreCountedByServiceOpDecisionAndMode() async throws {
        try await withWarden { warden in
            try await Self.withMetrics(warden) { port in
                // Before any client, every service in the ACLs has its series, at zero.
                let before = try Self.scrape(port)
                #expect(before[Self.decisions("orders", "pub", "allow")] == 0)
                #expect(before[Self.decisions("observer", "pub", "deny", mode: "audit")] == 0)

                let orders = try warden.client("orders")
                for _ in 0..<3 { try orders.publish("orders.created", "ok") }
                for _ in 0..<2 { try orders.publish("orders.internal.audit", "no") }
                _ = try orders.subscribe("secrets.>")
                try orders.flush()
                let observer = try warden.client("observer")
                try observer.publish("orders.created", "audit mode lets this through")
                try observer.flush()
                // A plaintext client is refused before it is identified.
                #expect(try warden.connectWithoutTLS())

                #expect(
                    await eventually(timeout: .seconds(5)) {
                        (try? Self.scrape(port))?[Self.decisions("", "connect", "deny")] == 1
                    })
                let samples = try Self.scrape(port)
                #expect(samples[Self.decisions("orders", "connect", "allow")] == 1)
                #expect(samples[Self.decisions("orders", "pub", "allow")] == 3)
                #expect(samples[Self.decisions("orders", "pub", "deny")] == 2)
                #expect(samples[Self.decisions("orders", "sub", "deny")] == 1)
                #expect(samples[Self.decisions("orders", "sub", "allow")] == 0)
                #expect(samples[Self.decisions("observer", "pub", "deny", mode: "audit")] == 1)
                #expect(samples[#"warden_connections{service="orders"}"#] == 1)
                #expect(samples[#"warden_connections{service="observer"}"#] == 1)

                // The counts agree with the decision log, record for record.
                let records = try await warden.records()
                let total = samples.filter { $0.key.hasPrefix("warden_decisions_total{") }.values.reduce(0, +)
                #expect(Int(total) == records.count)

                // The log's progress: all of it written, none waiting.
                await warden.log.flush()
                let written = try FileManager.default.attributesOfItem(atPath: warden.logPath)[.size] as? Int
                let afterFlush = try Self.scrape(port)
                #expect(afterFlush["warden_decision_log_written_bytes_total"].map { Int($0) } == written)
                #expect(afterFlush["warden_decision_log_backlog_bytes"] == 0)

                // A closed connection leaves its service's series at zero.
                orders.close()
                #expect(
                    await eventually(timeout: .seconds(5)) {
                        (try? Self.scrape(port))?[#"warden_connections{service="orders"}"#] == 0
                    })
            }
        }
    }

    @Test func revokedConnectionsAndUpstreamFailuresAreCounted() async throws {
        try await withWarden { warden in
            try await Self.withMetrics(warden) { port in
                let live = try warden.client("orders")
                try live.flush()
                #expect(try Self.scrape(port)["warden_credential_closes_total"] == 0)
                try warden.authority.revoke(service: "orders")
                #expect(await eventually(timeout: .seconds(5)) { live.isClosed })
                #expect(try Self.scrape(port)["warden_credential_closes_total"] == 1)

                #expect(try Self.scrape(port)["warden_upstream_failures_total"] == 0)
                warden.nats.stop()
                var options = warden.options("payments")
                options.timeoutMilliseconds = 2000
                _ = try? NATSClient(options)
                #expect(
                    await eventually(timeout: .seconds(5)) {
                        ((try? Self.scrape(port))?["warden_upstream_failures_total"] ?? 0) >= 1
                    })
            }
        }
    }

    @Test func onlyGetAndHeadOfTheMetricsPathAreServed() async throws {
        try await withWarden { warden in
            try await Self.withMetrics(warden) { port in
                let head = try HTTPProbe.request("HEAD", port: port, path: "/metrics")
                #expect(head.status == 200)
                #expect(head.body.isEmpty)
                #expect(Int(head.headers["content-length"] ?? "") ?? 0 > 0)
                #expect(try HTTPProbe.request(port: port, path: "/metrics?name=x").status == 200)

                let post = try HTTPProbe.request("POST", port: port, path: "/metrics")
                #expect(post.status == 405)
                #expect(post.headers["allow"] == "GET, HEAD")
                let other = try HTTPProbe.request(port: port, path: "/")
                #expect(other.status == 404)
                #expect(other.body.contains("/metrics"))
            }
        }
    }
}
