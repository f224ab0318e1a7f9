import Foundation
import Histogram
import NATSClient
import WardenDevelopment
import WardenPKI

/// Warden against nats-server direct, side by side in one run: the same workloads, alternating between
/// a TLS connection straight to nats-server and a TLS connection through Warden (a separate `warden
/// serve` process, logging every decision to a real file).
final class ProxyBenchmark {
    struct Sizes {
        var messages: Int
        var fanOutMessages: Int
        var requests: Int
        var idleConnections: Int
        var rounds: Int
    }

    /// One figure measured both ways.
    struct Row {
        var workload: String
        var unit: String
        var direct: Double
        var warden: Double
        /// Whether more is better (throughput) or less (latency, memory).
        var higherIsBetter: Bool
        /// The same through a bare TCP relay, where measured (`TCPRelay`).
        var relay: Double? = nil
        var ratio: Double { self.direct == 0 ? 0 : self.warden / self.direct }
    }

    /// The workloads, by the names `--only` takes.
    static let workloads = ["pubsub-16", "pubsub-128", "pubsub-1k", "pubsub-16k", "fanout", "request-reply", "idle"]

    let sizes: Sizes
    /// The one workload to run, or nil for all.
    let only: String?
    let directory: String
    let layout: CertsLayout
    let natsPort: Int
    let wardenPort: Int
    let decisionLog: String
    private var nats: NATSServerProcess?
    private var warden: Process?
    private var relay: TCPRelay?

    /// `serveArguments` are added to `warden serve`'s command line.
    init(sizes: Sizes, wardenExecutable: String, only: String? = nil, serveArguments: [String] = []) throws {
        self.sizes = sizes
        self.only = only
        let folder = try BenchmarkFolder(named: "warden-bench")
        self.directory = folder.path
        self.layout = folder.layout
        let authority = folder.authority

        self.natsPort = try LoopbackPort.free()
        self.wardenPort = try LoopbackPort.free()
        self.decisionLog = self.directory + "/decisions.jsonl"
        let config = NATSServerConfig.render(authority: authority, host: "127.0.0.1", port: self.natsPort)
            .replacingOccurrences(of: "tls {", with: "max_pending: 256MB\ntls {")
        self.nats = try NATSServerProcess(configuration: config, port: self.natsPort, folder: self.directory)
        self.warden = try Self.launch(
            wardenExecutable,
            [
                "serve", "--upstream", "tls://127.0.0.1:\(self.natsPort)", "--listen", "127.0.0.1:\(self.wardenPort)",
                "--certs", self.layout.root, "--acls", self.directory + "/acls", "--decision-log", self.decisionLog,
                "--log-level", "warning",
            ] + serveArguments, port: self.wardenPort)
        if self.runs("request-reply") { self.relay = try TCPRelay(targetPort: self.natsPort) }
    }

    /// The `malloc` the Warden process runs with: the one its memory map shows (the `warden` executable
    /// links mimalloc), or a library preloaded in front of it.
    var wardenAllocator: String {
        guard let pid = self.warden?.processIdentifier,
            let maps = Self.procText("/proc/\(pid)/maps"), !maps.isEmpty  // empty: the process has exited
        else { return "unknown" }
        let linked = ["mimalloc", "tcmalloc", "jemalloc"].first { maps.contains("lib\($0)") } ?? "glibc malloc"
        // Warden inherits the benchmark's environment; a preloaded library comes before the linked one.
        if let preload = ProcessInfo.processInfo.environment["LD_PRELOAD"], !preload.isEmpty {
            return "\(preload) (LD_PRELOAD), in front of \(linked)"
        }
        return linked
    }

