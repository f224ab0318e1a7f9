import Foundation
import NATSClient
import WardenDevelopment
import WardenPKI

/// How long services are without service when something fails: a three-server nats-server cluster with
/// TLS routes and two Wardens (`warden serve` processes) in front of it, persistent nats.c clients
/// through the Wardens and, side by side, straight to the cluster. A nats-server is killed (SIGKILL),
/// then a Warden; each client's gap is from its connection dropping to its reconnection (subscriptions
/// restored), with nats.c's reconnect wait of 1 s between tries of the same URL.
final class FailoverBenchmark {
    struct Row {
        var failure: String
        var path: String
        var cutOff: Int
        var clients: Int
        var p50: Double
        var max: Double
        var back: Int
    }

    /// A client's connection events with when they happened.
    final class Timeline: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [(NATSClient.ConnectionEvent, ContinuousClock.Instant)] = []

        func record(_ event: NATSClient.ConnectionEvent) {
            let now = ContinuousClock.now
            self.lock.withLock { self.events.append((event, now)) }
        }

        /// The gap of the first drop after `since`, once it has reconnected; nil if it did not drop, and
        /// `.infinity` if it has not reconnected.
        func gap(since: ContinuousClock.Instant) -> Double? {
            self.lock.withLock {
                guard let drop = self.events.first(where: { $0.0 == .disconnected && $0.1 >= since }) else {
                    return nil
                }
                guard let back = self.events.first(where: { $0.0 == .reconnected && $0.1 >= drop.1 }) else {
                    return .infinity
                }
                return ProxyBenchmark.seconds(back.1 - drop.1) * 1000
            }
        }
    }

    let clientsPerPath: Int
    let directory: String
    let layout: CertsLayout
    private var servers: [NATSServerProcess] = []
    private var wardens: [Process] = []
    private var wardenPorts: [Int] = []
    private var natsPorts: [Int] = []

    init(clientsPerPath: Int, wardenExecutable: String) throws {
        self.clientsPerPath = clientsPerPath
        let folder = try BenchmarkFolder(named: "warden-failover")
        self.directory = folder.path
        self.layout = folder.layout
        let authority = folder.authority

        self.natsPorts = try (0..<3).map { _ in try LoopbackPort.free() }
        let routePorts = try (0..<3).map { _ in try LoopbackPort.free() }
        for index in 0..<3 {
            let cluster = NATSServerConfig.Cluster(
                name: "bench", serverName: "n\(index)", host: "127.0.0.1", port: routePorts[index],
                routes: routePorts.indices.filter { $0 != index }.map { "tls://127.0.0.1:\(routePorts[$0])" })
            let config = NATSServerConfig.render(
                authority: authority, host: "127.0.0.1", port: self.natsPorts[index], cluster: cluster)
            self.servers.append(
                try NATSServerProcess(
                    configuration: config, port: self.natsPorts[index], folder: self.directory + "/n\(index)"))
        }
        let deadline = Date().addingTimeInterval(15)
        while !self.servers.allSatisfy({ $0.log.components(separatedBy: "Route connection created").count > 2 }) {
            guard Date() < deadline else { throw BenchmarkError("the cluster's routes did not form within 15 s") }
            usleep(50_000)
        }
        let upstream = self.natsPorts.map { "tls://127.0.0.1:\($0)" }.joined(separator: ",")
        self.wardenPorts = try (0..<2).map { _ in try LoopbackPort.free() }
        for (index, port) in self.wardenPorts.enumerated() {
            self.wardens.append(
                try ProxyBenchmark.launch(
                    wardenExecutable,
                    [
                        "serve", "--upstream", upstream, "--listen", "127.0.0.1:\(port)", "--certs", self.layout.root,
                        "--acls", self.directory + "/acls", "--decision-log",
                        self.directory + "/decisions-\(index).jsonl",
                        "--no-audit-events", "--log-level", "warning",
                    ], port: port))
        }
    }

    func stop() {
        for warden in self.wardens where warden.isRunning {
            warden.terminate()
            warden.waitUntilExit()
        }
        for server in self.servers { server.stop() }
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    private func client(through ports: [Int], direct: Bool, timeline: Timeline) throws -> NATSClient {
        let folder = self.layout.serviceDirectory("bench")
        var options = NATSClient.Options(
            url: ports.map { "tls://127.0.0.1:\($0)" }.joined(separator: ","), caFile: self.layout.caCertificate,
            certificateFile: direct ? self.layout.upstreamCertificate : folder + "/cert.pem",
            keyFile: direct ? self.layout.upstreamKey : folder + "/key.pem")
        options.persistent = true
        options.timeoutMilliseconds = 5000
        options.onConnectionEvent = { timeline.record($0) }
        return try NATSClient(options)
    }

    /// Both failures, each measured over every client that was cut off by it.
    func run() throws -> [Row] {
        var timelines: [String: [Timeline]] = ["warden": [], "direct": []]
        var clients: [NATSClient] = []
        for path in ["warden", "direct"] {
            for index in 0..<self.clientsPerPath {
                let timeline = Timeline()
                let client = try self.client(
                    through: path == "direct" ? self.natsPorts : self.wardenPorts, direct: path == "direct",
                    timeline: timeline)
                _ = try client.subscribe("bench.failover.\(path).\(index)")
                try client.flush()
                clients.append(client)
                timelines[path, default: []].append(timeline)
            }
        }
        defer { for client in clients { client.close() } }
        var rows: [Row] = []
        let failures: [(String, [String], () -> Void)] = [
            ("nats-server kill -9", ["warden", "direct"], { self.servers[0].kill() }),
            (
                "Warden kill -9", ["warden"],
                {
                    kill(self.wardens[0].processIdentifier, SIGKILL)
                    self.wardens[0].waitUntilExit()
                }
            ),
        ]
        for (failure, paths, cause) in failures {
            let since = ContinuousClock.now
            cause()
            let deadline = Date().addingTimeInterval(20)
            func gaps(_ path: String) -> [Double] { timelines[path, default: []].compactMap { $0.gap(since: since) } }
            repeat {
                usleep(200_000)
            } while Date() < deadline && paths.contains { path in gaps(path).contains(.infinity) || gaps(path).isEmpty }
            for path in paths {
                let measured = gaps(path).sorted()
                let back = measured.filter { $0.isFinite }
                rows.append(
                    Row(
                        failure: failure, path: path, cutOff: measured.count, clients: self.clientsPerPath,
                        p50: back.isEmpty ? .nan : back[back.count / 2], max: back.last ?? .nan, back: back.count))
            }
        }
        return rows
    }
}
