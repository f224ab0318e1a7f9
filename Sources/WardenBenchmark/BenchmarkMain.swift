import Foundation
import WardenDevelopment

/// `warden-bench [policy|proxy|failover] [--quick] [--only WORKLOAD] [--json FILE]`: prints figures and writes them as JSON;
/// never asserts on timing.
@main
struct BenchmarkMain {
    static func main() {
        do {
            try self.run()
        } catch {
            FileHandle.standardError.write(Data("warden-bench: error: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "load-worker" {
            return try LoadWorker.run(Array(arguments.dropFirst()))
        }
        if arguments.contains("--help") || arguments.contains("-h") {
            print(
                """
                usage: warden-bench [policy|proxy|failover|clients|audit-stream] [--quick] [--clients N] [--only WORKLOAD] [--decision-log-window SIZE] [--json FILE]
                  policy   ns per publish decision, 10 and 10,000 rules, cached and uncached
                  proxy    Warden against nats-server direct over TLS: throughput, fan-out, request/reply
                           latency, memory per idle connection (needs `warden` built next to warden-bench)
                  failover how long clients are without service when a nats-server of a three-server cluster,
                           then a Warden of two, is killed; through Warden and straight to the cluster
                           (only when named: it kills processes it started, and takes about a minute)
                  clients  --clients N (default 9,000) concurrent mTLS clients with a subscription each through
                           one Warden: memory and descriptors per client, connections a second, a fan-out to
                           all, and a reconnect storm after a nats-server restart (only when named)
                  audit-stream
                           a flood of denials through one Warden in front of a JetStream nats-server, without
                           and with --audit-stream: the flood's pace, how long until the stream holds every
                           record, what nats-server spends on it (only when named)
                  --quick  small counts, one round: a smoke run
                  --only   one proxy workload, e.g. to profile it: \(ProxyBenchmark.workloads.joined(separator: ", "))
                  --decision-log-window
                           passed to `warden serve` (default 8MB; 0: nothing leaves before its record is written)
                  --json   where to write the figures (default logs/warden-bench.json)
                """)
            return
        }
        let quick = arguments.contains("--quick")
        var jsonPath = "logs/warden-bench.json"
        if let index = arguments.firstIndex(of: "--json"), index + 1 < arguments.count {
            jsonPath = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
        }
        var only: String?
        if let index = arguments.firstIndex(of: "--only"), index + 1 < arguments.count {
            only = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
            guard ProxyBenchmark.workloads.contains(only!) else {
                throw BenchmarkError(
                    "unknown workload '\(only!)'; one of: \(ProxyBenchmark.workloads.joined(separator: ", "))")
            }
        }
        var window: String?
        if let index = arguments.firstIndex(of: "--decision-log-window"), index + 1 < arguments.count {
            window = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
        }
        var clients = 9000
        if let index = arguments.firstIndex(of: "--clients"), index + 1 < arguments.count {
            guard let count = Int(arguments[index + 1]), count > 0 else {
                throw BenchmarkError("--clients must be a number of clients, e.g. 9000")
            }
            clients = count
            arguments.removeSubrange(index...(index + 1))
        }
        if let unknown = arguments.first(where: {
            !["policy", "proxy", "failover", "clients", "audit-stream", "--quick"].contains($0)
        }) {
            throw BenchmarkError("unknown argument '\(unknown)'; see --help")
        }
        let which = Set(arguments.filter { !$0.hasPrefix("--") })
        let runPolicy = (which.isEmpty && only == nil) || which.contains("policy")
        let runProxy = which.isEmpty || which.contains("proxy")
        let runFailover = which.contains("failover")
        let runClients = which.contains("clients")
        let runAuditStream = which.contains("audit-stream")
        #if DEBUG
        print("note: this is a debug build; measure with `swift build -c release && .build/release/warden-bench`")
        #endif
        var report: [String: Any] = [
            "mode": quick ? "quick" : "full", "cores": ProcessInfo.processInfo.activeProcessorCount,
            "date": ISO8601DateFormatter().string(from: Date()),
        ]
        if let window { report["decision_log_window"] = window }

        if runPolicy {
            let results = try PolicyBenchmark(iterations: quick ? 200_000 : 5_000_000).run()
            print("policy engine: ns per publish decision (\(quick ? "quick" : "full") run)")
            print("rules".padding(8) + "uncached".padding(12) + "cached".padding(12))
            for result in results {
                print(
                    "\(result.rules)".padding(8) + format(result.uncachedNanos).padding(12)
                        + format(result.cachedNanos).padding(12))
            }
            if let few = results.first, let many = results.last {
                print("uncached 10,000 rules / 10 rules: \(format(many.uncachedNanos / few.uncachedNanos))x")
            }
            report["policy"] = results.map {
                ["rules": $0.rules, "uncached_ns": $0.uncachedNanos, "cached_ns": $0.cachedNanos]
            }
        }

        if runProxy {
            let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("warden").path
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                print("proxy benchmark skipped: \(executable) not found; build it with `swift build -c release`")
                throw BenchmarkError("warden executable missing")
            }
            OpenFileLimit.raiseToMaximum()
            let sizes =
                quick
                ? ProxyBenchmark.Sizes(
                    messages: 20_000, fanOutMessages: 5_000, requests: 500, idleConnections: 100, rounds: 1)
                : ProxyBenchmark.Sizes(
                    messages: 200_000, fanOutMessages: 50_000, requests: 10_000, idleConnections: 1000, rounds: 3)
            let benchmark = try ProxyBenchmark(
                sizes: sizes, wardenExecutable: executable, only: only,
                serveArguments: window.map { ["--decision-log-window", $0] } ?? [])
            defer { benchmark.stop() }
            print(
                "\nproxy: Warden vs nats-server direct, both over TLS on loopback, every decision logged (\(quick ? "quick" : "full") run\(window.map { ", decision log window \($0)" } ?? ""))"
            )
            let allocator = benchmark.wardenAllocator
            print("Warden's allocator: \(allocator)")
            report["warden_allocator"] = allocator
            let rows = try benchmark.run()
            let withRelay = rows.contains { $0.relay != nil }
            print(
                "workload".padding(40) + "direct".padding(14) + "warden".padding(14) + "warden/direct".padding(15)
                    + (withRelay ? "bare TCP relay" : ""))
            for row in rows {
                print(
                    row.workload.padding(40) + format(row.direct).padding(14) + format(row.warden).padding(14)
                        + format(row.ratio, digits: 2).padding(15) + (row.relay.map { format($0) } ?? ""))
            }
            if withRelay {
                print(
                    "bare TCP relay: the same round trips through a plain relay in front of nats-server (no TLS termination,"
                )
                print("no parsing, no log): what the extra hops of any proxy cost on this machine")
            }
            let decisions = countLines(benchmark.decisionLog)
            print(
                "decision records written by Warden during the run: \(decisions.map(String.init) ?? "(log unreadable)")"
            )
            report["proxy"] = rows.map {
                var entry: [String: Any] = [
                    "workload": $0.workload, "unit": $0.unit, "direct": $0.direct, "warden": $0.warden,
                    "ratio": $0.ratio,
                ]
                if let relay = $0.relay { entry["relay"] = relay }
                return entry
            }
            if let decisions { report["decision_records"] = decisions }
        }

        if runFailover {
            report["failover"] = try Self.runFailover(quick: quick)
        }
        if runClients {
            report["clients"] = try Self.runClients(clients)
        }
        if runAuditStream {
            report["audit_stream"] = try AuditStreamBenchmark.report(quick: quick)
        }

        let folder = (jsonPath as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: jsonPath))
        print("\nfigures written to \(jsonPath)")
    }