    func stop() {
        self.relay?.stop()
        if let warden = self.warden, warden.isRunning {
            warden.terminate()
            warden.waitUntilExit()
        }
        self.nats?.stop()
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    // MARK: Clients

    enum Path: String { case direct, warden, relay }

    func client(_ path: Path, sendAsap: Bool = false) throws -> NATSClient {
        try NATSClient(self.clientOptions(path, sendAsap: sendAsap))
    }

    func clientOptions(_ path: Path, sendAsap: Bool = false) -> NATSClient.Options {
        let folder = self.layout.serviceDirectory("bench")
        var options: NATSClient.Options
        switch path {
        case .direct, .relay:
            // nats-server is locked to Warden's identity, so the direct clients use it.
            let port = path == .relay ? self.relay!.port : self.natsPort
            options = NATSClient.Options(
                url: "tls://127.0.0.1:\(port)", caFile: self.layout.caCertificate,
                certificateFile: self.layout.upstreamCertificate, keyFile: self.layout.upstreamKey)
        case .warden:
            options = NATSClient.Options(
                url: "tls://127.0.0.1:\(self.wardenPort)", caFile: folder + "/ca.pem",
                certificateFile: folder + "/cert.pem", keyFile: folder + "/key.pem")
        }
        options.inboxPrefix = "_INBOX.bench"
        options.timeoutMilliseconds = 10_000
        options.sendAsap = sendAsap
        return options
    }

    // MARK: Workloads

    func run() throws -> [Row] {
        var rows: [Row] = []
        var cpuRows: [Row] = []
        // Idle memory first, while both servers are fresh: after the other workloads they place new
        // connections in memory those freed, and the figure would depend on what ran before.
        let idle = self.runs("idle") ? try self.idleMemory() : nil
        for (size, name) in [(16, "pubsub-16"), (128, "pubsub-128"), (1024, "pubsub-1k"), (16 * 1024, "pubsub-16k")]
        where self.runs(name) {
            let (direct, warden) = try self.alternate { try self.throughput(path: $0, payload: size, subscribers: 1) }
            rows.append(
                Row(
                    workload: "pub→sub \(Self.bytes(size)) msgs/s", unit: "msg/s", direct: direct.rate,
                    warden: warden.rate,
                    higherIsBetter: true))
            rows.append(
                Row(
                    workload: "pub→sub \(Self.bytes(size)) MB/s", unit: "MB/s",
                    direct: direct.rate * Double(size) / 1e6,
                    warden: warden.rate * Double(size) / 1e6, higherIsBetter: true))
            cpuRows.append(
                Row(
                    workload: "server CPU per \(Self.bytes(size)) msg, ns", unit: "ns",
                    direct: direct.cpuNanosPerMessage,
                    warden: warden.cpuNanosPerMessage, higherIsBetter: false))
        }
        if self.runs("fanout") {
            let (fanDirect, fanWarden) = try self.alternate {
                try self.throughput(path: $0, payload: 128, subscribers: 8)
            }
            rows.append(
                Row(
                    workload: "fan-out 1→8 128 B deliveries/s", unit: "msg/s", direct: fanDirect.rate,
                    warden: fanWarden.rate,
                    higherIsBetter: true))
        }
        rows.append(contentsOf: cpuRows)
        if self.runs("request-reply") { rows.append(contentsOf: try self.requestReplyRows()) }
        if let (idleDirect, idleWarden) = idle {
            rows.append(
                Row(
                    workload: "idle connection KiB (server process)", unit: "KiB", direct: idleDirect,
                    warden: idleWarden, higherIsBetter: false))
        }
        return rows
    }

    private func runs(_ workload: String) -> Bool { self.only == nil || self.only == workload }

    private func requestReplyRows() throws -> [Row] {
        var rows: [Row] = []

        var latencies: [Path: Histogram<UInt64>] = [:]
        for _ in 0..<self.sizes.rounds {
            for path in [Path.direct, .relay, .warden] {
                let histogram = try self.requestReply(path: path)
                if var merged = latencies[path] {
                    merged.add(histogram)
                    latencies[path] = merged
                } else {
                    latencies[path] = histogram
                }
            }
        }
        for percentile in [50.0, 90.0, 99.0, 99.9] {
            let direct = Double(latencies[.direct]!.valueAtPercentile(percentile)) / 1000
            let warden = Double(latencies[.warden]!.valueAtPercentile(percentile)) / 1000
            let relay = Double(latencies[.relay]!.valueAtPercentile(percentile)) / 1000
            rows.append(
                Row(
                    workload: "request/reply p\(Self.number(percentile)) µs", unit: "µs", direct: direct,
                    warden: warden, higherIsBetter: false, relay: relay))
        }
        return rows
    }

    /// What one throughput run measured.
    struct Throughput {
        /// Messages per second received by each subscriber.
        var rate: Double
        /// CPU time the server process (nats-server direct, Warden through it, all threads) spent per
        /// message published: steadier than the rate on a shared machine, since time spent waiting for a
        /// core does not count.
        var cpuNanosPerMessage: Double
    }

    /// Runs `body` for each path, alternating, `rounds` times; the best of each (least disturbed by
    /// noise): the highest rate and the lowest CPU cost.
    private func alternate(_ body: (Path) throws -> Throughput) throws -> (direct: Throughput, warden: Throughput) {
        var direct: [Throughput] = []
        var warden: [Throughput] = []
        for _ in 0..<self.sizes.rounds {
            direct.append(try body(.direct))
            warden.append(try body(.warden))
        }
        func best(_ runs: [Throughput]) -> Throughput {
            Throughput(rate: runs.map(\.rate).max() ?? 0, cpuNanosPerMessage: runs.map(\.cpuNanosPerMessage).min() ?? 0)
        }
        return (best(direct), best(warden))
    }

    /// One publisher to `subscribers`, `payload` bytes each.
    private func throughput(path: Path, payload: Int, subscribers count: Int) throws -> Throughput {
        let messages = count == 1 ? self.sizes.messages / max(1, payload / 1024) : self.sizes.fanOutMessages
        let subject = "bench.tp.\(UUID().uuidString.prefix(8))"
        let subscribers = try (0..<count).map { _ in try self.client(path) }
        let subscriptions = try subscribers.map { client in
            let subscription = try client.subscribe(subject)
            subscription.removePendingLimits()
            try client.flush()
            return subscription
        }
        let publisher = try self.client(path)
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: payload)
        let flushEvery = max(64, (2 << 20) / max(payload, 1))
        let received = Counter()
        let group = DispatchGroup()
        for subscription in subscriptions {
            DispatchQueue.global().async(group: group) {
                received.add(subscription.discard(messages, timeoutMilliseconds: 10_000))
            }
        }
        let server = path == .direct ? self.nats!.processIdentifier : self.warden!.processIdentifier
        let cpuBefore = Self.cpuNanoseconds(server)
        let start = ContinuousClock.now
        for index in 0..<messages {
            try publisher.publish(subject, body)
            if index % flushEvery == flushEvery - 1 { try publisher.flush(timeoutMilliseconds: 10_000) }
        }
        try publisher.flush(timeoutMilliseconds: 10_000)
        group.wait()
        let elapsed = ContinuousClock.now - start
        let cpu = Self.cpuNanoseconds(server) - cpuBefore
        let total = received.value
        guard total == messages * count else {
            throw BenchmarkError("\(path.rawValue): \(total) of \(messages * count) messages arrived")
        }
        return Throughput(
            rate: Double(messages * count) / Self.seconds(elapsed), cpuNanosPerMessage: Double(cpu) / Double(messages))
    }

