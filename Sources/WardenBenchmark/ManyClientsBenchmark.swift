import Foundation
import Histogram
import NATSClient
import WardenDevelopment
import WardenPKI

/// Many concurrent mTLS clients, each with a subscription, straight at one nats-server and then
/// through one Warden (a `warden serve` process in front of it), side by side: the server's memory and descriptors per client, connections a
/// second while they connect, a fan-out that reaches every one, and a reconnect storm (nats-server
/// restarted: every client cut off and reconnecting at once) with another service's request/reply
/// meanwhile. The clients live in `LoadWorker` processes, a few thousand each.
final class ManyClientsBenchmark {
    let clients: Int
    let workerCount: Int
    let folder: BenchmarkFolder
    let natsPort: Int
    let wardenPort: Int
    let natsConfiguration: String
    private var nats: NATSServerProcess?
    private var warden: Process?
    private var workers: [WorkerProcess] = []
    /// Warden's own log, for why it refused connections.
    var wardenLog: String { self.folder.path + "/warden.log" }

    init(clients: Int, workers: Int, wardenExecutable: String) throws {
        self.clients = clients
        self.workerCount = workers
        self.folder = try BenchmarkFolder(named: "warden-clients")
        self.natsPort = try LoopbackPort.free()
        self.wardenPort = try LoopbackPort.free()
        self.natsConfiguration = NATSServerConfig.render(
            authority: self.folder.authority, host: "127.0.0.1", port: self.natsPort)
        self.nats = try NATSServerProcess(
            configuration: self.natsConfiguration, port: self.natsPort, folder: self.folder.path)
        self.warden = try ProxyBenchmark.launch(
            wardenExecutable,
            [
                "serve", "--upstream", "tls://127.0.0.1:\(self.natsPort)", "--listen", "127.0.0.1:\(self.wardenPort)",
                "--certs", self.folder.layout.root, "--acls", self.folder.acls,
                "--decision-log", self.folder.path + "/decisions.jsonl", "--log-level", "info",
            ], port: self.wardenPort, log: self.wardenLog)
    }

    func stop() {
        for worker in self.workers { worker.quit() }
        if let warden = self.warden, warden.isRunning {
            warden.terminate()
            warden.waitUntilExit()
        }
        self.nats?.stop()
        try? FileManager.default.removeItem(atPath: self.folder.path)
    }

    /// One figure measured both ways: straight at nats-server, and through Warden.
    struct Row {
        var figure: String
        var direct: Double
        var warden: Double
        var unit: String
    }

    /// Every figure, nats-server direct first (its clients start TLS after its INFO, as they do by
    /// default), then through Warden, each with its own clients.
    func run() throws -> [Row] {
        let direct = try self.run(throughWarden: false)
        for worker in self.workers { worker.quit() }
        self.workers = []
        let warden = try self.run(throughWarden: true)
        return zip(direct, warden).map { Row(figure: $0.0, direct: $0.1, warden: $1.1, unit: $0.2) }
    }

    /// The figures of one path, in the order printed: (name, value, unit). Memory and descriptors are
    /// the serving process's: nats-server's direct, Warden's through it.
    private func run(throughWarden: Bool) throws -> [(String, Double, String)] {
        let server = throughWarden ? self.warden?.processIdentifier : self.nats?.processIdentifier
        guard let pid = server else { throw BenchmarkError("the server is not running") }
        var figures: [(String, Double, String)] = []
        let residentBefore = ProxyBenchmark.residentKiB(pid)
        let descriptorsBefore = Self.descriptors(pid)

        // Connecting.
        let start = ContinuousClock.now
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let options = self.options(throughWarden: throughWarden, persistent: false)
        for index in 0..<self.workerCount {
            let share = self.clients / self.workerCount + (index < self.clients % self.workerCount ? 1 : 0)
            let port = throughWarden ? self.wardenPort : self.natsPort
            self.workers.append(
                try WorkerProcess(
                    executable,
                    [
                        "load-worker", "\(port)", "\(share)", options.certificateFile!, options.keyFile!,
                        options.caFile!, throughWarden ? "tls-first" : "info-first",
                    ]))
        }
        try self.waitUntil("all \(self.clients) clients subscribed", timeout: .seconds(600)) {
            $0.subscribed == self.clients
        }
        let connecting = ProxyBenchmark.seconds(ContinuousClock.now - start)
        figures.append(("connections a second while connecting", Double(self.clients) / connecting, "/s"))
        sleep(2)
        let resident = ProxyBenchmark.residentKiB(pid)
        let descriptors = Self.descriptors(pid)
        figures.append(("server resident memory", Double(resident) / 1024, "MiB"))
        figures.append(("server memory per client", Double(resident - residentBefore) / Double(self.clients), "KiB"))
        figures.append(("server descriptors", Double(descriptors), ""))
        figures.append(
            ("server descriptors added per client", Double(descriptors - descriptorsBefore) / Double(self.clients), ""))

        // A fan-out to every client.
        let publisher = try NATSClient(self.options(throughWarden: throughWarden, persistent: false))
        let messages = 20
        let deliveredBefore = try self.total().delivered
        let fanOut = ContinuousClock.now
        for index in 0..<messages { try publisher.publish(LoadClient.subject, "fan-out \(index)") }
        try publisher.flush(timeoutMilliseconds: 10_000)
        try self.waitUntil("every client got the fan-out", timeout: .seconds(120)) {
            $0.delivered - deliveredBefore >= messages * self.clients
        }
        let fanOutSeconds = ProxyBenchmark.seconds(ContinuousClock.now - fanOut)
        figures.append(
            (
                "fan-out deliveries a second (\(messages) messages × every client)",
                Double(messages * self.clients) / fanOutSeconds, "/s"
            ))
        publisher.close()

        figures += try self.reconnectStorm(throughWarden: throughWarden)
        return figures
    }