    static func runClients(_ clients: Int) throws -> [[String: Any]] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("warden").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchmarkError("\(executable) not found; build it with `swift build -c release`")
        }
        OpenFileLimit.raiseToMaximum()
        // A process may hold 20,000 descriptors here: 3,000 clients a worker leaves room.
        let workers = max(1, (clients + 2999) / 3000)
        print(
            "\nclients: \(clients) mTLS clients, a subscription each, in \(workers) load processes:"
                + " straight at nats-server, then through one Warden")
        let benchmark = try ManyClientsBenchmark(clients: clients, workers: workers, wardenExecutable: executable)
        defer { benchmark.stop() }
        let rows = try benchmark.run()
        print("figure".padding(80) + "direct".padding(12) + "warden")
        for row in rows {
            print(
                (row.figure + (row.unit.isEmpty ? "" : " (\(row.unit))")).padding(80) + format(row.direct).padding(12)
                    + format(row.warden))
        }
        return rows.map { ["figure": $0.figure, "direct": $0.direct, "warden": $0.warden, "unit": $0.unit] }
    }

    static func runFailover(quick: Bool) throws -> [[String: Any]] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("warden").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchmarkError("\(executable) not found; build it with `swift build -c release`")
        }
        let clients = quick ? 12 : 60
        let benchmark = try FailoverBenchmark(clientsPerPath: clients, wardenExecutable: executable)
        defer { benchmark.stop() }
        print(
            "\nfailover: three nats-servers (TLS routes), two Wardens, \(clients) persistent nats.c clients per path;"
        )
        print("gap = from a client's connection dropping to its reconnection, nats.c reconnect wait 1 s")
        let rows = try benchmark.run()
        print(
            "failure".padding(22) + "path".padding(9) + "cut off".padding(10) + "back".padding(7)
                + "gap p50 ms".padding(12) + "gap max ms")
        for row in rows {
            print(
                row.failure.padding(22) + row.path.padding(9) + "\(row.cutOff)/\(row.clients)".padding(10)
                    + "\(row.back)".padding(7) + format(row.p50).padding(12) + format(row.max))
        }
        return rows.map {
            [
                "failure": $0.failure, "path": $0.path, "cut_off": $0.cutOff, "clients": $0.clients, "back": $0.back,
                "gap_p50_ms": $0.p50.isFinite ? $0.p50 : -1, "gap_max_ms": $0.max.isFinite ? $0.max : -1,
            ]
        }
    }

    static func format(_ value: Double, digits: Int = 1) -> String {
        let scale = digits == 2 ? 100.0 : 10.0
        let rounded = (value * scale).rounded() / scale
        return value >= 100_000 ? "\(Int(value.rounded()))" : "\(rounded)"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        self.count >= width ? self + " " : self + String(repeating: " ", count: width - self.count)
    }
}

/// The number of lines in the file at `path`, read in chunks: a full run's log is hundreds of MB.
func countLines(_ path: String) -> Int? {
    guard let file = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? file.close() }
    var lines = 0
    do {
        // nil or empty at the end of the file.
        while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty {
            lines += chunk.reduce(into: 0) { count, byte in if byte == UInt8(ascii: "\n") { count += 1 } }
        }
    } catch {
        return nil
    }
    return lines
}