    /// Round-trip times of sequential requests, in nanoseconds.
    ///
    /// Both ends send at once (`sendAsap`). With nats.c's default, the responder's reply waits for the
    /// client's flusher thread, which gathers writes for about a millisecond; every round trip then
    /// takes about 1 ms on either path, and what the server adds disappears inside that wait.
    private func requestReply(path: Path) throws -> Histogram<UInt64> {
        let responder = try EchoResponder(self.client(path, sendAsap: true), subject: "bench.rpc")
        defer { responder.stop() }
        let requester = try self.client(path, sendAsap: true)
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<100 { _ = try requester.request("bench.rpc", "warm-up", timeoutMilliseconds: 5000) }
        for _ in 0..<self.sizes.requests {
            let start = ContinuousClock.now
            _ = try requester.request("bench.rpc", "ping", timeoutMilliseconds: 5000)
            let elapsed = ContinuousClock.now - start
            _ = histogram.record(UInt64(Self.seconds(elapsed) * 1e9))
        }
        return histogram
    }

    /// Resident memory each idle client connection adds to the server process: nats-server for direct
    /// connections, Warden (both its TLS legs) for connections through it.
    private func idleMemory() throws -> (Double, Double) {
        func perConnection(_ path: Path, _ pid: Int32) throws -> Double {
            var clients: [NATSClient] = []
            clients.reserveCapacity(self.sizes.idleConnections)
            // One connection first, so that one-off allocations are not counted.
            clients.append(try self.client(path))
            Thread.sleep(forTimeInterval: 0.5)
            let before = Self.residentKiB(pid)
            // The rest share one set of options: nats.c then reads the certificate files once, which
            // with OpenSSL 3 is most of a client's cost to connect.
            clients += try NATSClient.connect(self.clientOptions(path), count: self.sizes.idleConnections - 1)
            for client in clients { try client.flush(timeoutMilliseconds: 10_000) }
            Thread.sleep(forTimeInterval: 1)
            let after = Self.residentKiB(pid)
            for client in clients { client.close() }
            return Double(after - before) / Double(self.sizes.idleConnections - 1)
        }
        let direct = try perConnection(.direct, self.nats!.processIdentifier)
        let warden = try perConnection(.warden, self.warden!.processIdentifier)
        return (direct, warden)
    }

    // MARK: Helpers

    /// A `/proc` file's whole text. Read to the end: `/proc` files report a size of 0, and
    /// `String(contentsOfFile:)` stops early on the longer ones (a process's `maps`).
    static func procText(_ path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        // `readToEnd` gives nil for an empty file; an exited process's files are empty.
        return String(decoding: (try? file.readToEnd()) ?? Data(), as: UTF8.self)
    }

    static func residentKiB(_ pid: Int32) -> Int {
        guard let status = Self.procText("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// CPU time used so far by every thread of process `pid`, in nanoseconds (`/proc/PID/task/*/schedstat`).
    static func cpuNanoseconds(_ pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.reduce(0) { total, task in
            guard let stat = Self.procText("/proc/\(pid)/task/\(task)/schedstat") else { return total }
            return total + (Int(stat.split(separator: " ").first ?? "0") ?? 0)
        }
    }

    /// Starts `executable` and waits until it listens on `port`; its output goes to `log`, if given.
    static func launch(_ executable: String, _ arguments: [String], port: Int, log: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let log, FileManager.default.createFile(atPath: log, contents: nil),
            let file = FileHandle(forWritingAtPath: log)
        {
            process.standardError = file
        }
        // Otherwise the wait below would take whatever listens there for the process just started.
        guard !LoopbackPort.isListening(port) else {
            throw BenchmarkError("127.0.0.1:\(port) is already taken; \(executable) was not started")
        }
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while !LoopbackPort.isListening(port) {
            guard process.isRunning, Date() < deadline else {
                process.terminate()
                throw BenchmarkError("\(executable) \(arguments.first ?? "") did not listen on \(port)")
            }
            usleep(20_000)
        }
        return process
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func bytes(_ size: Int) -> String { size >= 1024 ? "\(size / 1024) KiB" : "\(size) B" }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}