    /// nats-server restarted under every client: how long until all are subscribed again, and what
    /// another service's request/reply (by the same path) sees meanwhile.
    private func reconnectStorm(throughWarden: Bool) throws -> [(String, Double, String)] {
        let responding = try NATSClient(self.options(throughWarden: false, persistent: true))
        let responder = try EchoResponder(responding, subject: "bench.rpc")
        defer {
            responder.stop()
            responding.close()
        }
        let requester = try NATSClient(self.options(throughWarden: throughWarden, persistent: true))
        defer { requester.close() }
        let quiet = self.requestLatencies(requester, count: 500)

        let before = try self.total()
        let storm = StormRequests(requester)
        storm.start()
        self.nats?.stop()
        self.nats = try NATSServerProcess(
            configuration: self.natsConfiguration, port: self.natsPort, folder: self.folder.path)
        let back = ContinuousClock.now
        try self.waitUntil("every client cut off and back", timeout: .seconds(600)) {
            $0.reconnected - before.reconnected >= self.clients && $0.subscribed == self.clients
        }
        let storming = ProxyBenchmark.seconds(ContinuousClock.now - back)
        let (latencies, failed) = storm.stop()
        if throughWarden {
            for (reason, count) in self.refusals().prefix(3) {
                print("  Warden refused \(count) connections: \(reason)")
            }
        }
        return [
            ("storm: seconds from nats-server back until every client is subscribed again", storming, "s"),
            ("request/reply p99 before the storm", Double(quiet.valueAtPercentile(99)) / 1e6, "ms"),
            ("request/reply p99 during the storm (answered ones)", Double(latencies.valueAtPercentile(99)) / 1e6, "ms"),
            ("request/reply answered during the storm", Double(latencies.totalCount), ""),
            ("request/reply failed during the storm", Double(failed), ""),
        ]
    }

    private func requestLatencies(_ requester: NATSClient, count: Int) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<count {
            let start = ContinuousClock.now
            guard (try? requester.request("bench.rpc", "ping", timeoutMilliseconds: 2000)) != nil else { continue }
            _ = histogram.record(UInt64(ProxyBenchmark.seconds(ContinuousClock.now - start) * 1e9))
        }
        return histogram
    }

    func options(throughWarden: Bool, persistent: Bool) -> NATSClient.Options {
        let layout = self.folder.layout
        let service = layout.serviceDirectory("bench")
        var options =
            throughWarden
            ? NATSClient.Options(
                url: "tls://127.0.0.1:\(self.wardenPort)", caFile: service + "/ca.pem",
                certificateFile: service + "/cert.pem", keyFile: service + "/key.pem")
            : NATSClient.Options(
                url: "tls://127.0.0.1:\(self.natsPort)", caFile: layout.caCertificate,
                certificateFile: layout.upstreamCertificate, keyFile: layout.upstreamKey)
        options.inboxPrefix = "_INBOX.bench"
        options.timeoutMilliseconds = 10_000
        options.sendAsap = true
        options.persistent = persistent
        return options
    }

    /// Every worker's counts, added up.
    func total() throws -> LoadClient.Counts {
        var total = LoadClient.Counts()
        for worker in self.workers {
            let counts = try worker.status()
            total.subscribed += counts.subscribed
            total.reconnected += counts.reconnected
            total.delivered += counts.delivered
            total.errors += counts.errors
        }
        return total
    }

    private func waitUntil(_ what: String, timeout: Duration, _ done: (LoadClient.Counts) -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        var reported = ContinuousClock.now
        while true {
            let counts = try self.total()
            if done(counts) { return }
            guard ContinuousClock.now < deadline else {
                throw BenchmarkError("not \(what) within \(timeout): \(counts)")
            }
            if ContinuousClock.now - reported > .seconds(5) {
                reported = ContinuousClock.now
                print("  … \(counts.subscribed) subscribed, \(counts.reconnected) reconnected, \(counts.errors) errors")
            }
            usleep(100_000)
        }
    }

    /// Why Warden refused client connections, most frequent first (its log's `connection refused`).
    func refusals() -> [(String, Int)] {
        let text = (try? String(contentsOfFile: self.wardenLog, encoding: .utf8)) ?? ""
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.contains("connection refused") {
            guard let start = line.range(of: "reason=") else { continue }
            let reason = line[start.upperBound...].prefix { $0 != "[" }.trimmingCharacters(in: .whitespaces)
            counts[String(reason.prefix(100)), default: 0] += 1
        }
        return counts.sorted { $0.value > $1.value }
    }

    static func descriptors(_ pid: Int32) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }
}
