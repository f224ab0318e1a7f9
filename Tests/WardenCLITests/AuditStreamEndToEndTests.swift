import Foundation
import NATSClient
import Testing
import WardenAudit
import WardenDevelopment
import WardenTestSupport

/// `warden serve --audit-stream` as users run it, against a JetStream nats-server: every deny record of the
/// decision log reaches the stream WARDEN_AUDIT exactly once, through a SIGKILL and through an outage of
/// nats-server, and `warden denials --nats` summarises it.
@Suite(.serialized)
struct AuditStreamEndToEndTests {
    static func serve(_ directory: TemporaryDirectory, upstream: String, port: Int) throws -> (Process, String) {
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--upstream", upstream,
                "--audit-stream", "--instance", "warden-a", "--no-peers", "--decision-log", "logs/decisions.jsonl",
            ], in: directory)
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")
        return (process, stderr)
    }

    /// `count` publishes `orders` may not make, through the Warden on `port`, as fast as nats.c sends them.
    static func flood(_ count: Int, port: Int, in directory: TemporaryDirectory) throws {
        let client = try ServeCommandTests.connect("orders", port: port, in: directory)
        defer { client.close() }
        for index in 0..<count { try? client.publish("orders.internal.flood.\(index)", "x") }
        try? client.flush(timeoutMilliseconds: 5000)
    }

    /// The deny lines of the decision log, each with how often it is there.
    static func logDenials(_ directory: TemporaryDirectory) throws -> [String: Int] {
        let text = try String(contentsOfFile: directory.appending("logs/decisions.jsonl"), encoding: .utf8)
        var lines: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.contains(#""decision":"deny""#) {
            lines[String(line), default: 0] += 1
        }
        return lines
    }

    /// The stream's records, as log lines (without the `instance` field the stream adds), each with how
    /// often the stream holds it.
    static func streamRecords(_ directory: TemporaryDirectory, upstream: String) throws -> [String: Int] {
        let client = try connectAsWarden(directory, upstream: upstream)
        defer { client.close() }
        var records: [String: Int] = [:]
        let prefix = #"{"instance":"warden-a","#
        try AuditStreamReader.read(client) { record in
            let text = String(decoding: record, as: UTF8.self)
            let line = text.hasPrefix(prefix) ? "{" + text.dropFirst(prefix.count) : text
            records[line, default: 0] += 1
        }
        return records
    }

    /// How many records the stream holds (its state, from JetStream's API).
    static func streamCount(_ directory: TemporaryDirectory, upstream: String) throws -> Int {
        let client = try connectAsWarden(directory, upstream: upstream)
        defer { client.close() }
        let info = try client.request("$JS.API.STREAM.INFO.WARDEN_AUDIT", "")
        let object = try JSONSerialization.jsonObject(with: Data(info.payload)) as? [String: Any]
        return ((object?["state"] as? [String: Any])?["messages"] as? NSNumber)?.intValue ?? 0
    }

    /// Waits until the stream holds as many records as the log has denials, then compares them.
    static func expectEveryDenialOnce(_ directory: TemporaryDirectory, upstream: String, stderr: String) async throws {
        let denials = try Self.logDenials(directory)
        var records: [String: Int] = [:]
        _ = await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
            records = (try? Self.streamRecords(directory, upstream: upstream)) ?? [:]
            return records.values.reduce(0, +) >= denials.values.reduce(0, +)
        }
        #expect(denials.values.reduce(0, +) > 0)
        #expect(records.values.allSatisfy { $0 == 1 }, "a record stored twice")
        let missing = denials.keys.filter { records[$0] == nil }
        let extra = records.keys.filter { denials[$0] == nil }
        let log = ServeCommandTests.read(stderr).suffix(2000)
        #expect(
            missing.isEmpty && extra.isEmpty,
            "stream \(records.count), log \(denials.count): \(missing.count) missing, e.g. \(missing.sorted().prefix(2)); \(extra.count) not in the log, e.g. \(extra.sorted().prefix(2)); \(log)"
        )
    }

    @Test func aSIGKILLInAFloodOfDenialsLosesNoRecordAndStoresNoneTwice() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let nats = try FleetEndToEndTests.natsServer(in: directory)
        defer { nats.stop() }
        let upstream = "tls://127.0.0.1:\(nats.port)"
        let port = try Loopback.freePort()
        var (process, stderr) = try Self.serve(directory, upstream: upstream, port: port)
        defer { if process.isRunning { process.terminate() } }

        try Self.flood(10000, port: port, in: directory)
        // Killed while the stream is still behind the log (checked: not every record was in yet).
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let logged = try Self.logDenials(directory).values.reduce(0, +)
        let shipped = try Self.streamCount(directory, upstream: upstream)
        print("audit stream: \(shipped) of \(logged) deny records in the stream at the SIGKILL")
        #expect(shipped < logged, "the flood was shipped before the kill: \(shipped) of \(logged)")

        (process, stderr) = try Self.serve(directory, upstream: upstream, port: port)
        try Self.flood(500, port: port, in: directory)
        try await Self.expectEveryDenialOnce(directory, upstream: upstream, stderr: stderr)

        let total = try Self.logDenials(directory).values.reduce(0, +)
        #expect(total >= logged + 500)
        let summary = try warden(["denials", "--nats", upstream], in: directory.path)
        #expect(summary.status == 0, "\(summary.stderr)")
        #expect(
            summary.stdout.hasPrefix("\(total) denied of \(total) decisions in the stream WARDEN_AUDIT"),
            "\(summary.stdout)")
        #expect(summary.stdout.contains("from 1 Warden(s): warden-a"), "\(summary.stdout)")
    }

    @Test func recordsLoggedWhileNATSIsDownReachTheStreamOnceItIsBack() async throws {
        let directory = try ClusterEndToEndTests.enrolled()
        let nats = try FleetEndToEndTests.natsServer(in: directory)
        defer { nats.stop() }
        let upstream = "tls://127.0.0.1:\(nats.port)"
        let port = try Loopback.freePort()
        let (warden, stderr) = try Self.serve(directory, upstream: upstream, port: port)
        defer { if warden.isRunning { warden.terminate() } }

        try Self.flood(10000, port: port, in: directory)
        nats.kill()
        try await Task.sleep(for: .seconds(3))
        try nats.start()
        try Self.flood(500, port: port, in: directory)
        try await Self.expectEveryDenialOnce(directory, upstream: upstream, stderr: stderr)
    }
}
