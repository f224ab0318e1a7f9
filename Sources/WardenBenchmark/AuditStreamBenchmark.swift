import Foundation
import NATSClient
import WardenDevelopment
import WardenPKI

/// What the audit stream (`warden serve --audit-stream`) costs in a flood of denials: the same flood of
/// denied publishes through one Warden in front of a JetStream nats-server, without and with the stream,
/// side by side: how fast Warden decides the flood, how long until the stream holds every record, and
/// what nats-server spends on it (CPU, memory, storage).
struct AuditStreamBenchmark {
    struct Row {
        var figure: String
        var without: Double
        var with: Double
        var unit: String
    }

    let denials: Int
    let executable: String

    func run() throws -> [Row] {
        let folder = try BenchmarkFolder(named: "warden-audit-stream")
        defer { try? FileManager.default.removeItem(atPath: folder.path) }
        let port = try LoopbackPort.free()
        let nats = try NATSServerProcess(
            configuration: NATSServerConfig.render(
                authority: folder.authority, host: "127.0.0.1", port: port, jetStreamStore: folder.path + "/js"),
            port: port, folder: folder.path + "/nats")
        defer { nats.stop() }
        let without = try self.measure(folder: folder, nats: nats, stream: false)
        let with = try self.measure(folder: folder, nats: nats, stream: true)
        return [
            Row(figure: "denials decided / s (the flood's pace)", without: without.rate, with: with.rate, unit: "/s"),
            Row(figure: "every record in the stream after the flood", without: 0, with: with.shipped, unit: "s"),
            Row(figure: "nats-server CPU per 1,000 denials", without: without.natsCPU, with: with.natsCPU, unit: "ms"),
            Row(figure: "Warden CPU per 1,000 denials", without: without.wardenCPU, with: with.wardenCPU, unit: "ms"),
            Row(figure: "nats-server resident memory after", without: without.natsRSS, with: with.natsRSS, unit: "MiB"),
            Row(figure: "stream storage per record", without: 0, with: with.bytesPerRecord, unit: "bytes"),
        ]
    }

    private struct Measurement {
        var rate: Double
        var shipped: Double
        var natsCPU: Double
        var wardenCPU: Double
        var natsRSS: Double
        var bytesPerRecord: Double
    }

    private func measure(folder: BenchmarkFolder, nats: NATSServerProcess, stream: Bool) throws -> Measurement {
        let port = try LoopbackPort.free()
        let log = folder.path + "/decisions-\(stream ? "stream" : "plain").jsonl"
        let warden = try ProxyBenchmark.launch(
            self.executable,
            [
                "serve", "--upstream", "tls://127.0.0.1:\(nats.port)", "--listen", "127.0.0.1:\(port)", "--certs",
                folder.layout.root, "--acls", folder.acls, "--decision-log", log, "--no-peers", "--log-level",
                "warning", "--instance", "bench",
            ] + (stream ? ["--audit-stream"] : []), port: port)
        defer {
            warden.terminate()
            warden.waitUntilExit()
        }
        let service = folder.layout.serviceDirectory("bench")
        var options = NATSClient.Options(
            url: "tls://127.0.0.1:\(port)", caFile: folder.layout.caCertificate,
            certificateFile: service + "/cert.pem", keyFile: service + "/key.pem")
        options.timeoutMilliseconds = 10_000
        let client = try NATSClient(options)
        defer { client.close() }
        let direct = try self.directClient(folder: folder, nats: nats)
        defer { direct.close() }
        // Until the stream exists, nothing can be shipped: start from a known state.
        if stream {
            let deadline = Date().addingTimeInterval(15)
            while Self.storedRecords(direct) == nil, Date() < deadline { usleep(50_000) }
        }
        let storedBefore = Self.storedRecords(direct) ?? 0
        let natsBefore = Self.cpuSeconds(pid: nats.processIdentifier)
        let wardenBefore = Self.cpuSeconds(pid: warden.processIdentifier)
        let start = Date()
        for index in 0..<self.denials { try? client.publish("bench.never.\(index % 1000)", "x") }
        try client.flush(timeoutMilliseconds: 60_000)
        let decided = Date().timeIntervalSince(start)
        var shipped = 0.0
        if stream {
            let deadline = Date().addingTimeInterval(300)
            while (Self.storedRecords(direct) ?? 0) - storedBefore < self.denials, Date() < deadline { usleep(20_000) }
            shipped = Date().timeIntervalSince(start)
        } else {
            // The same settling time for the comparison of CPU: the log is written behind.
            usleep(500_000)
        }
        let perThousand = 1000.0 / Double(self.denials) * 1000
        let bytes = stream ? Self.streamBytes(direct) : 0
        return Measurement(
            rate: Double(self.denials) / decided, shipped: shipped,
            natsCPU: (Self.cpuSeconds(pid: nats.processIdentifier) - natsBefore) * perThousand,
            wardenCPU: (Self.cpuSeconds(pid: warden.processIdentifier) - wardenBefore) * perThousand,
            natsRSS: Double(Self.residentBytes(pid: nats.processIdentifier)) / 1_048_576,
            bytesPerRecord: bytes / Double(max(1, Self.storedRecords(direct) ?? 1)))
    }

    /// A connection straight to nats-server with Warden's identity, for JetStream's API.
    private func directClient(folder: BenchmarkFolder, nats: NATSServerProcess) throws -> NATSClient {
        var options = NATSClient.Options(
            url: "tls://127.0.0.1:\(nats.port)", caFile: folder.layout.caCertificate,
            certificateFile: folder.layout.upstreamCertificate, keyFile: folder.layout.upstreamKey)
        options.timeoutMilliseconds = 5000
        return try NATSClient(options)
    }

    private static func streamState(_ client: NATSClient) -> [String: Any]? {
        guard let reply = try? client.request("$JS.API.STREAM.INFO.WARDEN_AUDIT", ""),
            let info = (try? JSONSerialization.jsonObject(with: Data(reply.payload))) as? [String: Any]
        else { return nil }
        return info["state"] as? [String: Any]
    }

    private static func storedRecords(_ client: NATSClient) -> Int? {
        (Self.streamState(client)?["messages"] as? NSNumber)?.intValue
    }

    private static func streamBytes(_ client: NATSClient) -> Double {
        (Self.streamState(client)?["bytes"] as? NSNumber)?.doubleValue ?? 0
    }

    /// User and system CPU time of process `pid` so far, in seconds (/proc/PID/stat, fields 14 and 15).
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of process `pid`, in bytes (/proc/PID/status VmRSS).
    static func residentBytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib * 1024
    }
}

extension AuditStreamBenchmark {
    /// Runs it with `warden` built next to warden-bench, prints the figures and returns them for the JSON.
    static func report(quick: Bool) throws -> [[String: Any]] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("warden").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchmarkError("\(executable) not found; build it with `swift build -c release`")
        }
        let denials = quick ? 20_000 : 200_000
        print(
            "\naudit stream: \(denials) denied publishes by one nats.c client through one Warden, JetStream nats-server"
        )
        let rows = try AuditStreamBenchmark(denials: denials, executable: executable).run()
        print("figure".padding(48) + "without stream".padding(16) + "with --audit-stream")
        for row in rows {
            print(
                (row.figure + " (\(row.unit))").padding(48) + BenchmarkMain.format(row.without).padding(16)
                    + BenchmarkMain.format(row.with))
        }
        return rows.map { ["figure": $0.figure, "without": $0.without, "with": $0.with, "unit": $0.unit] }
    }
}
