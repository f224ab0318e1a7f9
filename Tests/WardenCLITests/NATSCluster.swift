import Foundation
import WardenDevelopment
import WardenTestSupport

/// Three nats-servers in one cluster on loopback, configured as a user would with `warden nats-config`
/// (TLS routes that admit only nats-server's own identity), each in lame duck mode for 30 s when told.
final class NATSCluster {
    let clientPorts: [Int]
    let routePorts: [Int]
    let servers: [NATSServerProcess]

    /// Writes the three configurations with `warden nats-config` in `directory` (where `warden init`
    /// ran), starts the servers and returns once every one has its two routes (and, with `jetStream`,
    /// once JetStream's meta group has a leader).
    init(in directory: TemporaryDirectory, jetStream: Bool = false) throws {
        let clientPorts = try (0..<3).map { _ in try Loopback.freePort() }
        let routePorts = try (0..<3).map { _ in try Loopback.freePort() }
        var servers: [NATSServerProcess] = []
        for index in 0..<3 {
            let routes = routePorts.indices.filter { $0 != index }.map { "tls://127.0.0.1:\(routePorts[$0])" }
            let generated = try warden(
                [
                    "nats-config", "--listen", "127.0.0.1:\(clientPorts[index])", "--cluster-listen",
                    "127.0.0.1:\(routePorts[index])", "--routes", routes.joined(separator: ","), "--server-name",
                    "n\(index)",
                ] + (jetStream ? ["--store-dir", directory.appending("nats-\(index)/jetstream")] : ["--no-jetstream"]),
                in: directory.path)
            guard generated.status == 0 else {
                throw NATSServerError(.configuration, "nats-config failed: \(generated.stderr)")
            }
            let configuration = generated.stdout + "\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n"
            servers.append(
                try NATSServerProcess(
                    configuration: configuration, port: clientPorts[index], folder: directory.appending("nats-\(index)")
                ))
        }
        self.clientPorts = clientPorts
        self.routePorts = routePorts
        self.servers = servers
        let deadline = Date().addingTimeInterval(15)
        while !servers.allSatisfy({ $0.log.components(separatedBy: "Route connection created").count > 2 }) {
            guard Date() < deadline else {
                throw NATSServerError(.notStarted, "the cluster's routes did not form within 15 s")
            }
            usleep(50_000)
        }
        while jetStream, !servers.contains(where: { $0.log.contains("JetStream cluster new metadata leader") }) {
            guard Date() < deadline.addingTimeInterval(15) else {
                throw NATSServerError(.notStarted, "JetStream's meta group elected no leader within 30 s")
            }
            usleep(50_000)
        }
    }

    /// `--upstream` for a Warden: the three servers.
    var upstream: String { self.clientPorts.map { "tls://127.0.0.1:\($0)" }.joined(separator: ",") }

    /// Puts server `index` into lame duck mode (SIGUSR2, as `nats-server --signal ldm`).
    func lameDuck(_ index: Int) {
        kill(self.servers[index].processIdentifier, SIGUSR2)
    }

    func stop() {
        for server in self.servers { server.stop() }
    }
}
